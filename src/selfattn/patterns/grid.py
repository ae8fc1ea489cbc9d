"""2-D neighbourhood attention for images: each pixel (or patch) attends to a k x k neighbourhood.

Vectors are the cells of a ``(height, width)`` grid flattened row by row: cell ``(y, x)`` is
position ``y * width + x``, so ``L = height * width``. Along each axis, with kernel size
``k`` (odd) and dilation ``d``, cell ``y`` sees cells ``y'`` with ``y' = y (mod d)`` whose
index ``t' = y' // d`` in that residue class lies in a window of ``k`` indices:

* ``border="shift"`` (neighbourhood attention, Hassani et al. 2023, as in NATTEN): the
  window is ``[s, s + k)`` with ``s = clamp(t - k // 2, 0, n_r - k)``, shifted inwards at the
  borders so every cell sees exactly ``k`` cells per axis (``n_r`` = cells in the residue
  class). Needs ``k * d <= size`` on each axis.
* ``border="clip"``: the window is ``[t - k//2, t + k//2]`` cut at the borders (cells near a
  border see fewer cells, like a zero-padded convolution).

A pair is allowed iff it is allowed along both axes. Self-attention only
(``Lq == Lk == height * width``).
"""

from __future__ import annotations

import torch

from ._common import check_int, pair_or_int
from .base import Pattern

__all__ = ["Neighborhood2DPattern", "axis_window"]


def axis_window(n: int, k: int, d: int, border: str,
                device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """For each cell ``y`` in ``range(n)`` of one axis, the first neighbour index ``t0`` (in
    units of ``d`` within the residue class) and how many neighbours it has (``k`` for
    ``shift``). Neighbour ``s`` of ``y`` is cell ``y % d + d * (t0 + s)``."""
    y = torch.arange(n, device=device)
    r, t = y % d, y // d
    n_r = (n - r + d - 1) // d  # cells in y's residue class
    if border == "shift":
        t0 = torch.minimum((t - k // 2).clamp(min=0), n_r - k)
        count = torch.full_like(t, k)
    else:
        t0 = (t - k // 2).clamp(min=0)
        count = torch.minimum(t + k // 2, n_r - 1) - t0 + 1
    return t0, count


def _axis_allowed(n: int, k: int, d: int, border: str, device: torch.device | None) -> torch.Tensor:
    t0, count = axis_window(n, k, d, border, device)
    y = torch.arange(n, device=device)
    same = (y[:, None] % d) == (y[None, :] % d)
    t2 = (y // d)[None, :]
    return same & (t2 >= t0[:, None]) & (t2 < (t0 + count)[:, None])


class Neighborhood2DPattern(Pattern):
    """Each grid cell attends to its ``kernel_size`` neighbourhood (see module doc).

    Args:
        height, width: the grid; the sequence length must be ``height * width``.
        kernel_size: odd int, or ``(kh, kw)``.
        dilation: int or ``(dh, dw)``, >= 1.
        border: ``"shift"`` (NATTEN's neighbourhood attention) or ``"clip"``.
    """

    name = "grid"
    kernel = "neighborhood2d"
    min_dense_pairs = 320 * 320
    max_density = 0.3

    def __init__(self, height: int, width: int, kernel_size: int | tuple[int, int],
                 dilation: int | tuple[int, int] = 1, border: str = "shift") -> None:
        self.height = check_int("height", height, 1)
        self.width = check_int("width", width, 1)
        self.kernel_size = pair_or_int("kernel_size", kernel_size, 1)
        self.dilation = pair_or_int("dilation", dilation, 1)
        if border not in ("shift", "clip"):
            raise ValueError(f"border: expected 'shift' or 'clip', got {border!r}")
        self.border = border
        for axis, k in zip(("height", "width"), self.kernel_size, strict=True):
            if k % 2 == 0:
                raise ValueError(f"kernel_size: expected odd sizes (a neighbourhood centred on "
                                 f"the cell), got {self.kernel_size} ({axis} axis)")
        if border == "shift":
            for axis, n, k, d in zip(("height", "width"), (height, width), self.kernel_size,
                                     self.dilation, strict=True):
                if k * d > n:
                    raise ValueError(
                        f"kernel_size: with border='shift' every cell sees exactly k cells per "
                        f"axis, so kernel_size * dilation must be <= {axis}; got {k} * {d} > {n} "
                        "(use border='clip' for grids smaller than the neighbourhood)")

    def __repr__(self) -> str:
        return (f"Neighborhood2DPattern(height={self.height}, width={self.width}, "
                f"kernel_size={self.kernel_size}, dilation={self.dilation}, border={self.border!r})")

    @property
    def length(self) -> int:
        return self.height * self.width

    def keys_per_query(self, n: int) -> float:
        return self.kernel_size[0] * self.kernel_size[1]

    def check_lengths(self, lq: int, lk: int) -> None:
        if lq != self.length or lk != self.length:
            raise ValueError(
                f"pattern: a {self.height} x {self.width} grid has {self.length} cells; expected "
                f"Lq == Lk == {self.length}, got Lq={lq}, Lk={lk}")

    def axis_allowed(self, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(height, height)`` and ``(width, width)`` bool: the rule along each axis."""
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        return (_axis_allowed(self.height, kh, dh, self.border, device),
                _axis_allowed(self.width, kw, dw, self.border, device))

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Cell ``p`` is ``(p // width, p % width)``; allowed along both axes."""
        rows, cols = self.axis_allowed(q_pos.device)
        w = self.width
        return rows[q_pos // w, k_pos // w] & cols[q_pos % w, k_pos % w]

    def dense_mask(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(L, L)`` bool, True = may attend."""
        self.check_lengths(lq, lk)
        rows, cols = self.axis_allowed(device)
        h, w = self.height, self.width
        return (rows[:, None, :, None] & cols[None, :, None, :]).reshape(h * w, h * w)
