"""The window kernel: truncated self-attention in O(L * w) time and memory, forward and backward.

Queries are cut into blocks of ``bq``; block ``t`` attends to the band of
``m = bq + left + right`` keys around it, read through one strided view of a padded key
buffer (no copy per block), with a small ``(bq, m)`` mask cutting the band's corners. The
fused CPU flash kernel runs all blocks of all heads in one call (see ``tiles.py``); other
options go through the explicit tile path. A dilated window is the same band on each
residue class ``i mod d`` (rows gathered by class); ``Lq != Lk`` (a decoder step over a
cache) gathers each block's key range. Packed variable-length input is one long sequence
whose pairs across sets are masked (the band never needs more than its own set).

``window_attention`` is the direct entry point (band-form weights ``(B, H, Lq, width)``);
``attention(..., pattern=WindowPattern(...))`` runs the same plan (``plan_tiles``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from ...patterns.window import WindowPattern
from ..call import make_call
from .packed import packed_inputs
from .tile_plan import TileContext, TilePart, plan_tiles
from .tile_sizes import window_block_size
from .tiles import run_tiles

__all__ = ["window_attention", "window_parts"]


@dataclass
class WindowPlan:
    parts: list[TilePart]
    base: int  # tile column of key delta 0 for tile row 0
    step: int  # tile columns per unit of t (key = query + t * dilation)


def window_parts(pattern: WindowPattern, lq: int, lk: int, device: torch.device | None = None,
                 bq: int | None = None, head_dim: int = 64) -> WindowPlan:
    """The tiles that compute ``pattern`` on ``Lq`` queries and ``Lk`` keys (cached: a
    training loop reuses one plan, and the masks cached on its parts). ``bq``: query rows
    per tile, default the measured ``tile_sizes.window_block_size`` for the head dim."""
    if bq is None:
        span = -(-max(lq, lk) // pattern.dilation) + 1
        width = min(pattern.left, span) + min(pattern.right or 0, span) + 1
        bq = window_block_size(width, head_dim, max(lq, lk))
    return _window_plan(pattern, lq, lk, torch.device("cpu") if device is None else torch.device(device), bq)


@lru_cache(maxsize=16)
def _window_plan(pattern: WindowPattern, lq: int, lk: int, device: torch.device,
                 bq: int) -> WindowPlan:
    d = pattern.dilation
    left, right = pattern.left, pattern.right
    assert right is not None
    span = -(-max(lq, lk) // d) + 1  # sub-indices a pair can differ by, plus one
    left, right = min(left, span), min(right, span)  # keys never farther away than the sequence
    width = left + right + 1
    r = torch.arange(bq, device=device)[:, None]

    def band(m: int) -> torch.Tensor:
        c = torch.arange(m, device=device)[None, :]
        return ((c - r >= 0) & (c - r < width))[None]  # (1, bq, m)

    if lq == lk and d == 1:
        t = -(-lq // bq)
        m = bq + width - 1
        part = TilePart(bq, m, t, band(m), k_offset=left)
        return WindowPlan([part], left, 1)
    if lq == lk:
        # Residue class g holds rows g, g + d, ...; its sub-index s row is g + d * s.
        n = lq
        q_rows, k_rows = [], []
        m = bq + width - 1
        for g in range(min(d, n)):
            n_g = -(-(n - g) // d)
            starts = torch.arange(0, n_g, bq, device=device)
            sub_q = starts[:, None] + torch.arange(bq, device=device)[None, :]
            q_rows.append(torch.where(sub_q < n_g, g + d * sub_q, torch.full_like(sub_q, n)))
            sub_k = starts[:, None] - left + torch.arange(m, device=device)[None, :]
            ok = (sub_k >= 0) & (sub_k < n_g)
            k_rows.append(torch.where(ok, g + d * sub_k, torch.full_like(sub_k, n)))
        qr, kr = torch.cat(q_rows), torch.cat(k_rows)
        part = TilePart(bq, m, qr.shape[0], band(m), q_rows=qr, k_rows=kr)
        return WindowPlan([part], left, 1)
    # Lq != Lk: each block of consecutive queries gathers the key positions its window spans.
    t = -(-lq // bq)
    m = bq - 1 + (width - 1) * d + 1
    shift = lk - lq
    q_pos = torch.arange(t * bq, device=device).view(t, bq) + shift
    k_pos = (torch.arange(t, device=device) * bq + shift - left * d)[:, None] + torch.arange(m, device=device)
    allowed = pattern.allows(q_pos[:, :, None], k_pos[:, None, :])
    k_rows = torch.where((k_pos >= 0) & (k_pos < lk), k_pos, torch.full_like(k_pos, lk))
    return WindowPlan([TilePart(bq, m, t, allowed, k_rows=k_rows)], left * d, d)


def _band_from_tiles(plan: WindowPlan, w: torch.Tensor, pattern: WindowPattern, lq: int) -> torch.Tensor:
    """Tile weights ``(B, H, T, bq, m)`` -> band weights ``(B, H, Lq, left + right + 1)``:
    entry ``s`` is the weight of the key ``(s - left) * dilation`` positions away."""
    part = plan.parts[0]
    width = pattern.width
    r = torch.arange(part.bq, device=w.device)[:, None]
    s = torch.arange(width, device=w.device)[None, :]
    col = r + plan.base + (s - pattern.left) * plan.step  # (bq, width)
    ok = (col >= 0) & (col < part.m)
    g = torch.gather(w, -1, col.clamp(0, part.m - 1).expand(*w.shape[:-1], width))
    g = g.masked_fill(~ok, 0.0)
    b, h = w.shape[:2]
    rows = part.q_index(w.device).clamp(max=lq).reshape(-1)
    out = g.new_zeros(b, h, lq + 1, width)
    return out.index_copy(2, rows, g.reshape(b, h, -1, width))[:, :, :lq]


@plan_tiles.register
def _plan(pattern: WindowPattern, lq: int, lk: int, device: torch.device, head_dim: int = 64
          ) -> list[TilePart]:
    return list(window_parts(pattern, lq, lk, device, head_dim=head_dim).parts)


def _run(ctx: TileContext, pattern: WindowPattern) -> tuple[torch.Tensor, WindowPlan, list | None]:
    _, _, lq, lk = ctx.call.shape
    plan = window_parts(pattern, lq, lk, ctx.call.q.device, head_dim=ctx.call.q.shape[-1])
    out, weights = run_tiles(ctx, plan.parts)
    return out, plan, weights


def window_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    pattern: WindowPattern,
    *,
    offsets: torch.Tensor | None = None,
    return_weights: bool = False,
    **options: Any,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Sliding-window attention in O(L * width), with band-form weights.

    Args:
        q: ``(B, H, Lq, D)``; k: ``(B, H, Lk, D)``; v: ``(B, H, Lk, Dv)``. Or, with
            ``offsets``, packed sets: ``(N, H, D)`` each and ``offsets (B + 1,)``; the window
            then stays inside each set and positions restart at 0 in every set.
        pattern: the ``WindowPattern``.
        return_weights: also return the weights in band form, ``(B, H, Lq, width)`` (packed:
            ``(N, H, width)``), ``width = left + right + 1``: entry ``s`` is the weight of the
            key ``(s - left) * dilation`` positions from the query (0 outside the sequence).
        options: the other keyword arguments of ``selfattn.functional.attention`` (masks are
            bool, True = may attend; ``bias``, ``score``, ``normalize``, ``scale``,
            ``dropout_p``, ``causal``, ``key_mask``, ``key_lengths``, ``mask``).

    Returns:
        ``(B, H, Lq, Dv)`` (packed: ``(N, H, Dv)``), and the band weights if asked.
    """
    if not isinstance(pattern, WindowPattern):
        raise TypeError(f"pattern: expected a WindowPattern, got {type(pattern).__name__}")
    if offsets is not None:
        q4, k4, v4, segments, positions = packed_inputs(q, k, v, offsets, options)
        call = make_call(q4, k4, v4, pattern=pattern, need_weights=return_weights, **options)
        ctx = TileContext(call, segments, positions)
    else:
        call = make_call(q, k, v, pattern=pattern, need_weights=return_weights, **options)
        ctx = TileContext(call)
    _, _, lq, _ = call.shape
    if min(call.shape) == 0:
        out = call.q.new_zeros(*call.shape[:3], call.v.shape[-1])
        w = call.q.new_zeros(*call.shape[:3], pattern.width)
    else:
        out, plan, weights = _run(ctx, pattern)
        w = _band_from_tiles(plan, weights[0], pattern, lq) if weights is not None else None
    if offsets is not None:
        out = out[0].transpose(0, 1)
        w = w[0].transpose(0, 1) if w is not None else None
    return (out, w) if return_weights else out
