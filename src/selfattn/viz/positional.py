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

    python -m selfattn.viz.positional docs/figures/positional.png --length 128 --dim 64
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.colors import Normalize, SymLogNorm
from matplotlib.figure import Figure
from torch import nn

from ..positional import build_positional

__all__ = ["Panel", "add_subparser", "main", "plot_positional", "positional_panels"]

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


def plot_positional(path: str | Path, length: int = 128, dim: int = 64, num_heads: int = 8,
                    seed: int = 0, modules: dict[str, nn.Module] | None = None,
                    dpi: int = 110) -> Path:
    """Draw every scheme's heat map side by side (2 x 4 panels) and save a PNG at ``path``.

    Top row: the encodings added to the inputs (the lecture's comparison), position x
    dimension. Bottom row: the schemes inside attention. Returns the path written.
    """
    panels = positional_panels(length, dim, num_heads, seed, modules)
    fig = Figure(figsize=(18, 8.5))
    axes = fig.subplots(2, 4)
    for ax, panel in zip(axes.flat, panels, strict=True):
        v = panel.values
        lim = float(np.abs(v).max()) or 1.0
        rows = v.shape[0]
        # ALiBi's slopes span 2^-1 .. 2^-8: a log scale shows every head's reach.
        norm = (SymLogNorm(linthresh=0.1, vmin=-lim, vmax=lim) if panel.name == "alibi"
                else Normalize(vmin=-lim, vmax=lim))
        im = ax.imshow(v, aspect="auto", cmap="RdBu_r", norm=norm, interpolation="nearest",
                       extent=(-0.5, v.shape[1] - 0.5, panel.row_start + rows - 0.5,
                               panel.row_start - 0.5))
        ax.set_title(panel.title)
        ax.set_ylabel(panel.row_label)
        ax.set_xlabel(panel.col_label)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    fig.text(0.01, 0.73, "added to the inputs", rotation=90, fontsize=13, va="center")
    fig.text(0.01, 0.27, "inside attention", rotation=90, fontsize=13, va="center")
    fig.suptitle(f"Positional schemes: {length} positions, dim {dim} (T5/ALiBi: {num_heads} heads)",
                 fontsize=14)
    fig.subplots_adjust(left=0.05, right=0.98, top=0.91, bottom=0.07, wspace=0.35, hspace=0.35)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def add_subparser(sub) -> None:
    """``selfattn viz positional OUT.png`` for the command line (an argparse subparsers)."""
    p = sub.add_parser("positional", help="heat maps of every positional scheme")
    _arguments(p)
    p.set_defaults(func=lambda a: print(plot_positional(a.out, a.length, a.dim, a.heads, a.seed)) or 0)


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", help="PNG to write")
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _arguments(parser)
    a = parser.parse_args(argv)
    print(plot_positional(a.out, a.length, a.dim, a.heads, a.seed))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
