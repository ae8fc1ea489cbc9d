"""With little data a CNN wins; with more, self-attention catches up (the lecture [37], ViT).

The lecture: a CNN is self-attention restricted to a fixed receptive field, so it is the
less flexible model; the more flexible one needs more data, and the Vision Transformer
paper's curve shows ResNets ahead on small training sets and self-attention overtaking
them as the set grows. Here, on Fashion-MNIST, both models read the same vector set: each
28x28 image as 49 patches of 4x4 pixels (16-vectors) on a 7x7 grid, projected to the same
width. They differ only in how the vectors are mixed:

* ``cnn`` (``model.kind=cnn2d``): 3x3 convolutions over the patch grid (a fixed
  receptive field), mean pooled;
* ``attention`` (``model.kind=transformer``, ViT-like): pre-norm self-attention layers
  with learned positions, mean pooled;

with about the same number of parameters (the ratio is in the JSON). Each model trains on
nested, class-balanced subsets of the 60,000 training images for the same number of steps
(a fixed compute budget per size: the smallest sets are seen many times, the largest about
once at small scale), and is scored on a fixed class-balanced test subset. The models come
from ``selfattn.nn.model.build_model`` with the preset's config; the loop is a plain one
(Lightning's per-epoch validation and checkpoints would cost more than the training at the
small sizes). ``train_overrides`` in the JSON is the ``selfattn train fashion-mnist``
command line whose model is the one built here (a test checks they agree).
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..bench.results import save_results
from ._runs import Stopwatch, check_scale, run_record, torch_threads

__all__ = ["MODELS", "SCALES", "crossing", "nested_balanced_order", "run", "train_overrides"]

NAME = "cnn-vs-attention"

# The model configs (``selfattn.train`` model sections; every key the kind reads is given).
MODELS: dict[str, dict[str, Any]] = {
    "cnn": {"kind": "cnn2d", "width": 48, "depth": 4, "conv_kernel": 3, "dropout": 0.1, "pooling": "mean",
            "head_hidden": 0},
    "attention": {"kind": "transformer", "width": 48, "depth": 4, "heads": 4, "ff": 96, "dropout": 0.1,
                  "norm": "pre", "attention": "full", "attention_options": {}, "positional": "learned",
                  "positional_options": {"max_len": 49}, "pattern": "none", "pooling": "mean",
                  "head_hidden": 0},
}
DATA = {"vectors": "patches", "patch": 4}
# Parameter counts of the two models must stay within this ratio (checked, and tested).
MAX_PARAMETER_RATIO = 1.25

SCALES: dict[str, dict[str, Any]] = {
    "tiny": {"sizes": (30, 60, 120), "steps": 25, "batch": 16, "test": 60, "seeds": 1},
    "small": {"sizes": (1000, 3000, 10000, 30000, 60000), "steps": 1000, "batch": 64, "test": 2000,
              "seeds": 1},
    "full": {"sizes": (1000, 3000, 10000, 30000, 60000), "steps": 4000, "batch": 64, "test": 10000,
             "seeds": 3},
}
LR, WEIGHT_DECAY, CLIP = 2e-3, 0.01, 1.0


def nested_balanced_order(labels: torch.Tensor, seed: int) -> torch.Tensor:
    """A permutation of ``range(len(labels))`` in rounds of one example per class (classes in
    a random order each round), so every prefix of ``k * classes`` examples holds exactly
    ``k`` of each class and every smaller subset is a prefix of the larger ones. Examples
    beyond the rarest class's count come last, shuffled."""
    if labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"labels: expected a non-empty 1-D tensor, got shape {tuple(labels.shape)}")
    g = torch.Generator().manual_seed(seed)
    classes = labels.unique()
    per = [torch.nonzero(labels == c).flatten() for c in classes]
    per = [p[torch.randperm(len(p), generator=g)] for p in per]
    rounds = min(len(p) for p in per)
    table = torch.stack([p[:rounds] for p in per])                      # (C, rounds)
    shuffle = torch.argsort(torch.rand(rounds, len(per), generator=g), 1)  # class order per round
    order = table[shuffle, torch.arange(rounds)[:, None]].flatten()
    rest = torch.cat([p[rounds:] for p in per])
    return torch.cat([order, rest[torch.randperm(len(rest), generator=g)]])


