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

``HaloExchange`` is the exchange as an autograd function: backward sends the halo's key
and value gradients back to their owners, who add them to their own.
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


def _exchange(xs: tuple[torch.Tensor, ...], out_ranges, in_ranges, own_start: int, tags,
              group) -> tuple[list, list[list[torch.Tensor]]]:
    """Send the slices ``out_ranges`` of each local ``x`` (rows from ``own_start``) and
    receive ``in_ranges``; returns the works and, per tensor, the received pieces."""
    works: list = []
    got: list[list[torch.Tensor]] = [[] for _ in xs]
    for peer, s, e in out_ranges:
        for x, tag in zip(xs, tags, strict=True):
            works += send(x[:, :, s - own_start:e - own_start], peer, group, tag)
    for peer, s, e in in_ranges:
        for i, (x, tag) in enumerate(zip(xs, tags, strict=True)):
            buf = x.new_empty(x.shape[0], x.shape[1], e - s, x.shape[3])
            works += recv(buf, peer, group, tag)
            got[i].append(buf)
    return works, got


class HaloExchange(torch.autograd.Function):
    """``(k, v)`` of this shard -> ``(k, v)`` on the extended range ``plan.start..stop``."""

    @staticmethod
    def forward(ctx, k, v, plan: HaloPlan, group):  # type: ignore[override]
        works, got = _exchange((k, v), plan.sends, plan.recvs, plan.own[0], (_TAG_K, _TAG_V), group)
        wait_all(works)
        ctx.plan, ctx.group = plan, group
        outs = []
        for x, pieces in zip((k, v), got, strict=True):
            order = [(s, p) for (_, s, _), p in zip(plan.recvs, pieces, strict=True)]
            order.append((plan.own[0], x))
            outs.append(torch.cat([p for _, p in sorted(order, key=lambda t: t[0])], 2))
        return outs[0], outs[1]

    @staticmethod
    def backward(ctx, dk_ext, dv_ext):  # type: ignore[override]
        plan, group = ctx.plan, ctx.group
        lo = plan.start
        own_s, own_e = plan.own
        # the halo's gradients go back to their owners; ours come back from the peers
        back = [(peer, s, e) for peer, s, e in plan.recvs]
        works: list = []
        for peer, s, e in back:
            works += send(dk_ext[:, :, s - lo:e - lo], peer, group, _TAG_DK)
            works += send(dv_ext[:, :, s - lo:e - lo], peer, group, _TAG_DV)
        got = []
        for peer, s, e in plan.sends:
            gk = dk_ext.new_empty(dk_ext.shape[0], dk_ext.shape[1], e - s, dk_ext.shape[3])
            gv = dv_ext.new_empty(dv_ext.shape[0], dv_ext.shape[1], e - s, dv_ext.shape[3])
            works += recv(gk, peer, group, _TAG_DK) + recv(gv, peer, group, _TAG_DV)
            got.append((s, e, gk, gv))
        dk = dk_ext[:, :, own_s - lo:own_e - lo].clone()
        dv = dv_ext[:, :, own_s - lo:own_e - lo].clone()
        wait_all(works)
        for s, e, gk, gv in got:
            dk[:, :, s - own_s:e - own_s] += gk
            dv[:, :, s - own_s:e - own_s] += gv
        return dk, dv, None, None


def halo_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pattern: WindowPattern,
                   layout: Layout, rank: int, group: dist.ProcessGroup | None, *,
                   causal: bool = False, key_lengths: torch.Tensor | None = None,
                   offsets: torch.Tensor | None = None, scale: float | None = None) -> torch.Tensor:
    """``(B, H, L_r, Dv)`` window attention of this shard's queries; ``offsets``: global
    packed set boundaries (then ``B = 1``)."""
    plan = halo_plan(layout, rank, pattern)
    lq = q.shape[2]
    if lq == 0:  # an empty shard has nothing to send and needs nothing (plan is empty)
        return q.new_zeros(*q.shape[:3], v.shape[-1]) + 0.0 * (q.sum() + k.sum() + v.sum())
    k_ext, v_ext = HaloExchange.apply(k, v, plan, group)
    n_ext = plan.stop - plan.start
    q_ext = F.pad(q, (0, 0, plan.before, n_ext - plan.before - lq))
    if offsets is None:
        kl = None if key_lengths is None else (key_lengths - plan.start).clamp(0, n_ext)
        out = attention(q_ext, k_ext, v_ext, pattern=pattern, causal=causal, key_lengths=kl,
                        scale=scale)
    else:
        off = (offsets.clamp(plan.start, plan.stop) - plan.start).to(torch.long)
        packed = [x[0].transpose(0, 1) for x in (q_ext, k_ext, v_ext)]  # (N_ext, H, D)
        out = pattern_varlen_attention(*packed, off, pattern, causal=causal, scale=scale)
        out = out.transpose(0, 1)[None]
    return out[:, :, plan.before:plan.before + lq]
