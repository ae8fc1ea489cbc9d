"""Exact sequence-parallel (ring) attention over ``torch.distributed``, in sub-rings of chunks.

One long sequence of ``L`` positions is split along its length over the ``N`` ranks of a
group (``sharding.py``); rank ``r`` holds ``q, k, v`` of its positions, ``(B, H, L_r, D)``.
The lecture's long-sequence problem (L^2 work and memory) is spread over the ranks: every
key/value block visits every rank around the ring ``r -> r+1``; each rank attends its
queries to the block it holds and merges the partial softmaxes by their log-sum-exp
(``blocks.merge``), which gives *exactly* the softmax over all keys.

Sub-rings (memory). Each rank's shard is cut into chunks of ``rows`` positions (a zigzag
shard: the j-th chunk of each of its two runs together, so causal work stays balanced in
every round). Round ``(j, s)``: rank ``r`` holds chunk ``j`` of rank ``r - s``, attends to it
(query chunk by query chunk) and passes it on; after ``N`` rounds chunk ``j`` of every rank
has visited every rank and sub-ring ``j + 1`` starts from the ranks' own chunks. A rank
thus holds two key/value chunks at a time (the one it computes, the next one arriving), not
whole blocks: per-rank memory is its shard's output (and in the backward ``dQ, dK, dV``) plus
a constant number of chunk-sized buffers, independent of ``L`` and ``N``.

Overlap. Each round posts the send of its chunk and the receive of the next round's chunk
(``isend``/``irecv``) *before* computing, and waits after, so transfer hides behind compute
when a chunk's work outlasts its transfer. ``overlap=False`` waits for every transfer before
computing (the same messages), to measure what the overlap gains.

Backward (``_RingAttention.backward``): the chunks go round again, and each carries the
running sums of its ``dK, dV``: rank ``r`` adds its queries' share (the flash backward with
the merged output and log-sum-exp) to the sums it received with the chunk and passes them
on; after the last round of a sub-ring the sums reach the chunk's owner, complete. ``dQ``
stays local. Half precision travels as it is and is computed in float32 block by block
(the flash op's half outputs, rounded per block and summed over many chunks, would add
error that single-process attention, one call, does not have).

Traffic per rank and step: one K/V block, ``B*H*L_r*(D+Dv)`` elements, in chunks (twice
that in the backward). A ``WindowPattern`` needs only the halo (``halo.py``).
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from .blocks import Masking, block_backward, block_forward, block_mask, merge
from .comm import recv, send, wait_all
from .sharding import Layout

__all__ = ["chunk_rows", "run_ring", "sub_shards"]

_TAG_K, _TAG_V, _TAG_DK, _TAG_DV = 11, 12, 13, 14

Piece = tuple[int, int, int]  # (local start, global start, global stop)


def chunk_rows(b: int, h: int, d: int, dv: int) -> int:
    """Default chunk: about 2^15 elements per ``(B, H, rows, D)`` buffer, at least 128 rows.
    Measured (one rank, L = 8192, H = 1, D = 64, float32, forward + backward): 512 rows ran
    at 0.98x the time of F.sdpa on the whole sequence, 256 rows at 1.09x (the per-call
    overhead shows), 1024 at 0.94x (once, on the shared machine); a rank holds about 17
    chunk-sized buffers at its peak."""
    return max(128, (1 << 15) // max(1, b * h * max(d, dv)))


def sub_shards(layout: Layout, rank: int, rows: int) -> list[list[Piece]]:
    """Chunk ``j`` of ``rank``'s shard: the ``j``-th piece of each of its runs, ``rows``
    positions in all (a zigzag shard's two runs give ``rows / 2`` each)."""
    runs = layout.local_runs(rank)
    rows = max(1, rows // max(1, max(len(r) for r in layout.runs)))
    count = max((-(-(e - s) // rows) for _, s, e in runs), default=0)
    out = []
    for j in range(count):
        out.append([(lo + j * rows, s + j * rows, min(s + (j + 1) * rows, e))
                    for lo, s, e in runs if s + j * rows < e])
    return out


def _acc(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def _rows(p: Piece) -> slice:
    return slice(p[0], p[0] + p[2] - p[1])


class _Plan:
    """Every rank's chunks and the ring neighbours, shared by forward and backward."""

    def __init__(self, layout: Layout, rank: int, rows: int) -> None:
        self.world, self.rank = layout.world, rank
        self.chunks = [sub_shards(layout, p, rows) for p in range(layout.world)]
        self.rounds = max((len(c) for c in self.chunks), default=0)
        self.queries = [p for sub in self.chunks[rank] for p in sub]
        self.nxt, self.prv = (rank + 1) % self.world, (rank - 1) % self.world

    def chunk(self, src: int, j: int) -> list[Piece]:
        subs = self.chunks[src % self.world]
        return subs[j] if j < len(subs) else []

    def own(self, k: torch.Tensor, v: torch.Tensor, j: int):
        return [(p, k[:, :, _rows(p)], v[:, :, _rows(p)]) for p in self.chunk(self.rank, j)]

    def pass_on(self, cur, j: int, s: int, group, b: int, h: int, like_k, like_v, overlap: bool):
        """Post the send of ``cur`` and the receive of the next round's chunk (none after the
        last round of a sub-ring); ``(works, incoming)``."""
        if s == self.world - 1:
            return [], []
        incoming = [(p, like_k.new_empty(b, h, p[2] - p[1], like_k.shape[-1]),
                     like_v.new_empty(b, h, p[2] - p[1], like_v.shape[-1]))
                    for p in self.chunk(self.rank - s - 1, j)]
        works: list = []
        for _, kc, vc in cur:
            works += send(kc, self.nxt, group, _TAG_K) + send(vc, self.nxt, group, _TAG_V)
        for _, kc, vc in incoming:
            works += recv(kc, self.prv, group, _TAG_K) + recv(vc, self.prv, group, _TAG_V)
        if not overlap:
            wait_all(works)
        return works, incoming


class _RingAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, layout: Layout, masking: Masking, scale: float,  # type: ignore[override]
                group: dist.ProcessGroup | None, rank: int, rows: int, overlap: bool):
        plan = _Plan(layout, rank, rows)
        b, h, lq, _ = q.shape
        acc = _acc(q.dtype)
        out = q.new_zeros(b, h, lq, v.shape[-1], dtype=acc)
        lse = q.new_full((b, h, lq), float("-inf"), dtype=acc)
        for j in range(plan.rounds):
            cur = plan.own(k, v, j)
            for s in range(plan.world):
                works, incoming = plan.pass_on(cur, j, s, group, b, h, k, v, overlap)
                for kp, kc, vc in cur:
                    kc, vc = kc.to(acc), vc.to(acc)
                    for qp in plan.queries:
                        bm = block_mask(masking, qp[1], qp[2], kp[1], kp[2], acc, q.device)
                        if bm is None:
                            continue
                        o, l_ = block_forward(q[:, :, _rows(qp)].to(acc), kc, vc, bm, scale)
                        merge(out[:, :, _rows(qp)], lse[:, :, _rows(qp)], o, l_)
                wait_all(works)
                cur = incoming
        out = out.to(q.dtype)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.plan, ctx.masking, ctx.scale, ctx.group, ctx.overlap = plan, masking, scale, group, overlap
        return out

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        q, k, v, out, lse = ctx.saved_tensors
        plan, masking, scale, group, overlap = ctx.plan, ctx.masking, ctx.scale, ctx.group, ctx.overlap
        b, h, lq, d = q.shape
        dv = v.shape[-1]
        acc = _acc(q.dtype)
        lse = lse.masked_fill(torch.isneginf(lse), float("inf"))  # rows empty everywhere
        dq = q.new_zeros(b, h, lq, d, dtype=acc)
        dk = q.new_zeros(b, h, lq, d, dtype=acc)
        dvv = q.new_zeros(b, h, lq, dv, dtype=acc)
        sums_in: list = []  # the sums posted for the chunk of the next round
        sum_works: list = []
        pending_sends: list = []

        def finish(pieces) -> None:  # our own chunk's sums, complete after a whole sub-ring
            for p, gk, gv in pieces:
                dk[:, :, _rows(p)] += gk
                dvv[:, :, _rows(p)] += gv

        for j in range(plan.rounds):
            cur = plan.own(k, v, j)
            for s in range(plan.world):
                kv_works, incoming = plan.pass_on(cur, j, s, group, b, h, k, v, overlap)
                sums = []
                for kp, kc, vc in cur:
                    kc, vc = kc.to(acc), vc.to(acc)
                    gk_sum = q.new_zeros(b, h, kp[2] - kp[1], d, dtype=acc)
                    gv_sum = q.new_zeros(b, h, kp[2] - kp[1], dv, dtype=acc)
                    for qp in plan.queries:
                        bm = block_mask(masking, qp[1], qp[2], kp[1], kp[2], acc, q.device)
                        if bm is None:
                            continue
                        r = _rows(qp)
                        gq, gk, gv = block_backward(dout[:, :, r].to(acc), q[:, :, r].to(acc), kc, vc,
                                                    out[:, :, r].to(acc), lse[:, :, r], bm, scale)
                        dq[:, :, r] += gq
                        gk_sum += gk
                        gv_sum += gv
                    sums.append((kp, gk_sum, gv_sum))
                if plan.world == 1:
                    finish(sums)
                    continue
                wait_all(sum_works)
                if s > 0:  # the sums of the ranks that held this chunk before
                    for (_, gk_sum, gv_sum), (_, gk_in, gv_in) in zip(sums, sums_in, strict=True):
                        gk_sum += gk_in
                        gv_sum += gv_in
                else:  # what arrived last is our own previous chunk, complete
                    finish(sums_in)
                wait_all(pending_sends)  # the previous sums are out by now: free them first
                for _, gk_sum, gv_sum in sums:
                    pending_sends += (send(gk_sum, plan.nxt, group, _TAG_DK)
                                      + send(gv_sum, plan.nxt, group, _TAG_DV))
                # after the last round of a sub-ring: our own chunk j, complete
                sums_in = [(p, q.new_empty(b, h, p[2] - p[1], d, dtype=acc),
                            q.new_empty(b, h, p[2] - p[1], dv, dtype=acc))
                           for p in plan.chunk(plan.rank - s - 1, j)]
                for _, gk_in, gv_in in sums_in:
                    sum_works += (recv(gk_in, plan.prv, group, _TAG_DK)
                                  + recv(gv_in, plan.prv, group, _TAG_DV))
                if not overlap:
                    wait_all(sum_works)
                    wait_all(pending_sends)
                wait_all(kv_works)
                cur = incoming
        wait_all(sum_works)
        wait_all(pending_sends)
        if plan.world > 1:
            finish(sums_in)
        return (dq.to(q.dtype), dk.to(k.dtype), dvv.to(v.dtype), None, None, None, None, None,
                None, None)


def run_ring(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layout: Layout, masking: Masking,
             scale: float, group: dist.ProcessGroup | None, rank: int, rows: int,
             overlap: bool = True) -> torch.Tensor:
    """The ring on validated inputs (``ring_attention`` checks them)."""
    return _RingAttention.apply(q, k, v, layout, masking, scale, group, rank, rows, overlap)
