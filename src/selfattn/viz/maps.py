"""Attention maps as heat maps: one panel per (layer, head), vectors on both axes.

The lecture's matrix of weights ``alpha'_{i,j}`` [21]: row ``i`` is one query (the
output ``b_i``), column ``j`` one key; each row sums to 1 over the keys it may see.
Multi-head attention [26-28] has one such matrix per head, and a stack of layers one per
layer, so a model is a ``layers x heads`` grid of them.

``weights``: a list over layers of ``(heads, Lq, Lk)`` tensors for one set (what
``SetModel(..., return_weights=True)`` gives, at one batch element). ``tokens``: the
``Lk`` key labels (words, atom symbols, frame numbers); ``query_tokens`` the rows' if
they differ. Each panel has its own colour scale from 0 to its largest weight, shown by
its own colour bar, so a head that spreads its weight thinly is still readable.
``predicted``: the model's label per query (drawn at the right of each row of panels,
red where it differs from ``truth``), or one label for the whole set (in the title).

Readable at print size: tick labels are ``TICK_FONT`` points (every k-th label when there
are more than fit), panels grow with the number of labels, and the figure uses
matplotlib's constrained layout so that colour bars and rotated labels are never cut.
Layers and heads are numbered from 1 (``PANEL_LABEL``), as in every figure of this package.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import torch
from matplotlib.figure import Figure

from .plain_text import PLAIN

__all__ = ["PANEL_LABEL", "PREDICTED_LABEL", "TICK_FONT", "attention_heatmaps", "check_weights",
           "panel_axes", "short_label", "tick_positions", "wrap_title"]

PANEL_LABEL = "attention layer {layer} head {head}"  # the label of every panel's Axes (1-based)
PREDICTED_LABEL = "predicted"                        # the y label of the predicted-labels axis
TICK_FONT = 8.0                                      # points: every tick label of a heat map
_WRONG = "#c0392b"
_INCH_PER_LABEL = 1.45 * TICK_FONT / 72              # one label's line, with some air between


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
                             f"like layer 1, got {tuple(w.shape)}")
        out.append(w.detach().float().cpu())
    return out


def panel_axes(fig: Figure) -> list:
    """The attention panels of a figure drawn by this package (not colour bars or insets)."""
    return [ax for ax in fig.axes if ax.get_label().startswith("attention layer")]


def short_label(text: object, most: int = 14) -> str:
    """A tick label cut to ``most`` characters (with an ellipsis), so long tokens stay one line."""
    text = str(text)
    return text if len(text) <= most else text[: most - 1] + "\u2026"


def tick_positions(n: int, most: int = 40) -> list[int]:
    """Every position when there are at most ``most``; else every k-th, so labels never overlap."""
    step = 1 if n <= most else math.ceil(n / most)
    return list(range(0, n, step))


def wrap_title(title: str, width_in: float, font: float) -> str:
    """``title`` wrapped to the figure's width (each line kept as given)."""
    chars = max(30, int(width_in * 72 / (0.55 * font)))
    return "\n".join(textwrap.fill(line, chars) if line else line for line in title.split("\n"))


def _set_title(title: str, predicted, truth) -> str:
    if predicted is None or not isinstance(predicted, str):
        return title
    line = f"predicted: {predicted}" + ("" if truth is None else f" (true: {truth})")
    return f"{title}\n{line}" if title else line


