"""Heat maps of every positional scheme, side by side, as in the lecture's figure.

The lecture compares four encodings ``e_i`` added to the inputs (sinusoidal, a learned
embedding, FLOATER, an RNN) as heat maps of position x dimension. ``plot_positional``
draws those four in the top row and, in the bottom row, the schemes inside attention
in their own natural coordinates:

* RoPE: the rotation ``R_p`` applied to ``(1, 0, 1, 0, ...)``, i.e. ``cos, sin`` of
  ``p theta_m``: position x dimension, like the sinusoidal map it resembles;
* Shaw: the relative key vectors ``a^K_r``: relative distance x dimension (flat beyond
  the clip ``+-K``);
* T5 and ALiBi: the bias added to the scores: relative distance x head.

Learned schemes are drawn as initialised (seeded) unless trained modules are passed.

    selfattn viz positional docs/figures/positional.png --length 128 --dim 64
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import Normalize, SymLogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from ..positional import build_positional

__all__ = ["Panel", "plot_positional", "positional_figure", "positional_panels"]

TOP = ("sinusoidal", "learned", "floater", "rnn")
BOTTOM = ("rope", "shaw", "t5", "alibi")
TITLES = {
    "sinusoidal": "sinusoidal", "learned": "learned embedding", "floater": "FLOATER (ODE)",
    "rnn": "RNN", "rope": "RoPE rotation", "shaw": "Shaw relative keys a^K",
    "t5": "T5 bucket bias", "alibi": "ALiBi bias",
}
TRAINED = {"learned", "floater", "rnn", "shaw", "t5"}


@dataclass
class Panel:
    """One heat map: ``values (rows, cols)``; row ``r`` stands for ``row_start + r``."""

    name: str
    title: str
    values: np.ndarray
    row_label: str
    col_label: str
    row_start: int = 0  # the value of the first row (relative distances start below 0)


def _sizes(name: str, length: int) -> dict:
    if name == "learned":
        return {"max_len": length}
    if name == "shaw":
        return {"max_distance": max(1, length // 8)}
    return {}


@torch.no_grad()
def positional_panels(length: int = 128, dim: int = 64, num_heads: int = 8, seed: int = 0,
                      modules: dict[str, nn.Module] | None = None) -> list[Panel]:
    """The data of every panel: the four input encodings, then the four attention schemes.

    Args:
        length: positions drawn (relative maps span ``-length/2 .. length/2``).
        dim: ``E`` of the input encodings; RoPE and Shaw are drawn with one head of size
            ``dim``, so that every position map has ``dim`` columns.
        num_heads: heads of the T5 and ALiBi maps.
        seed: seeds the initialisation of the learned schemes.
        modules: built (e.g. trained) schemes to draw instead, by name.
    """
    if length < 2 or dim < 2 or dim % 2 or num_heads < 1:
        raise ValueError(f"length, dim, num_heads: expected length >= 2, an even dim >= 2 and "
                         f"num_heads >= 1, got {length}, {dim}, {num_heads}")
    modules = dict(modules or {})
    unknown = sorted(set(modules) - set(TOP + BOTTOM))
    if unknown:
        raise ValueError(f"modules: expected names among {list(TOP + BOTTOM)}, got {unknown}")
    panels = []
    half = length // 2
    rel = torch.arange(-half, half + 1)
    for name in TOP + BOTTOM:
        torch.manual_seed(seed)
        heads = num_heads if name in ("t5", "alibi") else 1
        m = modules.get(name) or build_positional(name, d_model=dim, num_heads=heads,
                                                  **_sizes(name, length))
        m.eval()
        title = TITLES[name] + (" (untrained)" if name in TRAINED and name not in modules else "")
        if name in TOP:
            values = m.table(length, torch.float64)
            panels.append(Panel(name, title, values.numpy(), "position", "dimension"))
        elif name == "rope":
            ones = torch.zeros(length, m.head_dim, dtype=torch.float64)
            ones[:, 0::2] = 1.0
            values = m(ones, torch.arange(length))
            panels.append(Panel(name, title, values.numpy(), "position", "dimension"))
        elif name == "shaw":
            k = m.max_distance
            values = m.keys.double()[(rel.clamp(-k, k) + k)]
            panels.append(Panel(name, title, values.numpy(), "relative distance j - i",
                                "dimension", row_start=-half))
        else:
            values = m.pairwise(torch.zeros((), dtype=torch.long), rel).double().T  # (2h+1, H)
            panels.append(Panel(name, title, values.numpy(), "relative distance j - i", "head",
                                row_start=-half))
    return panels


def positional_figure(length: int = 128, dim: int = 64, num_heads: int = 8, seed: int = 0,
                      modules: dict[str, nn.Module] | None = None) -> Figure:
    """Every scheme's heat map side by side (2 x 4 panels, each with its colour bar) -> Figure.

    Top row: the encodings added to the inputs (the lecture's comparison), position x
    dimension. Bottom row: the schemes inside attention.
    """
    panels = positional_panels(length, dim, num_heads, seed, modules)
    # constrained layout keeps every colour bar's tick labels inside the figure and off the
    # next panel (with subplots_adjust they were cut at the right edge)
    fig = Figure(figsize=(18, 8.5), layout="constrained")
    axes = fig.subplots(2, 4)
    for i, (ax, panel) in enumerate(zip(axes.flat, panels, strict=True)):
        v = panel.values
        lim = float(np.abs(v).max()) or 1.0
        rows = v.shape[0]
        # ALiBi's slopes span 2^-1 .. 2^-8: a log scale shows every head's reach.
        norm = (SymLogNorm(linthresh=0.1, vmin=-lim, vmax=lim) if panel.name == "alibi"
                else Normalize(vmin=-lim, vmax=lim))
        first = 1 if panel.col_label == "head" else 0  # heads count from 1, as in every figure
        im = ax.imshow(v, aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest",
                       extent=(first - 0.5, first + v.shape[1] - 0.5, panel.row_start + rows - 0.5,
                               panel.row_start - 0.5))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(panel.title, fontsize=12)
        row = "added to the inputs" if i < 4 else "inside attention"
        ax.set_ylabel(f"{row}\n{panel.row_label}" if i % 4 == 0 else panel.row_label, fontsize=10)
        ax.set_xlabel(panel.col_label, fontsize=10)
        ax.tick_params(labelsize=9)
        bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
        bar.ax.tick_params(labelsize=9)
        bar.set_label("value" if i < 4 or panel.name in ("rope", "shaw") else "bias added to the score",
                      fontsize=9)
    fig.suptitle(f"Positional schemes: {length} positions, dim {dim} (T5/ALiBi: {num_heads} heads)",
                 fontsize=14)
    return fig


def plot_positional(path: str | Path, length: int = 128, dim: int = 64, num_heads: int = 8,
                    seed: int = 0, modules: dict[str, nn.Module] | None = None,
                    dpi: int = 110) -> Path:
    """:func:`positional_figure` saved as a PNG at ``path`` (18 x 8.5 inches); returns the path."""
    fig = positional_figure(length, dim, num_heads, seed, modules)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
