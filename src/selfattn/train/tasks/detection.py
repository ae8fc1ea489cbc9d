"""Object detection with DETR on Fashion-MNIST canvases (``selfattn train detr``).

Data: ``selfattn.data.canvas``: 64x64 canvases with 1-6 Fashion-MNIST items at random
scales and positions. Training canvases are drawn from the first 55,000 training images
(fresh canvases every epoch with ``data.fresh: true``: seed ``seed + epoch``), validation
canvases from the last 5,000, test canvases from the 10,000 test images (all seeded by
``data.split_seed``). Model: ``selfattn.nn.DETR`` (``model.width``, ``depth`` encoder
layers, ``decoder_depth``, ``heads``, ``ff``, ``dropout``; ``data.queries`` object queries).
Loss: ``selfattn.nn.detr.detr_loss``. Metrics: COCO mAP@[.5:.95] and mAP@0.5
(``detection_metrics``), every query's prediction kept (no NMS); the best validation
mAP@0.5 picks the weights that are tested.

DETR's loss is a set loss over a whole image, not a per-example one, so the task runs its
own small loop (``fit``) instead of the trainer's ``TaskModule``; it writes the same run
files: ``config.yaml``, ``metrics.csv``/``metrics.json`` per epoch, ``model.safetensors``
(best validation weights) and ``results.json``, plus ``predictions.png`` (test canvases with
predicted boxes).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from .base import Task

__all__ = ["DetectionTask", "DetrPredictor", "canvas_targets", "predictions", "read_images"]


def canvas_targets(boxes: list[torch.Tensor], labels: list[torch.Tensor], size: int) -> list[dict]:
    """Pixel xyxy boxes -> DETR targets: cxcywh in ``[0, 1]`` of the canvas ``size``."""
    from ...nn.boxes import xyxy_to_cxcywh

    return [{"boxes": xyxy_to_cxcywh(b / size), "labels": c} for b, c in zip(boxes, labels, strict=True)]


@torch.no_grad()
def predictions(out: dict, size: int) -> list[dict]:
    """DETR outputs -> per image every query's box (xyxy pixels), best real class and its
    probability as the score (no NMS)."""
    from ...nn.boxes import cxcywh_to_xyxy

    prob = out["logits"].softmax(-1)[..., :-1]
    scores, labels = prob.max(-1)
    boxes = cxcywh_to_xyxy(out["boxes"]).clamp(0, 1) * size
    return [{"boxes": b, "scores": s, "labels": c} for b, s, c in zip(boxes, scores, labels, strict=True)]


class DetectionTask(Task):
    data_format = ("A folder of Fashion-MNIST-style IDX files (train-images-idx3-ubyte.gz, ...), whose items "
                   "are placed on generated canvases.")
    name = "detr"
    kind = "set"
    # the trainer / optim / model keys its own loop (fit, build_model) reads; config refuses any
    # other key of those sections changed from its default instead of ignoring it
    loop_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "trainer": ("max_epochs", "batch_size", "max_time_s", "gradient_clip_val"),
        "optim": ("lr", "warmup_steps", "weight_decay"),
        "model": ("width", "depth", "decoder_depth", "heads", "ff", "dropout"),
    }
    modality = "images"
    patterns = ("none",)
    model_kinds = ("transformer",)
    data_defaults: ClassVar[dict[str, Any]] = {
        "path": None, "size": 64, "min_objects": 1, "max_objects": 6, "min_side": 16, "max_side": 32,
        "max_iou": 0.2, "max_cover": 0.3, "train": 8000, "validation": 500, "test": 1000, "fresh": True,
        "split_seed": 0,
        "queries": 10, "backbone": [32, 64, 128], "eos_weight": 0.1, "w_class": 1.0, "w_l1": 5.0,
        "w_giou": 2.0}
    model_defaults: ClassVar[dict[str, Any]] = {"width": 128, "depth": 2, "decoder_depth": 2, "heads": 4,
                                                "ff": 256, "dropout": 0.1}
    unit = "box"

    def monitor(self, spec: dict) -> tuple[str, str]:
        return "val_map_50", "max"

    def predictor(self, folder: str | Path) -> DetrPredictor:
        """What ``selfattn predict RUN IMAGE`` uses for a detr run (``DetrPredictor``)."""
        return DetrPredictor(folder)

    def check_data(self, d: dict) -> None:
        if not 1 <= int(d["min_objects"]) <= int(d["max_objects"]) <= int(d["queries"]):
            raise ConfigError(f"data.min_objects, data.max_objects, data.queries: expected 1 <= min <= max "
                              f"<= queries, got {d['min_objects']}, {d['max_objects']}, {d['queries']}")
        for key in ("train", "validation", "test"):
            if int(d[key]) < 1:
                raise ConfigError(f"data.{key}: expected a positive number of canvases, got {d[key]!r}")

    def canvases(self, d: dict, split: str, seed: int):
        from ...data.canvas import fashion_mnist_arrays, make_canvases

        source = "test" if split == "test" else "train"
        images, labels = fashion_mnist_arrays(source, d["path"])
        if split != "test":  # items of the last 5,000 training images are for validation only
            cut = len(images) - min(5000, len(images) // 10)
            part = slice(None, cut) if split == "train" else slice(cut, None)
            images, labels = images[part], labels[part]
        count = int(d[split])
        return make_canvases(images, labels, count, d["size"], d["min_objects"], d["max_objects"],
                             d["min_side"], d["max_side"], d["max_iou"], d["max_cover"], seed=seed)

    def build_model(self, cfg: dict):
        from ...nn.detr import DETR

        m, d = cfg["model"], cfg["data"]
        return DETR(10, m["width"], m["heads"], m["depth"], m["decoder_depth"], m["ff"] or 2 * m["width"],
                    int(d["queries"]), float(m["dropout"]), tuple(d["backbone"]))

    def evaluate(self, model, data, cfg: dict, batch: int = 100) -> dict[str, float]:
        from .detection_metrics import mean_average_precision

        model.eval()
        preds = []
        for i in range(0, len(data), batch):
            preds += predictions(model(data.images[i:i + batch]), cfg["data"]["size"])
        model.train()
        return mean_average_precision(preds, [{"boxes": b, "labels": c} for b, c in zip(
            data.boxes, data.labels, strict=True)], 10)

    def fit(self, cfg: dict, folder: Path, log=print) -> dict:
        """Train, validate each epoch, test the best weights; returns the results dict."""
        from ...nn.detr import detr_loss
        from ..callbacks import atomic_write_text
        from ..checkpoint import save_weights

        started = time.perf_counter()
        d, o, t = cfg["data"], cfg["optim"], cfg["trainer"]
        seed, split_seed = int(cfg["seed"]), int(d["split_seed"])
        torch.manual_seed(seed)
        val = self.canvases(d, "validation", split_seed + 1_000_000)
        test = self.canvases(d, "test", split_seed + 2_000_000)
        train = self.canvases(d, "train", split_seed)
        log(f"data: {len(train)} train / {len(val)} validation / {len(test)} test canvases "
            f"({time.perf_counter() - started:.1f} s)")
        model = self.build_model(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]))
        bs, epochs = int(t["batch_size"] or 32), int(t["max_epochs"])
        steps_per_epoch = -(-len(train) // bs)
        total = steps_per_epoch * epochs
        warm = int(o["warmup_steps"])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, warm)) * (
            0.1 if s > 0.8 * total else 1.0))  # DETR's step decay, at 80% of the steps
        weights = {"eos_weight": float(d["eos_weight"]), "w_class": float(d["w_class"]),
                   "w_l1": float(d["w_l1"]), "w_giou": float(d["w_giou"])}
        rows, best, best_state, step = [], -1.0, None, 0
        limit = t["max_time_s"]
        g = torch.Generator().manual_seed(seed)
        for epoch in range(epochs):
            if epoch and d["fresh"]:
                train = self.canvases(d, "train", split_seed + epoch)
            order = torch.randperm(len(train), generator=g)
            sums = {"total": 0.0, "class": 0.0, "l1": 0.0, "giou": 0.0}
            model.train()
            for i in range(0, len(train), bs):
                idx = order[i:i + bs].tolist()
                targets = canvas_targets([train.boxes[j] for j in idx], [train.labels[j] for j in idx],
                                         d["size"])
                loss = detr_loss(model(train.images[idx]), targets, **weights)
                opt.zero_grad(set_to_none=True)
                loss["total"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(t["gradient_clip_val"]))
                opt.step()
                sched.step()
                step += 1
                for k in sums:
                    sums[k] += loss[k].item() * len(idx)
            metrics = self.evaluate(model, val, cfg)
            row = {"epoch": epoch, "step": step, "wall_s": round(time.perf_counter() - started, 1),
                   **{f"train_{k}": round(v / len(train), 5) for k, v in sums.items()},
                   **{f"val_{k}": round(v, 4) for k, v in metrics.items()}}
            rows.append(row)
            log(" ".join(f"{k}={v}" for k, v in row.items()))
            if metrics["map_50"] > best:
                best, best_state = metrics["map_50"], {k: v.clone() for k, v in model.state_dict().items()}
            with open(folder / "metrics.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
            atomic_write_text(folder / "metrics.json", json.dumps(rows, indent=1))
            if limit and time.perf_counter() - started > float(limit):
                log(f"trainer.max_time_s={limit} reached after epoch {epoch}")
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        import yaml

        save_weights(model.state_dict(), folder / "model.safetensors",
                     {"config": yaml.safe_dump(cfg, sort_keys=False)})
        test_metrics = self.evaluate(model, test, cfg)
        results = {f"test_{k}": v for k, v in test_metrics.items()}
        results.update({"task": cfg["task"], "preset": cfg["preset"], "unit": self.unit, "seed": seed,
                        "run_dir": str(folder), "monitor": "val_map_50", "best_val": best,
                        "epochs": len(rows),
                        "steps": step, "wall_s": round(time.perf_counter() - started, 1),
                        "parameters": sum(p.numel() for p in model.parameters()),
                        "data": {"sizes": [len(train), len(val), len(test)]},
                        "torch_threads": torch.get_num_threads()})
        if cfg["run"]["plots"]:
            shown = test.subset(range(min(8, len(test))))
            results["plots"] = {
                "predictions": str(draw_predictions(model, shown, d["size"], folder / "predictions.png")),
                "query_attention": str(draw_query_attention(model, shown.subset([0]), d["size"],
                                                            folder / "query_attention.png"))}
        atomic_write_text(folder / "results.json", json.dumps(results, indent=1, default=str))
        return results


def draw_predictions(model, data, size: int, path: Path, min_score: float = 0.5) -> Path:
    """Canvases with true boxes (green) and predicted boxes scoring >= ``min_score`` (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ...data.images import FASHION_MNIST_CLASSES

    model.eval()
    with torch.no_grad():
        preds = predictions(model(data.images), size)
    n = len(data)
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.4), squeeze=False)
    for ax, image, truth, p in zip(axes[0], data.images, data.boxes, preds, strict=True):
        ax.imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
        for b in truth.tolist():
            ax.add_patch(plt.Rectangle((b[0] - .5, b[1] - .5), b[2] - b[0], b[3] - b[1], fill=False,
                                       color="lime"))
        for b, s, c in zip(p["boxes"].tolist(), p["scores"].tolist(), p["labels"].tolist(), strict=True):
            if s >= min_score:
                ax.add_patch(plt.Rectangle((b[0] - .5, b[1] - .5), b[2] - b[0], b[3] - b[1], fill=False,
                                           color="red"))
                ax.text(float(b[0]), float(b[1]) - 1, f"{FASHION_MNIST_CLASSES[int(c)]} {float(s):.2f}",
                        color="red", fontsize=5, parse_math=False)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def draw_query_attention(model, data, size: int, path: Path, min_score: float = 0.5) -> Path:
    """For the first canvas: each confident query's box and its last-layer cross-attention over
    the image's feature map (mean over heads), drawn over the canvas."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch.nn.functional as F

    from ...data.images import FASHION_MNIST_CLASSES

    model.eval()
    with torch.no_grad():
        out = model(data.images[:1], return_weights=True)
    pred = predictions(out, size)[0]
    h, w = out["grid"]
    maps = out["cross_weights"][0].mean(0).reshape(-1, 1, h, w)               # (N, 1, h, w)
    maps = F.interpolate(maps, size=(size, size), mode="nearest")[:, 0]
    keep = [q for q in pred["scores"].argsort(descending=True).tolist() if pred["scores"][q] >= min_score]
    keep = keep or pred["scores"].argsort(descending=True)[:1].tolist()
    fig, axes = plt.subplots(1, len(keep) + 1, figsize=(2.2 * (len(keep) + 1), 2.4), squeeze=False)
    axes[0, 0].imshow(data.images[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0, 0].set_title("canvas", fontsize=7)
    for ax, q in zip(axes[0, 1:], keep, strict=True):
        b = pred["boxes"][q].tolist()
        ax.imshow(data.images[0, 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.imshow(maps[q].numpy(), cmap="magma", alpha=0.6)
        ax.add_patch(plt.Rectangle((b[0] - .5, b[1] - .5), b[2] - b[0], b[3] - b[1], fill=False,
                                   color="cyan"))
        ax.set_title(f"query {q}: {FASHION_MNIST_CLASSES[int(pred['labels'][q])]} "
                     f"{float(pred['scores'][q]):.2f}", fontsize=6, parse_math=False)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def predict_images(folder: str | Path, images, out: str | Path | None = None, min_score: float = 0.5,
                   attention_out: str | Path | None = None) -> list[dict]:
    """A trained ``detr`` run's boxes on ``(N, S, S)`` grey images with values 0..255 (an array or
    a ``.npy`` file; ``S`` = the run's ``data.size``): per image ``boxes`` (xyxy pixels),
    ``scores`` and ``labels`` of the queries scoring at least ``min_score``. With ``out``,
    the images are drawn with their boxes into that PNG; with ``attention_out``, the first
    image's confident queries and their cross-attention over it (``draw_query_attention``)."""
    import numpy as np
    import yaml

    from ...data.canvas import Canvases
    from ..checkpoint import load_weights, weights_metadata

    # the config the weights were trained with travels inside them (selfattn.train.loading)
    cfg = yaml.safe_load(weights_metadata(Path(folder) / "model.safetensors")["config"])
    size = int(cfg["data"]["size"])
    array = np.load(images, allow_pickle=False) if isinstance(images, (str, Path)) else np.asarray(images)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[1:] != (size, size):
        raise ValueError(f"images: expected (count, {size}, {size}) grey images (the run's data.size), got "
                         f"shape {array.shape}")
    model = DetectionTask().build_model(cfg)
    model.load_state_dict(load_weights(Path(folder) / "model.safetensors"))
    model.eval()
    x = torch.as_tensor(array, dtype=torch.float32)[:, None] / 255.0
    with torch.no_grad():
        found = predictions(model(x), size)
    kept = [{k: v[p["scores"] >= min_score] for k, v in p.items()} for p in found]
    if out is not None:
        empty = [torch.zeros(0, 4)] * len(x)
        draw_predictions(model, Canvases(x, empty, [torch.zeros(0, dtype=torch.long)] * len(x), ()), size,
                         Path(out), min_score)
    if attention_out is not None:
        draw_query_attention(model, Canvases(x[:1], [torch.zeros(0, 4)], [torch.zeros(0, dtype=torch.long)],
                                             ()), size, Path(attention_out), min_score)
    return kept



def read_images(path: Path, size: int):
    """``(images (N, size, size) float 0..255, originals' (height, width) per image)`` of a PNG/JPEG
    (made grey; resized to ``size`` if it differs) or a ``.npy`` array ``(N, H, W)`` / ``(H, W)``."""
    import numpy as np

    if path.suffix.lower() == ".npy":
        array = np.load(path, allow_pickle=False)
        array = array[None] if array.ndim == 2 else array
        if array.ndim != 3:
            raise ValueError(f"{path}: expected an array (count, height, width) of grey images, got shape "
                             f"{array.shape}")
        shapes = [array.shape[1:]] * len(array)
        if array.shape[1:] != (size, size):
            raise ValueError(f"{path}: expected (count, {size}, {size}) grey images (the run's data.size), "
                             f"got shape {array.shape}")
        return array.astype(np.float32), shapes
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            grey = image.convert("L")
    except UnidentifiedImageError:
        raise ValueError(f"{path}: expected an image file (PNG, JPEG) or a .npy array, got neither") from None
    shape = (grey.height, grey.width)
    if shape != (size, size):  # the model saw size x size canvases; boxes are scaled back below
        grey = grey.resize((size, size), Image.BILINEAR)
    return np.asarray(grey, dtype=np.float32)[None], [shape]


