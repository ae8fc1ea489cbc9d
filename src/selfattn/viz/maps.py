"""Attention maps as heat maps: one panel per (layer, head), vectors on both axes.

The lecture's matrix of weights ``alpha'_{i,j}`` [21]: row ``i`` is one query (the
output ``b_i``), column ``j`` one key; each row sums to 1 over the keys it may see.
Multi-head attention [26-28] has one such matrix per head, and a stack of layers one per
layer, so a model is a ``layers x heads`` grid of them.

``weights``: a list over layers of ``(heads, Lq, Lk)`` tensors for one set (what
``SetModel(..., return_weights=True)`` gives, at one batch element). ``tokens``: the
``Lk`` key labels (words, atom symbols, frame numbers); ``query_tokens`` the rows' if
they differ. Each panel has its own colour scale from 0 to its largest weight, so a
head that spreads its weight thinly is still readable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from .plain_text import PLAIN

__all__ = ["PANEL_LABEL", "attention_heatmaps", "check_weights", "panel_axes"]

PANEL_LABEL = "attention layer {layer} head {head}"  # the label of every panel's Axes (1-based)


def check_weights(weights: Sequence[torch.Tensor], name: str = "weights") -> list[torch.Tensor]:
    """Each layer a ``(heads, Lq, Lk)`` tensor with the same ``Lq, Lk``; else a ValueError."""
    if not isinstance(weights, Sequence) or len(weights) == 0:
        raise ValueError(f"{name}: expected one (heads, Lq, Lk) tensor per layer, got an empty sequence")
    out = []
    for i, w in enumerate(weights):
        if not isinstance(w, torch.Tensor) or w.dim() != 3:
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"{name}[{i}]: expected a (heads, Lq, Lk) tensor, got {shape}")
        if w.shape[1:] != weights[0].shape[1:]:
            raise ValueError(f"{name}[{i}]: expected (heads, {weights[0].shape[1]}, {weights[0].shape[2]}) "
                             f"like layer 0, got {tuple(w.shape)}")
        out.append(w.detach().float().cpu())
    return out


def panel_axes(fig: Figure) -> list:
    """The attention panels of a figure drawn by this package (not colour bars or insets)."""
    return [ax for ax in fig.axes if ax.get_label().startswith("attention layer")]


def _ticks(labels: Sequence[str] | None, n: int, most: int = 60) -> tuple[list[int], list[str]]:
    """Every label when there are at most ``most``; else every k-th, so they stay legible."""
    step = 1 if n <= most else math.ceil(n / (most // 2))
    where = list(range(0, n, step))
    return where, [str(labels[i]) if labels is not None else str(i) for i in where]


def attention_heatmaps(weights: Sequence[torch.Tensor], tokens: Sequence[str] | None = None, *,
                       query_tokens: Sequence[str] | None = None, title: str = "",
                       max_heads: int | None = None, path: str | Path | None = None,
                       dpi: int = 120) -> Figure:
    """A ``layers x heads`` grid of heat maps (rows: queries, columns: keys) -> Figure.

    ``max_heads`` draws only the first heads of each layer (None: all). Written to
    ``path`` (PNG) if given. Panels carry the Axes label ``PANEL_LABEL``.
    """
    weights = check_weights(weights)
    nq, nk = weights[0].shape[1:]
    if tokens is not None and len(tokens) != nk:
        raise ValueError(f"tokens: expected {nk} labels (one per key), got {len(tokens)}")
    query_tokens = tokens if query_tokens is None and nq == nk else query_tokens
    if query_tokens is not None and len(query_tokens) != nq:
        raise ValueError(f"query_tokens: expected {nq} labels (one per query), got {len(query_tokens)}")
    if max_heads is not None and max_heads < 1:
        raise ValueError(f"max_heads: expected a positive number or None, got {max_heads}")
    heads = max(w.shape[0] for w in weights)
    heads = heads if max_heads is None else min(heads, max_heads)
    layers = len(weights)
    size = 2.2 if max(nq, nk) <= 40 else 2.8
    fig = Figure(figsize=(size * heads + 0.6, size * layers + 0.6 + 0.3 * bool(title)))
    grid = fig.subplots(layers, heads, squeeze=False)
    xt, yt = _ticks(tokens, nk), _ticks(query_tokens, nq)
    font = 5 if max(len(xt[0]), len(yt[0])) <= 40 else 4
    for li, w in enumerate(weights):
        for h in range(heads):
            ax = grid[li, h]
            if h >= w.shape[0]:
                ax.axis("off")
                continue
            ax.set_label(PANEL_LABEL.format(layer=li + 1, head=h + 1))
            ax.imshow(w[h].numpy(), cmap="viridis", vmin=0.0, aspect="auto", interpolation="nearest")
            ax.set_title(f"layer {li + 1} head {h + 1}", fontsize=7)
            ax.set_xticks(xt[0], xt[1], rotation=90, fontsize=font, **PLAIN)
            ax.set_yticks(yt[0], yt[1], fontsize=font, **PLAIN)
            if li == layers - 1:
                ax.set_xlabel("key", fontsize=6)
            if h == 0:
                ax.set_ylabel("query", fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8, **PLAIN)
    fig.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig
