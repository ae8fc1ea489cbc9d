"""Window attention on a sharded sequence: exchange only the halo, O(w) traffic per rank.

Under a ``WindowPattern`` (query ``p`` sees keys ``p - left*d ... p + right*d``) the queries
of a contiguous shard ``[s, e)`` need keys ``[s - left*d, e + right*d)`` only: the shard
itself plus a *halo* of ``left*d`` keys before and ``right*d`` after, owned by the
neighbours (by farther ranks too when shards are shorter than the reach). Each rank sends
the neighbours the slices they need, ``B*H*(left+right)*d*(D+Dv)`` elements in all,
however long the sequence, and then every query has all its keys locally: the softmax is
complete, no log-sum-exp merge is needed, and the window kernel of
``selfattn.functional`` runs on the extended keys. A window depends only on position
differences, so the extended sequence ``[s - left*d, e + right*d)`` gives the same pairs
as the global one; its queries outside ``[s, e)`` are zero rows whose outputs are dropped
(O(w) wasted rows, no new kernel).

Overlap, and no extended copies: the sends and receives are posted (``HaloPost``), the
window kernel runs on the shard alone, whose *interior* rows (more than a reach from either
end) are already exact, and only then is the halo waited for (``HaloWait``); the ``reach``
rows at each end are recomputed on a short range made of the halo and the shard's end,
and the three parts are concatenated. No shard-sized copy of ``k``, ``v`` or ``q`` is made.
A shard shorter than the two reaches runs once on the whole extended range. Backward
mirrors it: ``HaloWait``'s backward posts the halo's key and value gradients back to their
owners (and the receives of ours), the interior's backward runs meanwhile, and
``HaloPost``'s backward waits and adds what the peers sent to the shard's own gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F

from ..functional import attention
from ..functional.sparse.varlen import pattern_varlen_attention
from ..patterns.window import WindowPattern
from .comm import recv, send, wait_all
from .sharding import Layout

__all__ = ["HaloPlan", "halo_attention", "halo_plan"]

_TAG_K, _TAG_V, _TAG_DK, _TAG_DV = 21, 22, 23, 24


@dataclass(frozen=True)
class HaloPlan:
    """This rank's part of the exchange; ranges are global positions ``[start, stop)``."""

    start: int  # first position of the extended range
    stop: int
    own: tuple[int, int]  # this rank's shard
    sends: tuple[tuple[int, int, int], ...]  # (peer, start, stop) of our rows a peer needs
    recvs: tuple[tuple[int, int, int], ...]  # (peer, start, stop) of a peer's rows we need

    @property
    def before(self) -> int:
        """Halo rows before the shard in the extended range."""
        return self.own[0] - self.start


