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
    """``weights``: one ``(H, n, n)`` tensor per layer for one set -> a layers x heads grid (PNG).

    The drawing is ``selfattn.viz.maps.attention_heatmaps`` (also behind ``selfattn viz attention``).
    """
    from ..viz.maps import attention_heatmaps

    attention_heatmaps(weights, tokens, title=title, max_heads=max_heads, path=path)
    return Path(path)
