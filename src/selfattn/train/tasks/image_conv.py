"""Fashion-MNIST with a convolutional stem + self-attention, or the same stem + convolutions
(``selfattn train fashion-mnist-conv`` / ``fashion-mnist-cnn``): the lecture's CNN vs
self-attention comparison at the same budget.

Model (``selfattn.nn.conv_attention.ConvAttentionClassifier``): ``model.kind: transformer``
puts ``model.depth`` self-attention layers over the stem's ``7 x 7`` cells (2-D positions:
``model.positional`` ``sinusoidal`` -> DETR's fixed 2-D sines, ``learned`` -> learned row +
column embeddings); ``model.kind: cnn2d`` puts ``depth`` residual conv blocks there instead.
``model.stem``: the stem's channel widths before ``model.width``; ``model.downsample``:
stride-2 convolutions (2: 28 -> 7).

Data: ``(B, 1, 28, 28)`` images scaled to ``[0, 1]`` and standardised; 5,000 training
images held out for validation (``data.split_seed``; ``data.limit`` / ``data.test_limit``
keep the first images only, for quick runs); training batches augmented by
``data.shift`` pixels of random translation and a mirror with probability ``data.flip``
(``selfattn.nn.conv_attention.augment``). The loop is the task's own (``fit``), as for DETR:
whole-batch tensor augmentation instead of per-image vector sets, which on one CPU thread
made an epoch several times faster. Schedule: linear warm-up, cosine to
``optim.min_lr_ratio``. The best validation accuracy picks the weights that are tested.
Run files: ``config.yaml``, ``metrics.csv``/``metrics.json`` per epoch, ``model.safetensors``
(config in its metadata), ``results.json``, ``attention.png`` (a test image and where its
cells attend, transformer only).
"""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import ConfigError
from .base import Task

__all__ = ["ConvImageTask", "load_arrays"]

_MEAN, _STD = 0.2860, 0.3530  # Fashion-MNIST training pixels (scaled to [0, 1])


