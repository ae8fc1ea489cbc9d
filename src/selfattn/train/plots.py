"""Plots of a run: learning curves, and attention maps of a few examples.

``learning_curves_figure(rows)``: the loss (train and validation) and every other
validation metric against the epoch, one point per epoch recorded in ``metrics.csv``;
the epoch axis ticks at whole epochs only (a run of one epoch has one tick, "1", not
0.96 ... 1.04). ``learning_curves(rows, path)`` writes it as a PNG.

An attention map is the lecture's matrix of weights ``alpha'_{i,j}`` [21]: row ``i`` is
one query (output vector ``b_i``), column ``j`` one key, each row summing to 1 over the
keys it may see. ``attention_figure`` draws one panel per (layer, head) for one set, with
``selfattn.viz.maps`` (a pure drawing module: it imports nothing from ``train``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["attention_figure", "learning_curves", "learning_curves_figure"]

_TICK_FONT = 9


def learning_curves_figure(rows: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Loss (train and validation) and every other validation metric per epoch -> Figure.

    ``rows``: one dict per epoch with ``epoch`` (from 0) and the logged values; epochs are
    drawn from 1. Each Axes' x axis ticks at whole epochs.
    """
    metrics = sorted({k for r in rows for k in r if k.startswith("val_") and k != "val_loss"})
    fig = Figure(figsize=(5 + 5 * bool(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, 1 + bool(metrics), squeeze=False)[0]
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for key, style in (("train_loss", "-o"), ("val_loss", "-s")):
        pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if r.get(key) is not None]
        if pts:
            axes[0].plot(*zip(*pts, strict=True), style, ms=3, label=key)
    axes[0].set(ylabel="loss", title=title or "loss")
    if metrics:
        for key in metrics:
            pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if r.get(key) is not None]
            if pts:
                axes[1].plot(*zip(*pts, strict=True), "-o", ms=3, label=key)
        axes[1].set(title="validation")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if epochs:
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.tick_params(labelsize=_TICK_FONT)
        if ax.get_lines():
            ax.legend(fontsize=_TICK_FONT)
    return fig


def learning_curves(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """:func:`learning_curves_figure` -> PNG at ``path`` (None when there are no rows)."""
    if not rows:
        return None
    learning_curves_figure(rows, title).savefig(path, dpi=110)
    return path


def attention_figure(weights: Sequence[torch.Tensor], path: Path, tokens: Sequence[str] | None = None,
                     title: str = "", max_heads: int = 8, predicted: Sequence[str] | str | None = None,
                     truth: Sequence[str | None] | str | None = None) -> Path:
    """``weights``: one ``(H, n, n)`` tensor per layer for one set -> a layers x heads grid (PNG).

    ``predicted`` / ``truth``: the model's and the true label of each vector (or of the set).
    The drawing is ``selfattn.viz.maps.attention_heatmaps`` (also behind ``selfattn viz attention``).
    """
    from ..viz.maps import attention_heatmaps

    attention_heatmaps(weights, tokens, title=title, max_heads=max_heads, predicted=predicted, truth=truth,
                       path=path)
    return Path(path)