class DetrPredictor:
    """``selfattn predict RUN image.png`` for a ``detr`` run: a :class:`~selfattn.train.predictor.
    Prediction` per image (``labels``, ``score`` and ``input`` = the boxes ``[x0, y0, x1, y1]`` in
    the image's pixels, each query scoring at least ``min_score``); the image is drawn with its
    boxes into ``RUN/predict/<name>.boxes.png``, and its (first image's) confident queries'
    attention over it into ``RUN/predict/<name>.attention.png``."""

    def __init__(self, folder: str | Path, min_score: float = 0.5) -> None:
        self.folder, self.min_score = Path(folder), float(min_score)

    def predict_file(self, path, top_k: int = 1, skip_bad: bool = False, on_skip=None,
                     shown_as: str | None = None) -> list:
        import yaml

        from ...data.images import FASHION_MNIST_CLASSES
        from ..checkpoint import weights_metadata
        from ..prediction import Prediction

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"INPUT: expected an image to predict on, got {shown_as or path} "
                                    "(missing)")
        cfg = yaml.safe_load(weights_metadata(self.folder / "model.safetensors")["config"])
        size = int(cfg["data"]["size"])
        images, shapes = read_images(path, size)
        out_dir = self.folder / "predict"
        out_dir.mkdir(exist_ok=True)
        drawn = out_dir / f"{path.stem}.boxes.png"
        found = predict_images(self.folder, images, drawn, self.min_score,
                               attention_out=out_dir / f"{path.stem}.attention.png")
        name = shown_as or str(path)
        results = []
        for i, (p, (h, w)) in enumerate(zip(found, shapes, strict=True)):
            scale = torch.tensor([w / size, h / size, w / size, h / size])
            boxes = [[round(float(v), 1) for v in b] for b in (p["boxes"] * scale).tolist()]
            labels = [FASHION_MNIST_CLASSES[int(c)] for c in p["labels"]]
            scores = [round(float(s), 4) for s in p["scores"]]
            source = name if len(found) == 1 else f"{name}[{i}]"
            shown = "; ".join(f"{c} {s:.2f} [{' '.join(f'{v:g}' for v in b)}]"
                              for c, s, b in zip(labels, scores, boxes, strict=True))
            results.append(Prediction(source, boxes, labels=labels, score=scores,
                                      top=[[(c, s)] for c, s in zip(labels, scores, strict=True)],
                                      line=f"{source}\t{len(boxes)} boxes: {shown or '-'}\t(drawn: {drawn})"))
        return results