def load_arrays(split: str, path: str | None = None, limit: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, 1, 28, 28)`` float images in ``[0, 1]`` and ``(N,)`` labels of a Fashion-MNIST split."""
    from ...data.canvas import fashion_mnist_arrays

    images, labels = fashion_mnist_arrays(split, path)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return torch.as_tensor(images).float()[:, None] / 255.0, torch.as_tensor(labels).long()


class ConvImageTask(Task):
    data_format = ("A folder of Fashion-MNIST-style IDX files: train-images-idx3-ubyte.gz, train-labels-"
                   "idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz (gzip or plain).")
    name = "image-conv"
    kind = "set"
    # the trainer / optim / model keys its own loop (fit, build_model) reads; config refuses any
    # other key of those sections changed from its default instead of ignoring it
    loop_keys: ClassVar[dict[str, tuple[str, ...]]] = {
        "trainer": ("max_epochs", "batch_size", "max_time_s", "gradient_clip_val"),
        "optim": ("lr", "warmup_steps", "weight_decay", "min_lr_ratio", "label_smoothing"),
        "model": ("kind", "width", "depth", "heads", "ff", "dropout", "positional", "pattern", "stem",
                  "downsample"),
    }
    modality = "images"
    patterns = ("none", "grid")  # "grid" lets the config check accept model.kind=cnn2d (images)
    model_kinds = ("transformer", "cnn2d")
    data_defaults: ClassVar[dict[str, Any]] = {"path": None, "validation": 5000, "split_seed": 0,
                                               "limit": None, "test_limit": None, "shift": 2, "flip": 0.5}
    model_defaults: ClassVar[dict[str, Any]] = {"stem": [16, 32], "downsample": 2}
    unit = "image"

    def check_data(self, d: dict) -> None:
        if not 0.0 <= float(d["flip"]) <= 1.0:
            raise ConfigError(f"data.flip: expected a probability in [0, 1], got {d['flip']!r}")
        if not isinstance(d["shift"], int) or d["shift"] < 0:
            raise ConfigError(f"data.shift: expected pixels of random translation >= 0, got {d['shift']!r}")

    def build_model(self, cfg: dict):
        from ...nn.conv_attention import ConvAttentionClassifier

        m = cfg["model"]
        if m["pattern"] != "none":
            raise ConfigError(f"model.pattern: expected 'none' (every stem cell attends to every other), "
                              f"got {m['pattern']!r}")
        if m["positional"] not in ("sinusoidal", "learned"):
            raise ConfigError(f"model.positional: expected 'sinusoidal' or 'learned' (2-D), got "
                              f"{m['positional']!r}")
        return ConvAttentionClassifier(
            10, "attention" if m["kind"] == "transformer" else "cnn", int(m["width"]), int(m["depth"]),
            int(m["heads"]), int(m["ff"] or 2 * m["width"]), float(m["dropout"]), tuple(m["stem"]),
            int(m["downsample"]), positional="sine2d" if m["positional"] == "sinusoidal" else "learned2d")

    @staticmethod
    def standardize(x: torch.Tensor) -> torch.Tensor:
        return (x - _MEAN) / _STD

    @torch.no_grad()
    def accuracy(self, model, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
        model.eval()
        right = sum(int((model(self.standardize(x[i:i + batch])).argmax(-1) == y[i:i + batch]).sum())
                    for i in range(0, len(x), batch))
        model.train()
        return right / max(1, len(x))

    def fit(self, cfg: dict, folder: Path, log=print) -> dict:
        from ...nn.conv_attention import augment
        from ..callbacks import atomic_write_text
        from ..checkpoint import save_weights

        started = time.perf_counter()
        d, o, t = cfg["data"], cfg["optim"], cfg["trainer"]
        seed = int(cfg["seed"])
        x_all, y_all = load_arrays("train", d["path"])
        x_test, y_test = load_arrays("test", d["path"], d["test_limit"])
        order = torch.randperm(len(x_all), generator=torch.Generator().manual_seed(int(d["split_seed"])))
        n_val = int(d["validation"])
        val_idx, train_idx = order[:n_val], order[n_val:]
        if d["limit"] is not None:
            train_idx, val_idx = train_idx[:int(d["limit"])], val_idx[:int(d["limit"])]
        x_train, y_train, x_val, y_val = x_all[train_idx], y_all[train_idx], x_all[val_idx], y_all[val_idx]
        log(f"data: {len(x_train)} train / {len(x_val)} validation / {len(x_test)} test images "
            f"({time.perf_counter() - started:.1f} s)")
        torch.manual_seed(seed)
        model = self.build_model(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=float(o["lr"]), weight_decay=float(o["weight_decay"]))
        bs, epochs = int(t["batch_size"] or 128), int(t["max_epochs"])
        total = -(-len(x_train) // bs) * epochs
        warm, floor = int(o["warmup_steps"]), float(o["min_lr_ratio"])

        def lr_at(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            progress = min(1.0, (step - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        g = torch.Generator().manual_seed(seed)
        rows, best, best_state, step, limit = [], -1.0, None, 0, t["max_time_s"]
        smoothing, clip = float(o["label_smoothing"]), t["gradient_clip_val"]
        for epoch in range(epochs):
            perm = torch.randperm(len(x_train), generator=g)
            loss_sum, right = 0.0, 0
            for i in range(0, len(x_train), bs):
                idx = perm[i:i + bs]
                x = self.standardize(augment(x_train[idx], int(d["shift"]), float(d["flip"]), g))
                logits = model(x)
                loss = torch.nn.functional.cross_entropy(logits, y_train[idx], label_smoothing=smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if clip:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), float(clip))
                opt.step()
                sched.step()
                step += 1
                loss_sum += loss.item() * len(idx)
                right += int((logits.argmax(-1) == y_train[idx]).sum())
            val_acc = self.accuracy(model, x_val, y_val)
            row = {"epoch": epoch, "step": step, "wall_s": round(time.perf_counter() - started, 1),
                   "train_loss": round(loss_sum / len(x_train), 5),
                   "train_acc": round(right / len(x_train), 5),
                   "val_acc": round(val_acc, 5), "lr": opt.param_groups[0]["lr"]}
            rows.append(row)
            log(" ".join(f"{k}={v}" for k, v in row.items()))
            if val_acc > best:
                best, best_state = val_acc, {k: v.clone() for k, v in model.state_dict().items()}
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
        test_acc = self.accuracy(model, x_test, y_test)
        results = {"test_acc": test_acc, "task": cfg["task"], "preset": cfg["preset"], "unit": self.unit,
                   "seed": seed, "run_dir": str(folder), "monitor": "val_acc", "best_val": best,
                   "epochs": len(rows), "steps": step, "wall_s": round(time.perf_counter() - started, 1),
                   "parameters": sum(p.numel() for p in model.parameters()),
                   "data": {"sizes": [len(x_train), len(x_val), len(x_test)]},
                   "torch_threads": torch.get_num_threads()}
        if cfg["run"]["plots"] and cfg["model"]["kind"] == "transformer":
            from ...data.images import FASHION_MNIST_CLASSES
            from .image_figures import draw_cell_attention

            results["plots"] = {"attention": str(draw_cell_attention(
                model, self.standardize(x_test[:4]), x_test[:4], folder / "attention.png",
                classes=FASHION_MNIST_CLASSES))}
        atomic_write_text(folder / "results.json", json.dumps(results, indent=1, default=str))
        log(f"test_acc={test_acc:.4f}")
        return results