def halo_plan(layout: Layout, rank: int, pattern: WindowPattern) -> HaloPlan:
    """Who sends what to whom for ``pattern`` on a contiguous ``layout``."""
    reach_l = pattern.left * pattern.dilation
    reach_r = pattern.right * pattern.dilation  # type: ignore[operator]
    shards = [layout.runs[p][0] for p in range(layout.world)]

    def need(p: int) -> tuple[int, int]:
        s, e = shards[p]
        if e <= s:
            return s, s  # no queries, no keys needed
        return max(0, s - reach_l), min(layout.total, e + reach_r)

    def overlap(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        return max(a[0], b[0]), min(a[1], b[1])

    own = shards[rank]
    sends, recvs = [], []
    for p in range(layout.world):
        if p == rank:
            continue
        s, e = overlap(own, need(p))
        if e > s:
            sends.append((p, s, e))
        s, e = overlap(shards[p], need(rank))
        if e > s:
            recvs.append((p, s, e))
    start, stop = need(rank)
    return HaloPlan(start, stop, own, tuple(sends), tuple(recvs))


class _State:
    """The works of one exchange, shared by its two autograd nodes."""

    def __init__(self, plan: HaloPlan, group, k: torch.Tensor, v: torch.Tensor) -> None:
        self.plan, self.group = plan, group
        self.like = (k.detach(), v.detach())  # dtype, batch and heads of the gradients
        self.works: list = []
        self.back_works: list = []
        self.back_got: list = []
        self.back_posted = False

    def post_back(self, grads: list[torch.Tensor | None], overlap: bool) -> None:
        """Send the halo's gradients to their owners; receive those of our rows."""
        plan, group = self.plan, self.group
        like_k, like_v = self.like
        for (peer, s, e), gk, gv in zip(plan.recvs, grads[0::2], grads[1::2], strict=True):
            gk = like_k.new_zeros(*like_k.shape[:2], e - s, like_k.shape[3]) if gk is None else gk
            gv = like_v.new_zeros(*like_v.shape[:2], e - s, like_v.shape[3]) if gv is None else gv
            self.back_works += send(gk, peer, group, _TAG_DK) + send(gv, peer, group, _TAG_DV)
        for peer, s, e in plan.sends:
            gk = like_k.new_empty(*like_k.shape[:2], e - s, like_k.shape[3])
            gv = like_v.new_empty(*like_v.shape[:2], e - s, like_v.shape[3])
            self.back_works += recv(gk, peer, group, _TAG_DK) + recv(gv, peer, group, _TAG_DV)
            self.back_got.append((s, e, gk, gv))
        self.back_posted = True
        if not overlap:
            wait_all(self.back_works)


class HaloPost(torch.autograd.Function):
    """``(k, v)`` -> ``(k, v, *halo)``: posts the exchange; the halo buffers (``k`` and ``v``
    of each ``plan.recvs`` range, in turn) are filled in the background until ``HaloWait``."""

    @staticmethod
    def forward(ctx, k, v, state: _State, overlap: bool):  # type: ignore[override]
        plan, group = state.plan, state.group
        own = plan.own[0]
        for peer, s, e in plan.sends:
            state.works += send(k[:, :, s - own:e - own], peer, group, _TAG_K)
            state.works += send(v[:, :, s - own:e - own], peer, group, _TAG_V)
        halo = []
        for peer, s, e in plan.recvs:
            kb = k.new_empty(*k.shape[:2], e - s, k.shape[3])
            vb = v.new_empty(*v.shape[:2], e - s, v.shape[3])
            state.works += recv(kb, peer, group, _TAG_K) + recv(vb, peer, group, _TAG_V)
            halo += [kb, vb]
        if not overlap:
            wait_all(state.works)
        ctx.state, ctx.overlap = state, overlap
        return (k.view_as(k), v.view_as(v), *halo)

    @staticmethod
    def backward(ctx, dk, dv, *_):  # type: ignore[override]
        state = ctx.state
        if not state.back_posted:  # no halo came in: post here
            state.post_back([None] * (2 * len(state.plan.recvs)), ctx.overlap)
        wait_all(state.back_works)
        own = state.plan.own[0]
        dk, dv = dk.clone(), dv.clone()
        for s, e, gk, gv in state.back_got:
            dk[:, :, s - own:e - own] += gk
            dv[:, :, s - own:e - own] += gv
        return dk, dv, None, None


class HaloWait(torch.autograd.Function):
    """Waits for the halo; backward posts its gradients' way back (``_State.post_back``)."""

    @staticmethod
    def forward(ctx, state: _State, overlap: bool, *halo):  # type: ignore[override]
        wait_all(state.works)
        ctx.state, ctx.overlap = state, overlap
        return tuple(x.view_as(x) for x in halo)

    @staticmethod
    def backward(ctx, *grads):  # type: ignore[override]
        ctx.state.post_back(list(grads), ctx.overlap)
        return (None, None, *[None] * len(grads))  # HaloPost ignores its halo's gradients


def _window(q, k, v, pattern, start: int, causal: bool, key_lengths, offsets, scale):
    """Window attention of the rows ``q, k, v`` holding global positions ``start ...``."""
    n = q.shape[2]
    if offsets is None:
        kl = None if key_lengths is None else (key_lengths - start).clamp(0, n)
        return attention(q, k, v, pattern=pattern, causal=causal, key_lengths=kl, scale=scale)
    off = (offsets.clamp(start, start + n) - start).to(torch.long)
    packed = [x[0].transpose(0, 1) for x in (q, k, v)]  # (N, H, D)
    out = pattern_varlen_attention(*packed, off, pattern, causal=causal, scale=scale)
    return out.transpose(0, 1)[None]


def halo_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pattern: WindowPattern,
                   layout: Layout, rank: int, group: dist.ProcessGroup | None, *,
                   causal: bool = False, key_lengths: torch.Tensor | None = None,
                   offsets: torch.Tensor | None = None, scale: float | None = None,
                   overlap: bool = True) -> torch.Tensor:
    """``(B, H, L_r, Dv)`` window attention of this shard's queries; ``offsets``: global
    packed set boundaries (then ``B = 1``)."""
    plan = halo_plan(layout, rank, pattern)
    lq = q.shape[2]
    if lq == 0:  # an empty shard has nothing to send and needs nothing (plan is empty)
        return q.new_zeros(*q.shape[:3], v.shape[-1]) + 0.0 * (q.sum() + k.sum() + v.sum())
    opts = dict(causal=causal, key_lengths=key_lengths, offsets=offsets, scale=scale)
    if not plan.sends and not plan.recvs:
        return _window(q, k, v, pattern, plan.own[0], **opts)
    state = _State(plan, group, k, v)
    k_own, v_own, *posted = HaloPost.apply(k, v, state, overlap)
    s0, e0 = plan.own
    reach_l = pattern.left * pattern.dilation
    reach_r = pattern.right * pattern.dilation  # type: ignore[operator]
    n_l = min(lq, reach_l) if plan.start < s0 else 0  # rows that need keys of the left halo
    n_r = min(lq, reach_r) if plan.stop > e0 else 0
    split = n_l + n_r < lq
    inner = _window(q, k_own, v_own, pattern, s0, **opts) if split else None  # while the halo travels
    halo = HaloWait.apply(state, overlap, *posted) if posted else ()
    if not posted:
        wait_all(state.works)  # our sends only
    before = [(s, kb, vb) for (_, s, _), kb, vb in zip(plan.recvs, halo[0::2], halo[1::2], strict=True)
              if s < s0]
    after = [(s, kb, vb) for (_, s, _), kb, vb in zip(plan.recvs, halo[0::2], halo[1::2], strict=True)
             if s >= e0]

    def edge(lo: int, hi: int, q_lo: int, q_hi: int) -> torch.Tensor:
        """Exact outputs of queries ``[q_lo, q_hi)`` from keys ``[lo, hi)`` (halo + own rows)."""
        a, b = max(lo, s0), min(hi, e0)
        ks = [x for s, x, _ in sorted(before, key=lambda t: t[0])] if lo < s0 else []
        vs = [x for s, _, x in sorted(before, key=lambda t: t[0])] if lo < s0 else []
        ks.append(k_own[:, :, a - s0:b - s0])
        vs.append(v_own[:, :, a - s0:b - s0])
        if hi > e0:
            ks += [x for s, x, _ in sorted(after, key=lambda t: t[0])]
            vs += [x for s, _, x in sorted(after, key=lambda t: t[0])]
        qs = F.pad(q[:, :, q_lo - s0:q_hi - s0], (0, 0, q_lo - lo, hi - q_hi))
        out = _window(qs, torch.cat(ks, 2), torch.cat(vs, 2), pattern, lo, **opts)
        return out[:, :, q_lo - lo:q_hi - lo]

    if not split:  # a short shard: one run over the whole extended range
        return edge(plan.start, plan.stop, s0, e0)
    parts = []
    if n_l:
        parts.append(edge(plan.start, min(plan.stop, s0 + n_l + reach_r), s0, s0 + n_l))
    parts.append(inner[:, :, n_l:lq - n_r])
    if n_r:
        parts.append(edge(max(plan.start, e0 - n_r - reach_l), plan.stop, e0 - n_r, e0))
    return torch.cat(parts, 2)
