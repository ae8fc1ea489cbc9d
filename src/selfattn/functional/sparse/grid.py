"""The 2-D neighbourhood kernel: each grid cell attends to its k x k neighbourhood.

Cells are cut into rectangular tiles of ``th x tw`` cells of one dilation class (cells
``y = ry (mod dh)``, ``x = rx (mod dw)``). The neighbourhoods of a tile's cells lie in a
``(th + kh - 1) x (tw + kw - 1)`` region of that class, so each tile is one small dense
attention over the region's cells, gathered by index, with the exact neighbourhood rule
as its mask (``Neighborhood2DPattern.axis_allowed``, one axis at a time). Cost:
``O(L * (th + kh - 1) * (tw + kw - 1))`` instead of ``O(L^2)``.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ...patterns.grid import Neighborhood2DPattern, axis_window
from .tile_plan import TilePart, plan_tiles

__all__ = ["grid_parts"]


def tile_shape(kernel_size: tuple[int, int]) -> tuple[int, int]:
    """Cells per tile along (height, width): 8 x 8 measured best for 7 x 7 neighbourhoods
    (benchmarks/sparse_grid.py); smaller kernels take smaller tiles."""
    return tuple(8 if k >= 5 else 4 for k in kernel_size)  # type: ignore[return-value]


def _axis_tiles(n: int, k: int, d: int, border: str, size: int, device: torch.device | None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiles of one axis: query cells ``(A, size)``, key cells ``(A, size + k - 1)`` (-1 =
    padding) and the axis rule ``(A, size, size + k - 1)`` bool."""
    t0, count = axis_window(n, k, d, border, device)
    mk = size + k - 1
    qs, ks = [], []
    for r in range(min(d, n)):
        cells = torch.arange(r, n, d, device=device)  # the class, in order of sub-index
        n_r = cells.shape[0]
        for a in range(0, n_r, size):
            sub_q = a + torch.arange(size, device=device)
            lo = int(t0[cells[a]])
            sub_k = lo + torch.arange(mk, device=device)
            qs.append(torch.where(sub_q < n_r, r + d * sub_q, torch.full_like(sub_q, -1)))
            ks.append(torch.where(sub_k < n_r, r + d * sub_k, torch.full_like(sub_k, -1)))
    q, kk = torch.stack(qs), torch.stack(ks)
    qc = q.clamp(min=0)
    lo, hi = t0[qc], t0[qc] + count[qc]
    tk = kk.clamp(min=0) // d
    allowed = (tk[:, None, :] >= lo[:, :, None]) & (tk[:, None, :] < hi[:, :, None])
    allowed &= (q >= 0)[:, :, None] & (kk >= 0)[:, None, :]
    return q, kk, allowed


def grid_parts(pattern: Neighborhood2DPattern, device: torch.device | None = None,
               tile: tuple[int, int] | None = None) -> list[TilePart]:
    """One part: every tile of every dilation class (see the module docstring); cached."""
    return _grid_plan(pattern, torch.device("cpu") if device is None else torch.device(device), tile)


@lru_cache(maxsize=16)
def _grid_plan(pattern: Neighborhood2DPattern, device: torch.device,
               tile: tuple[int, int] | None) -> list[TilePart]:
    (kh, kw), (dh, dw) = pattern.kernel_size, pattern.dilation
    th, tw = tile or tile_shape(pattern.kernel_size)
    th, tw = min(th, pattern.height), min(tw, pattern.width)
    qy, ky, ay = _axis_tiles(pattern.height, kh, dh, pattern.border, th, device)
    qx, kx, ax = _axis_tiles(pattern.width, kw, dw, pattern.border, tw, device)
    n, w = pattern.length, pattern.width

    def cells(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # (Y, a) x (X, b) -> (Y*X, a*b) row indices; n marks padding.
        idx = y[:, None, :, None] * w + x[None, :, None, :]
        bad = (y[:, None, :, None] < 0) | (x[None, :, None, :] < 0)
        idx = torch.where(bad, torch.full_like(idx, n), idx)
        return idx.reshape(y.shape[0] * x.shape[0], -1)

    q_rows, k_rows = cells(qy, qx), cells(ky, kx)
    allowed = ay[:, None, :, None, :, None] & ax[None, :, None, :, None, :]
    allowed = allowed.reshape(q_rows.shape[0], q_rows.shape[1], k_rows.shape[1])
    return [TilePart(q_rows.shape[1], k_rows.shape[1], q_rows.shape[0], allowed,
                     q_rows=q_rows, k_rows=k_rows)]


@plan_tiles.register
def _plan(pattern: Neighborhood2DPattern, lq: int, lk: int, device: torch.device, head_dim: int = 64
          ) -> list[TilePart]:
    pattern.check_lengths(lq, lk)
    return _grid_plan(pattern, device, None)
