"""Plots of a run: learning curves, and attention maps of a few examples.

An attention map is the lecture's matrix of weights ``alpha'_{i,j}`` [21]: row ``i`` is
one query (output vector ``b_i``), column ``j`` one key, each row summing to 1 over the
keys it may see. ``attention_figure`` draws one panel per (layer, head) for one set.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

__all__ = ["attention_figure", "learning_curves"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curves(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Loss (train and validation) and every other validation metric per epoch -> PNG."""
    if not rows:
        return None
    plt = _pyplot()
    metrics = sorted({k for r in rows for k in r if k.startswith("val_") and k != "val_loss"})
    fig, axes = plt.subplots(1, 1 + bool(metrics), figsize=(5 + 5 * bool(metrics), 3.6), squeeze=False)
    epochs = [r["epoch"] + 1 for r in rows]
    for key, style in (("train_loss", "-o"), ("val_loss", "-s")):
        pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if r.get(key) is not None]
        if pts:
            axes[0, 0].plot(*zip(*pts, strict=True), style, ms=3, label=key)
    axes[0, 0].set(xlabel="epoch", ylabel="loss", title=title or "loss")
    axes[0, 0].legend()
    if metrics:
        for key in metrics:
            pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if r.get(key) is not None]
            if pts:
                axes[0, 1].plot(*zip(*pts, strict=True), "-o", ms=3, label=key)
        axes[0, 1].set(xlabel="epoch", title="validation")
        axes[0, 1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def attention_figure(weights: Sequence[torch.Tensor], path: Path, tokens: Sequence[str] | None = None,
                     title: str = "", max_heads: int = 8) -> Path:
    """``weights``: one ``(H, n, n)`` tensor per layer for one set -> a layers x heads grid."""
    plt = _pyplot()
    layers = len(weights)
    heads = min(max(w.shape[0] for w in weights), max_heads)
    n = weights[0].shape[-1]
    size = 2.2 if n <= 40 else 2.8
    fig, axes = plt.subplots(layers, heads, figsize=(size * heads + 0.6, size * layers + 0.6), squeeze=False)
    show_ticks = tokens is not None and n <= 40
    for li, w in enumerate(weights):
        for h in range(heads):
            ax = axes[li, h]
            if h >= w.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(w[h].float().cpu().numpy(), cmap="viridis", vmin=0.0, aspect="auto",
                      interpolation="nearest")
            ax.set_title(f"layer {li + 1} head {h + 1}", fontsize=7)
            if show_ticks:
                ax.set_xticks(range(n), list(tokens), rotation=90, fontsize=5)
                ax.set_yticks(range(n), list(tokens), fontsize=5)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
