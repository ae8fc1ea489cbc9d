"""Where one pixel (or patch) looks: its attention over the image, one panel per head.

The lecture's image as a set of vectors [33]: each pixel, or each ``p x p`` patch as a
Vision Transformer cuts it, is one vector on a ``(rows, cols)`` grid. Row ``q`` of a
head's weights is how much the chosen cell ``q`` takes from every cell; drawn on the
grid and laid over the image, it shows the head's receptive field, which self-attention
learns where a CNN fixes it [36].

``image_from_vectors(x, grid)`` rebuilds the picture from pixel or patch vectors
``(rows * cols, p * p * c)`` (``selfattn.data.patch_vectors``' row-major order).
``image_attention_figure`` draws, for every (layer, head), the image in grey with the
grid of weights of the chosen cell over it (the overlay's array is that ``(rows, cols)``
map, summing to 1 over the cells when no extra token such as ``[CLS]`` takes a share).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .maps import PANEL_LABEL, TICK_FONT, check_weights, wrap_title
from .plain_text import PLAIN

__all__ = ["OVERLAY_LABEL", "cell_of_pixel", "image_attention_figure", "image_from_vectors"]

OVERLAY_LABEL = "attention-overlay"  # the AxesImage of each panel holding the (rows, cols) map


def image_from_vectors(x: torch.Tensor, grid: Sequence[int]) -> np.ndarray:
    """``x`` ``(rows * cols, p * p * c)`` -> the image ``(rows * p, cols * p)`` (grey) or
    ``(rows * p, cols * p, c)``; ``c`` is 1 or 3 (grey or RGB), ``p`` from the width."""
    rows, cols = (int(v) for v in grid)
    if x.dim() != 2 or x.shape[0] != rows * cols:
        raise ValueError(f"x: expected ({rows * cols}, features) for a {rows} x {cols} grid, got "
                         f"{tuple(x.shape)}")
    d = int(x.shape[1])
    for c in (1, 3):
        p = math.isqrt(d // c)
        if p * p * c == d:
            break
    else:
        raise ValueError(f"x: expected p*p*c features per cell with c = 1 or 3, got {d}")
    img = x.detach().float().reshape(rows, cols, p, p, c).permute(0, 2, 1, 3, 4)
    img = img.reshape(rows * p, cols * p, c)
    return img[..., 0].numpy() if c == 1 else img.numpy()


def cell_of_pixel(pixel: Sequence[int], image_shape: Sequence[int], grid: Sequence[int]) -> int:
    """The grid cell (row-major index) holding image pixel ``(row, col)``."""
    h, w = int(image_shape[0]), int(image_shape[1])
    r, c = (int(v) for v in pixel)
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"pixel: expected (row, col) with 0 <= row < {h} and 0 <= col < {w}, got ({r}, {c})")
    rows, cols = (int(v) for v in grid)
    return (r * rows // h) * cols + (c * cols // w)


def image_attention_figure(weights: Sequence[torch.Tensor], image: np.ndarray, grid: Sequence[int],
                           query: int, *, title: str = "", path: str | Path | None = None,
                           offset: int = 0, dpi: int = 120) -> Figure:
    """For each (layer, head), row ``query`` of the weights over the ``grid`` laid on ``image``.

    ``weights``: per layer ``(heads, n, n)`` with ``n = offset + rows * cols`` (``offset``
    extra tokens first, e.g. 1 for ``[CLS]``; their share is left out of the map and
    printed in the panel title). ``query`` is a cell (0-based, row-major, not counting
    ``offset``). The first column shows the image with the chosen cell outlined.
    """
    weights = check_weights(weights)
    rows, cols = (int(v) for v in grid)
    n = weights[0].shape[-1]
    if n != offset + rows * cols:
        raise ValueError(f"grid: expected {rows} x {cols} = {n - offset} cells (the weights' {n} keys less "
                         f"{offset} extra tokens), got {rows} x {cols} = {rows * cols}")
    if not 0 <= query < rows * cols:
        raise ValueError(f"query: expected a cell in [0, {rows * cols}), got {query}")
    image = np.asarray(image, dtype=float)
    h, w = image.shape[:2]
    extent = (0, w, h, 0)
    r, c = divmod(query, cols)
    box = dict(xy=(c * w / cols, r * h / rows), width=w / cols, height=h / rows, fill=False, lw=1.5,
               ec="cyan")
    layers, heads = len(weights), max(x.shape[0] for x in weights)
    panel = 2.6
    width = (panel + 0.75) * (heads + 1) + 0.2                   # 0.75: each panel's colour bar
    title = wrap_title(title, width, 10) if title else ""
    head_in = 0.15 + (0.19 * (title.count("\n") + 1) if title else 0.0)
    height = (panel + 0.45) * layers + head_in + 0.1
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.1 / width, right=1 - 0.85 / width, top=1 - (head_in + 0.3) / height,
                        bottom=0.15 / height, wspace=0.75 / panel, hspace=0.45 / panel)
    axes = fig.subplots(layers, heads + 1, squeeze=False)
    grey = image if image.ndim == 2 else image.mean(-1)
    for li, wl in enumerate(weights):
        first = axes[li, 0]
        if li == 0:
            first.imshow(image if image.ndim == 3 else grey, cmap="gray", extent=extent)
            first.add_patch(Rectangle(**box))
            first.set_title(f"input, query cell ({r}, {c})", fontsize=9)
            first.set_xticks([])
            first.set_yticks([])
        else:
            first.axis("off")
        for hd in range(heads):
            ax = axes[li, hd + 1]
            if hd >= wl.shape[0]:
                ax.axis("off")
                continue
            row = wl[hd, offset + query]
            cell_map = row[offset:].reshape(rows, cols).numpy()
            ax.set_label(PANEL_LABEL.format(layer=li + 1, head=hd + 1))
            ax.imshow(grey, cmap="gray", extent=extent)
            top = max(float(cell_map.max()), 1e-6)
            # opacity follows the weight: cells the query ignores leave the image visible
            overlay = ax.imshow(cell_map, cmap="inferno", alpha=0.1 + 0.75 * cell_map / top, vmin=0.0,
                                vmax=top, extent=extent, interpolation="nearest", label=OVERLAY_LABEL)
            cax = ax.inset_axes((1.04, 0.0, 0.06, 1.0))
            bar = fig.colorbar(ScalarMappable(overlay.norm, "inferno"), cax=cax)
            bar.ax.tick_params(labelsize=TICK_FONT)
            overlay.colorbar = bar  # the overlay's own alpha varies per cell; the bar shows its colours
            ax.add_patch(Rectangle(**box))
            extra = f", extra {float(row[:offset].sum()):.2f}" if offset else ""
            ax.set_title(f"layer {li + 1} head {hd + 1}\nmax {float(cell_map.max()):.2f}{extra}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top", **PLAIN)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig
