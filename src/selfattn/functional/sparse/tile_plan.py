"""Tile plans: the parts a pattern is computed as, and the one place that plans them.

A sparse pattern is computed as a set of dense tiles. A *part* cuts the queries into tiles
of ``bq`` rows; tile ``t`` attends to ``m`` key rows, either a band of the sequence
(``k_rows=None``: rows ``t * bq - k_offset + c``, read through a strided view, no copy) or
rows gathered by index (``k_rows``). ``allowed`` says which (query, key) pairs of each
tile belong to the part. A pattern may need several parts (a window plus a strided
column, say); a query then normalises jointly over every part it appears in.

``plan_tiles(pattern, lq, lk, device)`` is a ``functools.singledispatch`` planner: each
pattern type registers the function that cuts it into parts (``window.py``, ``blocks.py``,
``grid.py``), and the tile kernel (``tiles.py``, fused path in ``tiles_flash.py``) runs
whatever it returns. ``tile_parts`` is the cached entry point kernels call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache, singledispatch

import torch

from ..bias import ScoreBias
from ..call import AttentionCall

__all__ = ["TileContext", "TilePart", "clear_plan_cache", "has_tile_plan", "pair_terms", "plan_tiles",
           "tile_parts", "tile_rows"]

_NEG_INF = float("-inf")


@dataclass
class TilePart:
    """One family of tiles (see the module docstring).

    ``allowed``: bool ``(T|1, bq, m)``, the pattern's pairs that this part computes.
    ``q_rows``: ``(T, bq)`` query rows (``Lq`` marks padding), or None for consecutive
    blocks (tile ``t`` holds rows ``t*bq .. t*bq + bq - 1``; rows >= Lq are padding).
    ``k_rows``: ``(T|1, m)`` key rows (``Lk`` marks padding), or None for the band of rows
    ``t*bq - k_offset + c`` (only when ``Lq == Lk``; rows outside ``[0, Lk)`` are invalid).
    Within one tile, every valid key row appears at most once.
    """

    bq: int
    m: int
    num_tiles: int
    allowed: torch.Tensor
    q_rows: torch.Tensor | None = None
    k_rows: torch.Tensor | None = None
    k_offset: int = 0
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    def q_index(self, device: torch.device) -> torch.Tensor:
        if self.q_rows is not None:
            return self.q_rows
        return torch.arange(self.num_tiles * self.bq, device=device).view(self.num_tiles, self.bq)

    def k_index(self, device: torch.device) -> torch.Tensor:
        if self.k_rows is not None:
            return self.k_rows
        t = torch.arange(self.num_tiles, device=device)[:, None] * self.bq
        return t - self.k_offset + torch.arange(self.m, device=device)[None, :]


@dataclass
class TileContext:
    """A validated call plus what packed input adds: ``segments`` ``(L,)`` (the set of each
    row; pairs across sets are not allowed) and ``positions`` ``(L,)`` (a row's position
    inside its set, for a ``ScoreBias``). Packed input has batch 1 and ``Lq == Lk``."""

    call: AttentionCall
    segments: torch.Tensor | None = None
    positions: torch.Tensor | None = None


# -- the pairs of a part: masks and biases --------------------------------------------------
def pair_terms(ctx: TileContext, part: TilePart) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``allowed`` bool and ``bias`` float (or None), both ``(B|1, H|1, T|1, bq, m)``."""
    call = ctx.call
    _, _, lq, lk = call.shape
    dev = call.q.device
    qi, kj = part.q_index(dev), part.k_index(dev)
    qc, kc = qi.clamp(0, max(lq - 1, 0)), kj.clamp(0, max(lk - 1, 0))
    qcol, krow = qc[..., :, None], kc[..., None, :]
    allowed = part.allowed & (qi < lq)[..., :, None] & ((kj >= 0) & (kj < lk))[..., None, :]
    if call.causal:
        allowed = allowed & (krow <= qcol + (lk - lq))
    if ctx.segments is not None:
        allowed = allowed & (ctx.segments[qcol] == ctx.segments[krow])
    allowed = allowed[None, None]
    if call.key_mask is not None:
        allowed = allowed & call.key_mask[:, kc][:, None, :, None, :]
    if call.mask is not None:
        m4 = call.mask if call.mask.dim() == 4 else call.mask[None, None]
        allowed = allowed & m4[:, :, qcol, krow]
    bias = None
    if isinstance(call.bias, ScoreBias):
        if ctx.positions is not None:
            qp, kp = ctx.positions[qcol], ctx.positions[krow]
        else:
            qp, kp = qcol + (lk - lq), krow
        bias = call.bias.pairwise(qp, kp).to(call.q.dtype)[None]
    elif call.bias is not None:
        b4 = call.bias if call.bias.dim() == 4 else call.bias[None, None]
        bias = b4[:, :, qcol, krow]
    if bias is not None and bool(torch.isneginf(bias).any()):
        finite = bias > _NEG_INF  # an additive -inf is a mask
        allowed = allowed & finite
        bias = bias.masked_fill(~finite, 0.0)
    return allowed, bias


def tile_rows(part: TilePart, lq: int, device: torch.device) -> torch.Tensor:
    """``(T, bq)`` output row of every tile row, ``lq`` for padding."""
    return part.q_index(device).clamp(max=lq)



@singledispatch
def plan_tiles(pattern: object, lq: int, lk: int, device: torch.device, head_dim: int = 64
               ) -> list[TilePart]:
    """The parts that compute ``pattern`` on ``Lq`` queries and ``Lk`` keys (one
    registration per pattern type: ``@plan_tiles.register``; ``head_dim`` may pick the
    tile size, see ``tile_sizes.py``)."""
    raise TypeError(f"pattern: no tile planner for {type(pattern).__name__}")


def has_tile_plan(pattern: object) -> bool:
    return plan_tiles.dispatch(type(pattern)) is not plan_tiles.dispatch(object)


@lru_cache(maxsize=32)
def _cached(pattern: object, lq: int, lk: int, device: torch.device, head_dim: int) -> list[TilePart]:
    return plan_tiles(pattern, lq, lk, device, head_dim)


def tile_parts(pattern: object, lq: int, lk: int, device: torch.device | None = None,
               head_dim: int = 64) -> list[TilePart]:
    """``plan_tiles``, cached per (pattern, lengths, device, head dim): a training loop
    reuses one plan, and the flash masks cached on its parts."""
    return _cached(pattern, lq, lk, torch.device("cpu") if device is None else torch.device(device), head_dim)


def clear_plan_cache() -> None:
    _cached.cache_clear()
