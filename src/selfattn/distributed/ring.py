"""Exact sequence-parallel (ring) attention over ``torch.distributed``.

One long sequence of ``L`` positions is split along its length over the ``N`` ranks of a
group (``sharding.py``); rank ``r`` holds ``q, k, v`` of its positions, ``(B, H, L_r, D)``.
The lecture's long-sequence problem (L^2 work and memory) is spread over the ranks: in
``N`` steps every key/value block visits every rank around the ring ``r -> r+1``; each rank
attends its queries to the block it holds and merges the partial softmaxes by their
log-sum-exp (``blocks.merge``), which gives *exactly* the softmax over all keys. While one
block is computed the next is already in flight (``isend``/``irecv`` posted before the
compute), so communication hides behind compute when a block's work outlasts its transfer.

Backward (``_RingAttention.backward``): the blocks go round again, and each carries the
running sums of its ``dK, dV``: rank ``r`` adds its queries' share (the flash backward
with the merged output and log-sum-exp) and passes the sums on, so after ``N`` hops every
rank holds the full gradient of its own keys and values; ``dQ`` stays local.

Memory per rank: its shard, one block in flight and the running output, O(L_r * D),
never an ``L x L`` matrix. Traffic per rank and step: one K/V block, ``B*H*L_r*(D+Dv)``
elements (twice that in the backward). A ``WindowPattern`` needs only the neighbours'
halo (``halo.py``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from .blocks import Masking, block_backward, block_forward, block_mask, merge
from .comm import recv, send, wait_all
from .sharding import Layout

__all__ = ["run_ring"]

_TAG_K, _TAG_V, _TAG_DK, _TAG_DV = 11, 12, 13, 14


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _pairs(layout: Layout, rank: int, src: int):
    """``(q_local, qs, qe, k_local, ks, ke)`` for every run pair of this rank's queries and
    ``src``'s keys."""
    for ql, qs, qe in layout.local_runs(rank):
        for kl, ks, ke in layout.local_runs(src):
            yield ql, qs, qe, kl, ks, ke


def _accumulate(total: torch.Tensor | None, rows: slice, g: torch.Tensor, n: int,
                acc: torch.dtype) -> torch.Tensor:
    """``total[:, :, rows] += g``; a first ``g`` covering all ``n`` rows becomes the total
    itself (no zeros buffer: one block-sized tensor less per rank)."""
    if total is None:
        if rows.start == 0 and rows.stop == n and g.dtype == acc:
            return g.contiguous()  # the flash backward gives (B, L, H, D) strides; sends need rows
        total = g.new_zeros(*g.shape[:2], n, g.shape[3], dtype=acc)
    total[:, :, rows] += g
    return total