def attention_heatmaps(weights: Sequence[torch.Tensor], tokens: Sequence[str] | None = None, *,
                       query_tokens: Sequence[str] | None = None, title: str = "",
                       predicted: Sequence[str] | str | None = None,
                       truth: Sequence[str | None] | str | None = None,
                       max_heads: int | None = None, path: str | Path | None = None,
                       dpi: int = 120) -> Figure:
    """A ``layers x heads`` grid of heat maps (rows: queries, columns: keys) -> Figure.

    ``predicted`` / ``truth``: one label per query, or one for the set (module docstring;
    a ``None`` truth is an unknown one). ``max_heads`` draws only the first heads of each
    layer (None: all). Written to ``path`` (PNG) if given. Panels carry the Axes label
    ``PANEL_LABEL``; the predicted labels are the y ticks of an Axes labelled ``PREDICTED_LABEL``.
    """
    weights = check_weights(weights)
    nq, nk = weights[0].shape[1:]
    if tokens is not None and len(tokens) != nk:
        raise ValueError(f"tokens: expected {nk} labels (one per key), got {len(tokens)}")
    query_tokens = tokens if query_tokens is None and nq == nk else query_tokens
    if query_tokens is not None and len(query_tokens) != nq:
        raise ValueError(f"query_tokens: expected {nq} labels (one per query), got {len(query_tokens)}")
    per_query = predicted is not None and not isinstance(predicted, str)
    for name, seq in (("predicted", predicted), ("truth", truth)):
        if seq is not None and not isinstance(seq, str) and len(seq) != nq:
            raise ValueError(f"{name}: expected one label per query ({nq}) or one label for the set, got "
                             f"{len(seq)}")
    if max_heads is not None and max_heads < 1:
        raise ValueError(f"max_heads: expected a positive number or None, got {max_heads}")
    heads = max(w.shape[0] for w in weights)
    heads = heads if max_heads is None else min(heads, max_heads)
    layers = len(weights)
    xt, yt = tick_positions(nk), tick_positions(nq)
    side = float(min(7.0, max(2.4, _INCH_PER_LABEL * max(len(xt), len(yt)) + 0.4)))
    ph = side * min(2.0, max(0.5, nq / max(nk, 1)))  # square cells, within reason
    longest = max([len(short_label(t)) for t in (*(tokens or []), *(query_tokens or []))] + [2])
    label_in = 0.075 * longest * TICK_FONT / 8 + 0.3  # one side's tick labels and its axis label
    right = (0.075 * max(len(short_label(t)) for t in predicted) + 0.45) if per_query and nq else 0.0
    cell_w, cell_h = side + 0.85, 0.3 + ph + 0.1   # 0.85: colour bar and its ticks; 0.3: panel title
    width = label_in + heads * cell_w + right + 0.15
    title = _set_title(title, predicted, truth)
    title = wrap_title(title, width, 10) if title else ""
    top = 0.1 + (0.2 * (title.count("\n") + 1) if title else 0.0)
    height = top + layers * cell_h + label_in
    # Panels placed in inches: constrained layout took minutes on a 6 x 12 grid of colour bars.
    # Tokens label the outer panels only (rows: first column, keys: bottom row), as shared axes.
    fig = Figure(figsize=(width, height))
    for li, w in enumerate(weights):
        drawn = min(heads, w.shape[0])
        for h in range(drawn):
            x0, y0 = label_in + h * cell_w, height - top - li * cell_h - 0.3 - ph
            ax = fig.add_axes((x0 / width, y0 / height, side / width, ph / height),
                              label=PANEL_LABEL.format(layer=li + 1, head=h + 1))
            image = ax.imshow(w[h].numpy(), cmap="viridis", vmin=0.0, aspect="auto", interpolation="nearest")
            last = h == drawn - 1
            bar_x = x0 + side + 0.08 + (right if last else 0.0)
            cax = fig.add_axes((bar_x / width, y0 / height, 0.12 / width, ph / height),
                               label=f"colour bar of layer {li + 1} head {h + 1}")
            fig.colorbar(image, cax=cax).ax.tick_params(labelsize=TICK_FONT)
            ax.set_title(f"layer {li + 1} head {h + 1}", fontsize=9)
            bottom = li == layers - 1 or h >= weights[li + 1].shape[0]
            ax.set_xticks(xt, [short_label(tokens[i]) if tokens is not None else str(i + 1) for i in xt]
                          if bottom else [], rotation=90, fontsize=TICK_FONT, **PLAIN)
            ax.set_yticks(yt, [short_label(query_tokens[i]) if query_tokens is not None else str(i + 1)
                               for i in yt] if h == 0 else [], fontsize=TICK_FONT, **PLAIN)
            if bottom:
                ax.set_xlabel("key (looked at)", fontsize=TICK_FONT)
            if h == 0:
                ax.set_ylabel("query (looking)", fontsize=TICK_FONT)
            if per_query and last:
                _predicted_axis(ax, yt, predicted, truth)
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top", **PLAIN)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig


def _predicted_axis(ax, rows: list[int], predicted: Sequence[str], truth) -> None:
    """The model's label of each query, beside the row, on the right of the row's last panel."""
    side = ax.secondary_yaxis("right")
    side.set_label(PREDICTED_LABEL)
    side.set_yticks(rows, [short_label(predicted[i]) for i in rows], fontsize=TICK_FONT, **PLAIN)
    side.set_ylabel(PREDICTED_LABEL + ("" if truth is None or isinstance(truth, str) else " (red: wrong)"),
                    fontsize=TICK_FONT)
    if truth is not None and not isinstance(truth, str):
        for label, i in zip(side.get_yticklabels(), rows, strict=True):
            if truth[i] is not None and str(truth[i]) != str(predicted[i]):
                label.set_color(_WRONG)