def crossing(sizes: list[int], cnn: list[float], attn: list[float]) -> dict[str, Any]:
    """Where ``attn - cnn`` changes sign between two sizes; the size where it would be zero is
    interpolated linearly in log(size)."""
    gap = [a - c for a, c in zip(attn, cnn, strict=True)]
    crossings = []
    for i in range(len(sizes) - 1):
        if (gap[i] < 0) != (gap[i + 1] < 0):
            t = gap[i] / (gap[i] - gap[i + 1])
            at = math.exp(math.log(sizes[i]) + t * (math.log(sizes[i + 1]) - math.log(sizes[i])))
            crossings.append({"between": [sizes[i], sizes[i + 1]], "estimate": round(at),
                              "direction": "attention overtakes" if gap[i + 1] > gap[i] else "cnn overtakes"})
    return {"gap_attention_minus_cnn": [round(g, 4) for g in gap], "crosses": bool(crossings),
            "crossings": crossings}


def _data(scale: str, data_path: str | Path | None, seed: int) -> dict[str, Any]:
    from ..data import load_fashion_mnist

    train = load_fashion_mnist("train", "patches", 4, data_path)
    test = load_fashion_mnist("test", "patches", 4, data_path)
    x = torch.stack([e.x for e in train.examples])
    y = torch.stack([e.y for e in train.examples]).long()
    tx = torch.stack([e.x for e in test.examples])
    ty = torch.stack([e.y for e in test.examples]).long()
    n_test = min(SCALES[scale]["test"], len(ty))
    keep = nested_balanced_order(ty, 0)[:n_test]  # the same test images for every seed
    return {"x": x, "y": y, "order": nested_balanced_order(y, seed), "test_x": tx[keep], "test_y": ty[keep],
            "grid": list(train.examples[0].grid), "classes": len(train.info["classes"]),
            "source": str(data_path or "selfattn.data fashion-mnist (Debian dataset-fashion-mnist)")}


def train_overrides(name: str) -> list[str]:
    """``selfattn train fashion-mnist`` overrides that build model ``name`` on the same vectors."""
    data = [f"data.{k}={v}" for k, v in DATA.items()]
    model = [f"model.{k}={json.dumps(v) if isinstance(v, dict) else v}" for k, v in MODELS[name].items()]
    return [*data, *model]


def _build(cfg: dict, x: torch.Tensor, classes: int, grid: list[int]) -> torch.nn.Module:
    from ..nn.model import build_model

    spec = {"task": "set", "target": "class", "outputs": classes,
            "input": {"kind": "features", "dim": x.shape[-1]}, "max_len": x.shape[1], "grid": grid}
    model = build_model(cfg, spec)
    flat = x.reshape(-1, x.shape[-1])
    with torch.no_grad():  # the task's feature standardisation, from this training subset
        model.embed.mean.copy_(flat.mean(0))
        model.embed.std.copy_(flat.std(0).clamp_min(1e-4))
    return model


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, grid: list[int]) -> float:
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(0, len(y), 500):
            xb = x[i:i + 500]
            grids = torch.tensor([grid] * len(xb))
            right += int((model(xb, grids=grids).argmax(-1) == y[i:i + 500]).sum())
    return right / max(len(y), 1)


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, grid: list[int], steps: int, batch: int,
           seed: int) -> float:
    warmup = max(steps // 10, 1)

    def factor(step: int) -> float:  # linear warm-up, then cosine decay to 5% (the trainer's schedule)
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    g = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(len(y), generator=g), 0
    grids = torch.tensor([grid] * batch)
    model.train()
    started = time.perf_counter()
    for _ in range(steps):
        if pos + batch > len(perm):  # a new epoch over the subset
            perm, pos = torch.randperm(len(y), generator=g), 0
        idx = perm[pos:pos + batch]
        pos += batch
        loss = F.cross_entropy(model(x[idx], grids=grids[: len(idx)]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        sched.step()
    return time.perf_counter() - started


def run(out_dir: str | Path = f"runs/experiments/{NAME}", scale: str = "small", seed: int = 0, *,
        data_path: str | Path | None = None, threads: int = 1) -> dict:
    """Test accuracy of the CNN and the attention model against the training-set size.

    ``scale``: ``tiny`` (tests), ``small`` (all five sizes, 1,000 steps, 2,000 test images,
    one seed) or ``full`` (4,000 steps, the 10,000 test images, three seeds).
    ``data_path``: a folder of Fashion-MNIST IDX files (default: the cached data set).
    Writes ``results.json`` and ``figure.png`` into ``out_dir``.
    """
    check_scale(scale, list(SCALES))
    clock = Stopwatch()
    s = SCALES[scale]
    with torch_threads(threads):
        data = _data(scale, data_path, seed)
        sizes = [n for n in s["sizes"] if n <= len(data["y"])]
        configs = MODELS
        seeds = [seed + i for i in range(s["seeds"])]
        params = {name: sum(p.numel() for p in _build(cfg, data["x"][:2], data["classes"], data["grid"])
                            .parameters()) for name, cfg in configs.items()}
        ratio = max(params.values()) / min(params.values())
        if ratio > MAX_PARAMETER_RATIO:
            raise ValueError(f"MODELS: expected parameter counts within {MAX_PARAMETER_RATIO}x, "
                             f"got {params}")
        rows = []
        for n in sizes:
            idx = data["order"][:n]
            x, y = data["x"][idx], data["y"][idx]
            counts = torch.bincount(y, minlength=data["classes"]).tolist()
            row: dict[str, Any] = {"size": n, "class_counts": counts,
                                   "epochs_seen": round(s["steps"] * s["batch"] / n, 2)}
            for name, cfg in configs.items():
                accs, train_accs, secs = [], [], []
                for sd in seeds:
                    torch.manual_seed(sd)
                    model = _build(cfg, x, data["classes"], data["grid"])
                    secs.append(round(_train(model, x, y, data["grid"], s["steps"], s["batch"], sd), 1))
                    accs.append(_accuracy(model, data["test_x"], data["test_y"], data["grid"]))
                    train_accs.append(_accuracy(model, x[:2000], y[:2000], data["grid"]))
                row[name] = {"test_acc": accs, "mean_test_acc": sum(accs) / len(accs),
                             "train_acc": train_accs, "train_s": secs}
                print(f"[{NAME}] n={n} {name}: test acc {row[name]['mean_test_acc']:.4f} "
                      f"({sum(secs):.0f} s)", file=sys.stderr)
            rows.append(row)
        result = {
            "experiment": NAME,
            "claim": "with little training data the CNN is more accurate; with more data self-attention "
                     "catches up or overtakes it (ViT vs ResNet)",
            "setup": {
                "data": data["source"], "vectors": "4x4 patches: 49 vectors of 16 values on a 7x7 grid",
                "sizes": sizes,
                "sizes_note": "all five sizes at every scale" if sizes == list(SCALES["full"]["sizes"])
                else "fewer sizes than the full 1k-60k range",
                "subsets": "nested prefixes of one class-balanced order (seeded by --seed)",
                "test_images": len(data["test_y"]), "augmentation": "none",
                "test_class_counts": torch.bincount(data["test_y"], minlength=data["classes"]).tolist(),
                "steps_per_size": s["steps"], "batch": s["batch"],
                "budget": "the same number of steps for every size (fixed compute); scored after the "
                          "last step",
                "optimizer": {"name": "AdamW", "lr": LR, "weight_decay": WEIGHT_DECAY,
                              "warmup": "10% of steps", "schedule": "cosine to 5%", "grad_clip": CLIP},
                "seeds": seeds},
            "models": {name: {"config": MODELS[name], "parameters": params[name],
                              "train_overrides": ["fashion-mnist", *train_overrides(name)]}
                       for name in configs},
            "parameter_ratio": round(ratio, 3), "max_parameter_ratio": MAX_PARAMETER_RATIO,
            "results": rows,
            "crossing": crossing(sizes, [r["cnn"]["mean_test_acc"] for r in rows],
                                 [r["attention"]["mean_test_acc"] for r in rows]),
        }
        result["run"] = run_record(NAME, out_dir, scale, seed, clock)
    return save_results(result, out_dir, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["results"]
    sizes = [r["size"] for r in rows]
    fig, (ax, gx) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, colour, label in (("cnn", "tab:orange", "CNN (3x3 conv over the patch grid)"),
                                ("attention", "tab:blue", "self-attention (ViT-like)")):
        means = [r[name]["mean_test_acc"] for r in rows]
        params = result["models"][name]["parameters"]
        ax.plot(sizes, means, "o-", color=colour, label=f"{label}, {params:,} params")
        for r in rows:
            ax.plot([r["size"]] * len(r[name]["test_acc"]), r[name]["test_acc"], ".", color=colour, alpha=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("training images (nested, class-balanced)")
    ax.set_ylabel(f"test accuracy ({result['setup']['test_images']} images)")
    ax.set_title(f"Fashion-MNIST, {result['setup']['steps_per_size']} steps per size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    gap = [100 * g for g in result["crossing"]["gap_attention_minus_cnn"]]
    gx.bar(range(len(sizes)), gap, color=["tab:blue" if g >= 0 else "tab:orange" for g in gap])
    gx.axhline(0, color="black", lw=0.8)
    gx.set_xticks(range(len(sizes)), [f"{n:,}" for n in sizes])
    gx.set_xlabel("training images")
    gx.set_ylabel("attention - CNN (accuracy points)")
    crosses = result["crossing"]["crossings"]
    gx.set_title("crosses near " + ", ".join(f"{c['estimate']:,}" for c in crosses) if crosses
                 else "the curves do not cross")
    gx.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
