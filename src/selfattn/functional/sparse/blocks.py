"""The block-sparse kernel: Longformer, BigBird, any block layout, and the Sparse Transformer.

Block layouts (``BlockSparsePattern``, ``BigBirdPattern``, ``LongformerPattern``): query
block ``I`` is one tile over the key blocks of its layout row, gathered by index; the
pattern's exact pair rule masks inside the tile. Rows with the same number of key blocks
share one batched call (rows of global blocks, which see everything, form their own).

The Sparse Transformer's patterns are not block-sparse in the original order (their
strided part touches every earlier block), so each is two parts that a query normalises
over jointly (``tiles.py`` merges them by log-sum-exp):

* ``StridedPattern(l)``: a window of ``l`` (part A, a band) plus the column of the
  query's residue class ``i mod l`` (part B: tiles of one class attend to that class).
* ``FixedPattern(l, c)``: the query's own block (part A) plus the summary positions of
  the other blocks (part B, one shared key list).

Either way every (query, key) pair is computed in exactly one part, so the cost is
``O(L * keys per query)`` up to tile padding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ...patterns.block import BlockSparsePattern, LongformerPattern, num_blocks
from ...patterns.logsparse import LogSparsePattern
from ...patterns.sparse_transformer import FixedPattern, StridedPattern
from ...patterns.window import WindowPattern
from .tile_plan import TilePart, plan_tiles, tile_parts
from .window import window_parts

__all__ = ["block_parts", "layout_parts", "ragged_parts"]

_MAX_PARTS = 8
Allows = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ragged_parts(q_rows: torch.Tensor, k_rows: torch.Tensor, lengths: torch.Tensor, allows: Allows,
                 n: int, max_parts: int = _MAX_PARTS) -> list[TilePart]:
    """Tiles whose key lists have different lengths: ``q_rows (T, bq)``, ``k_rows (T, M)``
    (first ``lengths[t]`` entries valid; ``n`` marks padding). Tiles are grouped into at
    most ``max_parts`` parts of similar length, each cut to its longest list."""
    if q_rows.shape[0] == 0:
        return []
    order = torch.argsort(lengths, stable=True)
    groups = torch.tensor_split(order, min(max_parts, order.shape[0]))
    parts = []
    for g in groups:
        if g.numel() == 0:
            continue
        m = int(lengths[g].max())
        if m == 0:
            continue
        qr, kr = q_rows[g], k_rows[g, :m]
        col = torch.arange(m, device=kr.device)[None, :]
        kr = torch.where(col < lengths[g][:, None], kr, torch.full_like(kr, n))
        ok = allows(qr[:, :, None], kr[:, None, :]) & (qr < n)[:, :, None] & (kr < n)[:, None, :]
        parts.append(TilePart(qr.shape[1], m, qr.shape[0], ok, q_rows=qr, k_rows=kr))
    return parts


def layout_parts(layout: torch.Tensor, bs: int, n: int, allows: Allows,
                 device: torch.device | None) -> list[TilePart]:
    """Query block ``I`` attends to the key blocks ``J`` with ``layout[I, J]`` (see module doc)."""
    layout = layout.to(device)
    nb = layout.shape[0]
    counts = layout.sum(1)
    cols = torch.argsort((~layout).to(torch.int8), dim=1, stable=True)  # allowed blocks first
    r = torch.arange(bs, device=device)
    q_rows = (torch.arange(nb, device=device)[:, None] * bs + r).clamp(max=n)
    k_rows = (cols[:, :, None] * bs + r).reshape(nb, nb * bs).clamp(max=n)
    # Rows with one count share a part: the ragged grouping keeps distinct counts apart.
    parts = []
    for c in torch.unique(counts).tolist():
        rows = torch.nonzero(counts == c)[:, 0]
        parts += ragged_parts(q_rows[rows], k_rows[rows], counts[rows] * bs, allows, n, max_parts=1)
    return parts


@plan_tiles.register
def _strided_parts(pattern: StridedPattern, n: int, lk: int, device: torch.device,
                head_dim: int = 64) -> list[TilePart]:
    l = pattern.stride
    local = WindowPattern(l - 1, 0 if pattern.causal else l - 1)
    # A copy: the window plan is cached and shared.
    parts = list(window_parts(local, n, n, device, head_dim=head_dim).parts)
    bq = 32
    q_list, k_list, lens = [], [], []
    for r in range(min(l, n)):
        cells = torch.arange(r, n, l, device=device)
        n_r = cells.shape[0]
        if n_r < 2:
            continue
        padded = torch.cat([cells, cells.new_full((bq,), n)])
        for a in range(0, n_r, bq):
            q_list.append(padded[a:a + bq])
            k_list.append(padded[:n_r])
            lens.append(min(n_r, a + bq - 1) if pattern.causal else n_r)
    if not q_list:
        return parts
    width = max(k.shape[0] for k in k_list)
    k_rows = torch.stack([torch.cat([k, k.new_full((width - k.shape[0],), n)]) for k in k_list])

    def column(qp: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:  # the class minus the band
        return pattern.allows(qp, kp) & (qp != kp)

    parts += ragged_parts(torch.stack(q_list), k_rows, torch.tensor(lens, device=device), column, n)
    return parts


@plan_tiles.register
def _fixed_parts(pattern: FixedPattern, n: int, lk: int, device: torch.device,
                head_dim: int = 64) -> list[TilePart]:
    l, c = pattern.block, pattern.summary
    bq = l * max(1, 32 // l)
    t = -(-n // bq)
    r = torch.arange(bq, device=device)[:, None]
    j = torch.arange(bq, device=device)[None, :]
    own = (r // l == j // l) & ((j <= r) if pattern.causal else True)
    parts = [TilePart(bq, bq, t, own[None], k_offset=0)]
    summary = torch.nonzero(torch.arange(n, device=device) % l >= l - c)[:, 0]
    if summary.numel() == 0:
        return parts
    q_rows = (torch.arange(t, device=device)[:, None] * bq + torch.arange(bq, device=device)).clamp(max=n)
    k_rows = summary[None, :].expand(t, -1)
    if pattern.causal:  # keys before the tile's last block only
        last_block = (torch.clamp((torch.arange(t, device=device) + 1) * bq, max=n) - 1) // l
        lens = torch.searchsorted(summary, last_block * l)
    else:
        lens = torch.full((t,), summary.numel(), device=device)

    def others(qp: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:  # own block is in part A
        return pattern.allows(qp, kp) & (qp // l != kp // l)

    return parts + ragged_parts(q_rows, k_rows, lens, others, n)


def _pair_rule(pattern: BlockSparsePattern | LongformerPattern, n: int) -> Allows:
    def allows(qp: torch.Tensor, kp: torch.Tensor) -> torch.Tensor:
        return pattern.allows(qp.clamp(max=n - 1), kp.clamp(max=n - 1), n)

    return allows


@plan_tiles.register
def _layout_plan(pattern: BlockSparsePattern, n: int, lk: int, device: torch.device,
                head_dim: int = 64) -> list[TilePart]:
    layout = pattern.layout(num_blocks(n, pattern.block_size))
    return layout_parts(layout, pattern.block_size, n, _pair_rule(pattern, n), device)


@plan_tiles.register
def _longformer_plan(pattern: LongformerPattern, n: int, lk: int, device: torch.device,
                head_dim: int = 64) -> list[TilePart]:
    bs = 32 if pattern.window <= 128 else 64
    return layout_parts(pattern.block_layout(n, bs), bs, n, _pair_rule(pattern, n), device)


@plan_tiles.register
def _logsparse_parts(pattern: LogSparsePattern, n: int, lk: int, device: torch.device,
                head_dim: int = 64) -> list[TilePart]:
    """Tiles of 8 consecutive queries, each over the sorted union of its queries' keys
    (itself and 1, 2, 4, ... back: a short band plus 8 keys per distance of 8 or more)."""
    bq = 8
    t = -(-n // bq)
    q_rows = torch.arange(t * bq, device=device).view(t, bq)
    q_rows = torch.where(q_rows < n, q_rows, torch.full_like(q_rows, n))
    dists = torch.tensor([0] + [2**j for j in range(max(n - 1, 1).bit_length())], device=device)
    keys = (q_rows[:, :, None] - dists).reshape(t, -1)
    keys = torch.where((keys >= 0) & (keys < n), keys, torch.full_like(keys, n)).sort(1).values
    dup = torch.zeros_like(keys, dtype=torch.bool)
    dup[:, 1:] = keys[:, 1:] == keys[:, :-1]
    keys = torch.where(dup, torch.full_like(keys, n), keys).sort(1).values
    lengths = (keys < n).sum(1)
    return ragged_parts(q_rows, keys, lengths, pattern.allows, n)


def block_parts(pattern: object, n: int, device: torch.device | None = None) -> list[TilePart]:
    """The tiles that compute a self-attention ``pattern`` on a sequence of ``n`` (cached)."""
    return tile_parts(pattern, n, n, device)