class _RingAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, layout: Layout, masking: Masking, scale: float,  # type: ignore[override]
                group: dist.ProcessGroup | None, rank: int):
        world = layout.world
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()  # sent and sliced every step
        b, h, lq, _ = q.shape
        dv = v.shape[-1]
        acc = _acc(q.dtype)
        out = q.new_zeros(b, h, lq, dv, dtype=acc)
        lse = q.new_full((b, h, lq), float("-inf"), dtype=acc)
        nxt, prv = (rank + 1) % world, (rank - 1) % world
        kb, vb = k, v
        for s in range(world):
            src = (rank - s) % world
            works: list = []
            if s < world - 1:  # the next block travels while this one is computed
                n_in = layout.length((rank - s - 1) % world)
                k_in, v_in = k.new_empty(b, h, n_in, k.shape[-1]), v.new_empty(b, h, n_in, dv)
                works = (send(kb, nxt, group, _TAG_K) + send(vb, nxt, group, _TAG_V)
                         + recv(k_in, prv, group, _TAG_K) + recv(v_in, prv, group, _TAG_V))
            for ql, qs, qe, kl, ks, ke in _pairs(layout, rank, src):
                bm = block_mask(masking, qs, qe, ks, ke, q.dtype, q.device)
                if bm is None:
                    continue
                o, l_ = block_forward(q[:, :, ql:ql + qe - qs], kb[:, :, kl:kl + ke - ks],
                                      vb[:, :, kl:kl + ke - ks], bm, scale)
                merge(out[:, :, ql:ql + qe - qs], lse[:, :, ql:ql + qe - qs], o, l_)
            if s < world - 1:
                wait_all(works)
                kb, vb = k_in, v_in
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.layout, ctx.masking, ctx.scale, ctx.group, ctx.rank = layout, masking, scale, group, rank
        return out

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        q, k, v, out, lse = ctx.saved_tensors
        layout, masking, scale, group, rank = ctx.layout, ctx.masking, ctx.scale, ctx.group, ctx.rank
        world = layout.world
        b, h, lq, d = q.shape
        dv = v.shape[-1]
        acc = _acc(q.dtype)
        lse = lse.masked_fill(torch.isneginf(lse), float("inf"))  # rows empty everywhere
        dq = None
        nxt, prv = (rank + 1) % world, (rank - 1) % world
        kb, vb = k, v
        sums_in: tuple[torch.Tensor, torch.Tensor] | None = None
        sum_works: list = []
        pending_sends: list = []
        for s in range(world):
            src = (rank - s) % world
            kv_works: list = []
            if s < world - 1:
                n_in = layout.length((rank - s - 1) % world)
                k_in, v_in = k.new_empty(b, h, n_in, d), v.new_empty(b, h, n_in, dv)
                kv_works = (send(kb, nxt, group, _TAG_K) + send(vb, nxt, group, _TAG_V)
                            + recv(k_in, prv, group, _TAG_K) + recv(v_in, prv, group, _TAG_V))
            n_src = layout.length(src)
            dk_b = dv_b = None
            for ql, qs, qe, kl, ks, ke in _pairs(layout, rank, src):
                bm = block_mask(masking, qs, qe, ks, ke, q.dtype, q.device)
                if bm is None:
                    continue
                rq, rk = slice(ql, ql + qe - qs), slice(kl, kl + ke - ks)
                gq, gk, gv = block_backward(dout[:, :, rq], q[:, :, rq], kb[:, :, rk], vb[:, :, rk],
                                            out[:, :, rq], lse[:, :, rq], bm, scale)
                dq = _accumulate(dq, rq, gq, lq, acc)
                dk_b = _accumulate(dk_b, rk, gk, n_src, acc)
                dv_b = _accumulate(dv_b, rk, gv, n_src, acc)
            dk_b = q.new_zeros(b, h, n_src, d, dtype=acc) if dk_b is None else dk_b
            dv_b = q.new_zeros(b, h, n_src, dv, dtype=acc) if dv_b is None else dv_b
            if world == 1:
                sums_in = (dk_b, dv_b)
                break
            if sums_in is not None:  # the sums of the ranks that held this block before
                wait_all(sum_works)
                dk_b += sums_in[0]
                dv_b += sums_in[1]
                sums_in = None
            wait_all(pending_sends)  # the previous sums are out by now: free them first
            n_next = layout.length((rank - s - 1) % world)  # after the last step: our own block
            sums_in = (q.new_empty(b, h, n_next, d, dtype=acc), q.new_empty(b, h, n_next, dv, dtype=acc))
            pending_sends = send(dk_b, nxt, group, _TAG_DK) + send(dv_b, nxt, group, _TAG_DV)
            sum_works = recv(sums_in[0], prv, group, _TAG_DK) + recv(sums_in[1], prv, group, _TAG_DV)
            if s < world - 1:
                wait_all(kv_works)
                kb, vb = k_in, v_in
        wait_all(sum_works)
        wait_all(pending_sends)
        dk, dvv = sums_in
        dq = q.new_zeros(b, h, lq, d, dtype=acc) if dq is None else dq
        return dq.to(q.dtype), dk.to(k.dtype), dvv.to(v.dtype), None, None, None, None, None


def run_ring(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: Layout, masking: Masking,
             scale: float, group: dist.ProcessGroup | None, rank: int) -> torch.Tensor:
    """The ring on validated inputs (``ring_attention`` checks them)."""
    return _RingAttention.apply(q, k, v, layout, masking, scale, group, rank)
