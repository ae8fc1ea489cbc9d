"""Tiles: the engine behind the window, block-sparse and 2-D neighbourhood kernels.

A pattern's planner (``tile_plan.plan_tiles``) cuts it into parts of dense tiles; each
tile is a small masked dense attention, so the cost is ``O(L * m)`` instead of ``O(L^2)``.
``tile_kernel`` is the ``Kernel.run`` of every tile kernel: plan, then run the parts.

Two paths compute the same thing, each a named ``TilePath`` that ``kernel=`` can request
(``"tiles_fused"``, ``"tiles_explicit"``); ``tile_path`` picks between them with one ``if``:

* **fused** (``tiles_flash.py``; dot scores, softmax, no dropout, no weights, a bias
  without gradient): PyTorch's CPU flash kernel on the tile batch, parts merged by their
  log-sum-exp;
* **explicit** (here; every other option: any score, normalisation, dropout, weights,
  learnable biases): the tile scores are materialised and autograd does the backward.

Empty rows (no allowed key) get zero output and zero gradient on both paths. Half
precision: the fused path feeds the flash op half inputs (it accumulates in float32), the
explicit path runs on float32 copies; both return the input dtype.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from ..call import AttentionCall
from ..normalize import normalize_groups, normalize_scores
from ..precision import HALF, upcast
from . import tiles_flash
from .tile_plan import TileContext, TilePart, pair_terms, tile_parts, tile_rows

__all__ = ["EXPLICIT", "FUSED", "TILE_PATHS", "TileContext", "TilePart", "TilePath", "dense_weights",
           "pair_terms", "run_explicit", "run_tiles", "tile_kernel", "tile_path"]

_NEG_INF = float("-inf")


# -- tiles of q, k, v (explicit path: autograd-friendly views and gathers) -------------------
def q_tiles(x: torch.Tensor, part: TilePart) -> torch.Tensor:
    """``(B, H, L, D)`` -> ``(B, H, T, bq, D)``."""
    b, h, n, d = x.shape
    if part.q_rows is None:
        x = F.pad(x, (0, 0, 0, part.num_tiles * part.bq - n))
        return x.view(b, h, part.num_tiles, part.bq, d)
    return torch.cat([x, x.new_zeros(b, h, 1, d)], 2)[:, :, part.q_rows]


def k_tiles(x: torch.Tensor, part: TilePart) -> torch.Tensor:
    """``(B, H, L, D)`` -> ``(B, H, T|1, m, D)``."""
    b, h, n, d = x.shape
    if part.k_rows is None:
        total = (part.num_tiles - 1) * part.bq + part.m
        x = F.pad(x, (0, 0, part.k_offset, max(0, total - part.k_offset - n)))[:, :, :total]
        return x.unfold(2, part.m, part.bq).transpose(-1, -2)
    return torch.cat([x, x.new_zeros(b, h, 1, d)], 2)[:, :, part.k_rows]


# -- explicit path ---------------------------------------------------------------------------
def _joint_weights(scores: list[torch.Tensor], allowed: list[torch.Tensor], rows: list[torch.Tensor],
                   n_rows: int, normalize: str) -> list[torch.Tensor]:
    """The normalisation over the union of several parts: the scores of every part, flat on
    one axis, grouped by output row (tile row ``(t, r)`` of part ``p`` is row
    ``rows[p][t, r]``; ``n_rows`` = padding), through the one grouped normaliser."""
    flat = [s.masked_fill(~a, _NEG_INF).flatten(2) for s, a in zip(scores, allowed, strict=True)]
    groups = torch.cat([r[..., None].expand(s.shape[-3:]).reshape(-1)
                        for r, s in zip(rows, scores, strict=True)])
    w = normalize_groups(torch.cat(flat, -1), None, groups, n_rows + 1, normalize)
    return [x.view(s.shape) for x, s in zip(w.split([f.shape[-1] for f in flat], -1), scores, strict=True)]


def _tile_scores(call: AttentionCall, qt: torch.Tensor, kt: torch.Tensor) -> torch.Tensor:
    if call.score == "dot":
        return torch.matmul(qt, kt.transpose(-1, -2))
    # A callable score is pairwise, so tiles can ride in its batch axis: (B*T, H, bq, D).
    b, h, t, bq, d = qt.shape
    kt = kt.expand(b, h, t, *kt.shape[-2:])
    s = call.score(qt.permute(0, 2, 1, 3, 4).reshape(b * t, h, bq, d),
                   kt.permute(0, 2, 1, 3, 4).reshape(b * t, h, kt.shape[-2], kt.shape[-1]))
    return s.reshape(b, t, h, bq, -1).permute(0, 2, 1, 3, 4)


def run_explicit(ctx: TileContext, parts: list[TilePart]
                 ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """Every option, through autograd. Returns the output ``(B, H, Lq, Dv)`` and, with
    ``need_weights``, the weights of each part ``(B, H, T, bq, m)``."""
    call = ctx.call
    b, h, lq, _ = call.shape
    dev = call.q.device
    scores, allowed = [], []
    for part in parts:
        a, bias = pair_terms(ctx, part)
        s = _tile_scores(call, q_tiles(call.q, part), k_tiles(call.k, part)) * call.scale
        scores.append(s if bias is None else s + bias)
        allowed.append(a)
    if len(parts) == 1 and parts[0].q_rows is None:
        weights = [normalize_scores(scores[0], allowed[0], call.normalize)]
    else:
        rows = [tile_rows(p, lq, dev) for p in parts]
        weights = _joint_weights(scores, allowed, rows, lq, call.normalize)
    out = None
    for part, w in zip(parts, weights, strict=True):
        wd = F.dropout(w, call.dropout_p) if call.dropout_p > 0 else w
        o = torch.matmul(wd, k_tiles(call.v, part))  # (B, H, T, bq, Dv)
        if part.q_rows is None:
            o = o.reshape(b, h, -1, o.shape[-1])[:, :, :lq]
        else:
            acc = o.new_zeros(b, h, lq + 1, o.shape[-1])
            rows = tile_rows(part, lq, dev).reshape(-1)
            o = acc.index_add(2, rows, o.reshape(b, h, -1, o.shape[-1]))[:, :, :lq]
        out = o if out is None else out + o
    assert out is not None
    return out, (weights if call.need_weights else None)


def _explicit(ctx: TileContext, parts: list[TilePart]) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    dtype = ctx.call.q.dtype
    if dtype not in HALF:
        return run_explicit(ctx, parts)
    # Half precision: the explicit path materialises scores, so it runs in float32.
    out, weights = run_explicit(replace(ctx, call=upcast(ctx.call)), parts)
    return out.to(dtype), (None if weights is None else [w.to(dtype) for w in weights])


def _fused(ctx: TileContext, parts: list[TilePart]) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    return tiles_flash.run_flash(ctx, parts), None


def _any_call(call: AttentionCall) -> str | None:
    return None


@dataclass(frozen=True)
class TilePath:
    """One way of running tile parts, named like a kernel (``kernel="tiles_explicit"``
    forces it): ``unsupported(call)`` is None when it computes the call exactly."""

    name: str
    run: Callable[[TileContext, list[TilePart]], tuple[torch.Tensor, list[torch.Tensor] | None]]
    unsupported: Callable[[AttentionCall], str | None]
    description: str


FUSED = TilePath("tiles_fused", _fused, tiles_flash.flash_supported,
                 "the CPU flash op on batches of tiles, parts merged by log-sum-exp")
EXPLICIT = TilePath("tiles_explicit", _explicit, _any_call,
                    "materialised tile scores, grouped normalisation, autograd backward")
TILE_PATHS = {p.name: p for p in (FUSED, EXPLICIT)}


def tile_path(call: AttentionCall) -> TilePath:
    """The fused path where it is exact, else the explicit one (the one ``if``)."""
    return FUSED if FUSED.unsupported(call) is None else EXPLICIT


def run_tiles(ctx: TileContext, parts: list[TilePart], path: TilePath | None = None
              ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """The output ``(B, H, Lq, Dv)`` and, with ``need_weights``, each part's tile weights,
    on ``path`` (default ``tile_path(call)``)."""
    return (path or tile_path(ctx.call)).run(ctx, parts)


def dense_weights(ctx: TileContext, parts: list[TilePart], weights: list[torch.Tensor]) -> torch.Tensor:
    """Tile weights -> ``(B, H, Lq, Lk)`` (zeros off the pattern), differentiable."""
    call = ctx.call
    b, h, lq, lk = call.shape
    dev = call.q.device
    dense = weights[0].new_zeros(b, h, lq + 1, lk + 1)
    for part, w in zip(parts, weights, strict=True):
        qi = tile_rows(part, lq, dev)
        kj = part.k_index(dev)
        kj = torch.where((kj >= 0) & (kj < lk), kj, torch.full_like(kj, lk))
        idx = (qi[..., :, None] * (lk + 1) + kj[..., None, :]).expand(w.shape[-3:]).reshape(-1)
        dense = dense.reshape(b, h, -1).index_add(2, idx, w.expand(b, h, *w.shape[2:]).reshape(b, h, -1))
        dense = dense.view(b, h, lq + 1, lk + 1)
    return dense[:, :, :lq, :lk]


def tile_kernel(call: AttentionCall, path: TilePath | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``Kernel.run`` of the tile kernels: the pattern's parts (``tile_parts``), run by
    ``run_tiles`` on ``path``; weights dense ``(B, H, Lq, Lk)``."""
    _, _, lq, lk = call.shape
    ctx = TileContext(call)
    parts = tile_parts(call.pattern, lq, lk, call.q.device, call.q.shape[-1])
    out, weights = run_tiles(ctx, parts, path)
    return out, (dense_weights(ctx, parts, weights) if weights is not None else None)
