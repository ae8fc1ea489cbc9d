"""One (query run, key run) block of ring attention: its mask, its flash forward and backward.

A block pairs a run of this rank's queries with a run of keys (from any rank), both given
by global positions. Its mask comes from the positions alone: causal (``key <= query``),
the key padding of ``key_lengths`` (keys at or after ``key_lengths[b]`` are padding), and
packed sets (a query sees only keys of its own set, by segment ids found from the global
offsets for the block's positions only). Most blocks
need no dense mask at all: under causal a run of keys lies wholly before (full block),
wholly after (skipped) or on the diagonal (``is_causal``); a set that covers both runs, or
sets that miss each other, need none either.

Forward: ``(out, lse)`` of aten's CPU flash op on the block. Backward: the flash backward
with the *merged* output and log-sum-exp of the whole row, which is exactly this block's
share of the gradient (as in ``functional/sparse/tiles_flash.py``). Rows with no allowed
key in the block get one finite dummy column (the op must stay finite); their output is
zeroed and their log-sum-exp set to ``-inf`` so they carry no mass in the merge; in the
backward such rows get gradient 0 and log-sum-exp ``+inf``, so ``exp(s - lse)`` is exactly
0 there (with the row's true ``lse`` a large dummy score could overflow, and ``inf * 0``
is NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..functional.dense import flash_cpu

__all__ = ["BlockMask", "Masking", "block_backward", "block_forward", "block_mask", "merge"]

_NEG_INF = float("-inf")
_POS_INF = float("inf")
_FLASH_BWD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward


@dataclass(frozen=True)
class Masking:
    """What may attend to what, in global positions."""

    causal: bool = False
    key_lengths: torch.Tensor | None = None  # (B,) int, global
    offsets: torch.Tensor | None = None  # (S + 1,) int64: global packed set boundaries

    def segments(self, start: int, stop: int) -> torch.Tensor:
        """``(stop - start,)`` int64: the packed set of each position in ``[start, stop)``
        (computed per block, so no rank holds an ``(L,)`` tensor of the whole sequence)."""
        assert self.offsets is not None
        pos = torch.arange(start, stop, device=self.offsets.device)
        return torch.bucketize(pos, self.offsets, right=True) - 1


@dataclass
class BlockMask:
    attn_mask: torch.Tensor | None  # float (B|1, 1, Lq|1, Lk): 0 or -inf
    is_causal: bool
    empty: torch.Tensor | None  # bool (B|1, 1, Lq|1, 1): rows with no allowed key here


def block_mask(m: Masking, qs: int, qe: int, ks: int, ke: int, dtype: torch.dtype,
               device: torch.device) -> BlockMask | None:
    """The mask of queries ``[qs, qe)`` against keys ``[ks, ke)``, or None: nothing allowed."""
    if qe <= qs or ke <= ks:
        return None
    allowed: torch.Tensor | None = None
    is_causal = False
    if m.causal:
        if ks > qe - 1:
            return None  # every key after every query
        if ke - 1 > qs:  # some key after some query: not a full block
            if (qs, qe) == (ks, ke):
                is_causal = True
            else:
                q = torch.arange(qs, qe, device=device)[:, None]
                allowed = (torch.arange(ks, ke, device=device)[None, :] <= q)[None, None]
    if m.offsets is not None:
        sq, sk = m.segments(qs, qe), m.segments(ks, ke)
        # segment ids are non-decreasing along positions: compare the ends
        if int(sq[-1]) < int(sk[0]) or int(sk[-1]) < int(sq[0]):
            return None
        if not int(sq[0]) == int(sq[-1]) == int(sk[0]) == int(sk[-1]):
            same = (sq[:, None] == sk[None, :])[None, None]
            allowed = same if allowed is None else allowed & same
    if m.key_lengths is not None:
        km = torch.arange(ks, ke, device=device)[None, :] < m.key_lengths[:, None]  # (B, Lk)
        if not bool(km.any()):
            return None
        if not bool(km.all()):
            km = km[:, None, None, :]
            allowed = km if allowed is None else allowed & km
    empty = None
    if allowed is not None:
        if is_causal:  # the flash op's causal mask and a dense one together: fold causal in
            q = torch.arange(qs, qe, device=device)[:, None]
            allowed = allowed & (torch.arange(ks, ke, device=device)[None, :] <= q)[None, None]
            is_causal = False
        e = ~allowed.any(-1, keepdim=True)
        if bool(e.all()):
            return None
        if bool(e.any()):
            empty, allowed = e, allowed | e  # a finite dummy row; zeroed after
        allowed = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(
            ~allowed, _NEG_INF)
    return BlockMask(allowed, is_causal, empty)


def _one_size(*xs: torch.Tensor) -> list[torch.Tensor]:
    """The flash op needs one head size for q, k and v: zero columns change no dot product
    and no output (padded per block, so the ring sends the unpadded tensors)."""
    w = max(x.shape[-1] for x in xs)
    return [x if x.shape[-1] == w else F.pad(x, (0, w - x.shape[-1])) for x in xs]


def block_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bm: BlockMask,
                  scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out (B, H, Lq, D), lse (B, H, Lq))`` of the block; empty rows give 0 and -inf."""
    dv = v.shape[-1]
    q, k, v = _one_size(q, k, v)
    if bm.is_causal:
        out, lse = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
            q.contiguous(), k.contiguous(), v.contiguous(), is_causal=True, scale=scale)
    else:
        out, lse = flash_cpu(q, k, v, attn_mask=bm.attn_mask, scale=scale)
    out = out[..., :dv]
    if bm.empty is not None:
        out = out.masked_fill(bm.empty, 0.0)
        lse = lse.masked_fill(bm.empty[..., 0], _NEG_INF)
    return out, lse


def block_backward(dout: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   out: torch.Tensor, lse: torch.Tensor, bm: BlockMask, scale: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(dq, dk, dv)``: the block's share of the gradient, given the merged ``out`` and
    ``lse`` of its rows (``lse`` already ``+inf`` where a row is empty everywhere)."""
    if bm.empty is not None:
        dout = dout.masked_fill(bm.empty, 0.0)
        lse = lse.masked_fill(bm.empty[..., 0], _POS_INF)
    d, dv = q.shape[-1], v.shape[-1]
    dout, q, k, v, out = _one_size(dout, q, k, v, out)
    gq, gk, gv = _FLASH_BWD(dout.contiguous(), q.contiguous(), k.contiguous(), v.contiguous(),
                            out.contiguous(), lse.contiguous(), 0.0, bm.is_causal,
                            attn_mask=bm.attn_mask, scale=scale)
    return gq[..., :d], gk[..., :d], gv[..., :dv]


def merge(out: torch.Tensor, lse: torch.Tensor, o: torch.Tensor, lse_o: torch.Tensor) -> None:
    """Fold one block's ``(o, lse_o)`` into the running ``(out, lse)`` in place: the softmax
    over the union of keys is the blocks' outputs weighted by ``exp(lse_block - lse)``."""
    new = torch.logaddexp(lse, lse_o)
    safe = torch.where(torch.isneginf(new), torch.zeros_like(new), new)
    out.mul_(torch.exp(lse - safe)[..., None]).add_(o * torch.exp(lse_o - safe)[..., None])
    lse.copy_(new)
