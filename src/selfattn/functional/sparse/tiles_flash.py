"""The fused path of the tile engine: PyTorch's CPU flash kernel on batches of tiles.

Every part of a plan (``tiles.py``) is one call of
``aten._scaled_dot_product_flash_attention_for_cpu`` on all its tiles of all heads, which
returns the output and the log-sum-exp ``lse`` of each row; parts merge by their ``lse``.
The backward calls the flash backward per part with the *merged* output and ``lse``: that
is exactly the gradient of the joint softmax restricted to the part's keys, so no gradient
of ``lse`` is needed. Nothing is recomputed but the tile scores: the forward's ``lse`` and
its padded key/value buffers are kept, and each tile is visited once by one flash-backward
call that returns its dQ, dK and dV together.

Parallel work: each call spans (batch * head, tile) as the flash op's (batch, head) axes,
and the op splits its forward over (batch, head, query block) and its backward over
(batch, head), so every thread count gets many equal items; no sum is split across
threads, so results do not depend on the thread count
(``tests/patterns/test_sparse_threads.py``). The key gradients of overlapping band tiles are summed back by
``ceil(m / bq)`` shifted additions, gathered ones by ``index_add``; tiles are processed in
chunks so per-key-slot buffers stay small.

Empty rows (no allowed key) get one finite dummy column so that the flash op stays finite;
their output is zeroed and their log-sum-exp set to ``-inf`` (no mass in the merge). In the
backward a part's empty rows get an incoming gradient of zero *and* a log-sum-exp of
``+inf``, so the recomputed weights ``exp(s - lse)`` are exactly 0: with the true ``lse`` of
a row that is empty only here (or with 0 for a row empty everywhere), a dummy score above
~88 would overflow ``exp`` in float32 and ``inf * 0`` would make the gradients NaN.

Half precision: the flash op takes half q, k, v and accumulates in float32; the
log-sum-exp, the merge of parts and the key-gradient sums are kept in float32 as well
(``accumulation_dtype``), and results are rounded to the input dtype once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..bias import ScoreBias
from ..call import AttentionCall
from ..precision import accumulation_dtype
from .tile_plan import TileContext, TilePart, pair_terms, tile_rows

__all__ = ["flash_supported", "run_flash"]

_NEG_INF = float("-inf")
_POS_INF = float("inf")
_FLASH = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
_FLASH_BWD = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu_backward", None)


def flash_supported(call: AttentionCall) -> str | None:
    """None if the flash path computes this call exactly, else why not (the explicit path
    then does)."""
    if _FLASH is None or _FLASH_BWD is None:
        return "this PyTorch has no CPU flash attention op"
    if call.q.device.type != "cpu":
        return "the fused tile path is CPU-only"
    if call.score != "dot" or call.normalize != "softmax":
        return "the fused tile path computes dot-product softmax attention only"
    if call.dropout_p > 0 or call.need_weights:
        return "dropout or weights need the explicit tile path"
    bias = call.bias
    if isinstance(bias, torch.Tensor) and bias.requires_grad:
        return "a bias that needs a gradient"
    if isinstance(bias, ScoreBias) and any(p.requires_grad for p in bias.parameters()):
        return "a bias with trainable parameters"
    return None


@dataclass
class _FlashPart:
    part: TilePart
    mask: torch.Tensor  # float (B*H|1, T|1, bq, m): 0 / bias where allowed, -inf elsewhere
    empty: torch.Tensor | None  # bool (B*H|1, T, bq): rows with no allowed key in this part


def _merge_bh(t: torch.Tensor, b: int, h: int) -> torch.Tensor:
    """``(B|1, H|1, ...)`` -> ``(B*H|1, ...)``."""
    if t.shape[0] == 1 and t.shape[1] == 1:
        return t[0]
    return t.expand(b, h, *t.shape[2:]).reshape(b * h, *t.shape[2:])


def _flash_part(ctx: TileContext, part: TilePart) -> _FlashPart:
    call = ctx.call
    # Without per-call masks or biases the mask depends on the (cached) plan only.
    plain = (call.mask is None and call.key_mask is None and call.bias is None
             and ctx.segments is None)
    key = ("flash", call.q.dtype, call.q.device, call.causal, call.shape[2], call.shape[3])
    if plain and key in part.cache:
        return part.cache[key]
    fp = _build_flash_part(ctx, part)
    if plain:
        part.cache[key] = fp
    return fp


def _build_flash_part(ctx: TileContext, part: TilePart) -> _FlashPart:
    call = ctx.call
    b, h = call.shape[:2]
    allowed, bias = pair_terms(ctx, part)
    allowed = _merge_bh(allowed, b, h)
    if bias is None:
        fm = torch.zeros(allowed.shape, dtype=call.q.dtype, device=call.q.device)
    else:
        bias = _merge_bh(bias, b, h)
        shape = torch.broadcast_shapes(allowed.shape, bias.shape)
        fm, allowed = bias.expand(shape).clone(), allowed.expand(shape)
    fm = fm.masked_fill_(~allowed, _NEG_INF)
    empty = ~allowed.any(-1)
    if bool(empty.any()):
        fm[..., 0] = fm[..., 0].masked_fill(empty, 0.0)  # a finite dummy column; zeroed later
        empty = empty.expand(fm.shape[0], part.num_tiles, part.bq)
    else:
        empty = None
    return _FlashPart(part, fm, empty)


def _flat_q(x: torch.Tensor, part: TilePart, n: int) -> torch.Tensor:
    """``(N, L, D)`` -> ``(N, T, bq, D)``."""
    if part.q_rows is None:
        if part.num_tiles * part.bq != n:
            x = F.pad(x, (0, 0, 0, part.num_tiles * part.bq - n))
        return x.reshape(x.shape[0], part.num_tiles, part.bq, x.shape[-1])
    return torch.cat([x, x.new_zeros(x.shape[0], 1, x.shape[-1])], 1)[:, part.q_rows]


def _band_layout(part: TilePart, nbh: int, n: int) -> tuple[int, int, int]:
    seg = part.num_tiles * part.bq  # rows per (batch, head); >= n since Lq == Lk
    pre = part.k_offset
    post = max(0, (part.num_tiles - 1) * part.bq + part.m - part.k_offset - seg)
    return seg, pre, pre + nbh * seg + post


class _KeyTiles:
    """The key (or value) rows of every tile of a part, ``(N, T, m, D)``, served by chunks of
    tiles: a band is one strided view on a padded buffer (all tiles of all heads share one
    stride, so nothing is copied per tile); gathered rows are gathered chunk by chunk so
    that at most one chunk of copies exists at a time."""

    def __init__(self, x: torch.Tensor, part: TilePart, n: int) -> None:
        nbh, _, d = x.shape
        self.part = part
        if part.k_rows is None:
            seg, pre, total = _band_layout(part, nbh, n)
            flat = x.new_empty(total, d)
            flat[:pre].zero_()
            flat[pre + nbh * seg:].zero_()
            body = flat[pre:pre + nbh * seg].view(nbh, seg, d)
            body[:, :n] = x
            body[:, n:].zero_()
            # Tile (i, t) starts at buffer row pre + i*seg + t*bq - k_offset = i*seg + t*bq.
            self.view = flat.as_strided((nbh, part.num_tiles, part.m, d), (seg * d, part.bq * d, d, 1))
        else:
            self.padded = torch.cat([x, x.new_zeros(nbh, 1, d)], 1)

    def chunk(self, t0: int, t1: int) -> torch.Tensor:
        p = self.part
        if p.k_rows is None:
            return self.view[:, t0:t1]
        if p.k_rows.shape[0] == 1:  # one key list shared by every tile: no copy per tile
            g = self.padded[:, p.k_rows[0]]
            return g[:, None].expand(g.shape[0], t1 - t0, *g.shape[1:])
        return self.padded[:, p.k_rows[t0:t1]]


def _chunks(part: TilePart, nbh: int, width: int, itemsize: int) -> list[tuple[int, int]]:
    """Tile ranges whose per-key-slot buffers stay near ``_CHUNK_BYTES``."""
    step = max(1, _CHUNK_BYTES // max(1, nbh * part.m * width * itemsize))
    return [(t0, min(part.num_tiles, t0 + step)) for t0 in range(0, part.num_tiles, step)]


class _KeyGrad:
    """Accumulates the gradients of the key tiles of a part onto ``(N, L, D)`` rows, one
    chunk of tiles at a time: overlapping band tiles by shifted additions into the padded
    buffer (columns ``[c0, c0 + bq)`` of different tiles never overlap), gathered tiles by
    ``index_add``."""

    def __init__(self, part: TilePart, nbh: int, n: int, d: int, like: torch.Tensor,
                 dtype: torch.dtype) -> None:
        self.part, self.nbh, self.n, self.d = part, nbh, n, d
        dtype = accumulation_dtype(dtype)  # overlapping tiles' sums: not in half
        if part.k_rows is None:
            self.seg, self.pre, total = _band_layout(part, nbh, n)
            self.acc = like.new_zeros(total, d, dtype=dtype)
        else:
            self.acc = like.new_zeros(nbh, n + 1, d, dtype=dtype)

    def add(self, g: torch.Tensor, t0: int) -> None:
        p, nbh, d = self.part, self.nbh, self.d
        tc = g.shape[1]
        if p.k_rows is None:
            for c0 in range(0, p.m, p.bq):
                w = min(p.bq, p.m - c0)
                dst = self.acc.as_strided((nbh, tc, w, d), (self.seg * d, p.bq * d, d, 1),
                                          (t0 * p.bq + c0) * d)
                dst.add_(g[:, :, c0:c0 + w])
        else:
            rows = p.k_rows.expand(p.num_tiles, p.m)[t0:t0 + tc].reshape(-1)
            self.acc.index_add_(1, rows, g.reshape(nbh, -1, d).to(self.acc.dtype))

    def result(self) -> torch.Tensor:
        if self.part.k_rows is None:
            body = self.acc[self.pre:self.pre + self.nbh * self.seg]
            return body.view(self.nbh, self.seg, self.d)[:, :self.n]
        return self.acc[:, :self.n]


def _q_grad(g: torch.Tensor, part: TilePart, n: int) -> torch.Tensor:
    nbh, _, _, d = g.shape
    if part.q_rows is None:
        return g.reshape(nbh, -1, d)[:, :n]
    acc = g.new_zeros(nbh, n + 1, d, dtype=accumulation_dtype(g.dtype))
    rows = tile_rows(part, n, g.device).reshape(-1)
    return acc.index_add_(1, rows, g.reshape(nbh, -1, d).to(acc.dtype))[:, :n]


# Gathered key tiles and the flash backward's key gradients hold one row per key *slot*
# of every tile (m / bq times the keys of a band): both run on chunks of tiles so that
# such buffers stay near this size.
_CHUNK_BYTES = 4 * 2**20


def _to_rows(x: torch.Tensor, part: TilePart, n: int, fill: float) -> torch.Tensor:
    """Per-tile-row values ``(N, T, bq, *)`` -> per output row ``(N, n, *)``."""
    nbh = x.shape[0]
    flat = x.reshape(nbh, part.num_tiles * part.bq, *x.shape[3:])
    if part.q_rows is None:
        return flat[:, :n]
    acc = x.new_full((nbh, n + 1, *x.shape[3:]), fill)
    return acc.index_copy_(1, tile_rows(part, n, x.device).reshape(-1), flat)[:, :n]


class _FlashTiles(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, fparts, scale):  # type: ignore[override]
        lq = q.shape[1]
        lk = k.shape[1]
        acc = accumulation_dtype(q.dtype)  # the flash op's lse is float32 for half inputs
        outs, lses, tiles = [], [], []
        for fp in fparts:
            p = fp.part
            qt, kt, vt = _flat_q(q, p, lq), _KeyTiles(k, p, lk), _KeyTiles(v, p, lk)
            tiles.append((kt, vt))  # the padded key/value buffers, reused by the backward
            if p.k_rows is None:  # a band: views only, one call
                o, lse = _FLASH(qt, kt.view, vt.view, attn_mask=fp.mask, scale=scale)
            else:
                o = q.new_empty(*qt.shape[:3], v.shape[-1])
                lse = q.new_empty(qt.shape[:3], dtype=acc)
                for t0, t1 in _chunks(p, q.shape[0], max(q.shape[-1], v.shape[-1]), q.element_size()):
                    mask = fp.mask if fp.mask.shape[1] == 1 else fp.mask[:, t0:t1]
                    o[:, t0:t1], lse[:, t0:t1] = _FLASH(qt[:, t0:t1], kt.chunk(t0, t1), vt.chunk(t0, t1),
                                                        attn_mask=mask, scale=scale)
            if fp.empty is not None:
                o = o.masked_fill(fp.empty[..., None], 0.0)
                lse = lse.masked_fill(fp.empty, _NEG_INF)
            outs.append(_to_rows(o, p, lq, 0.0))
            lses.append(_to_rows(lse, p, lq, _NEG_INF))
        if len(fparts) == 1:
            out, lse = outs[0], lses[0]
        else:
            lse = torch.logsumexp(torch.stack(lses), 0)
            safe = torch.where(torch.isneginf(lse), torch.zeros_like(lse), lse)
            out = sum(torch.exp(x - safe)[..., None] * o.to(acc) for x, o in zip(lses, outs, strict=True))
        out = out.to(q.dtype).contiguous()
        ctx.save_for_backward(q, out, lse)
        ctx.fparts, ctx.scale, ctx.tiles = fparts, scale, tiles
        ctx.k_meta = (lk, k.shape[-1], v.shape[-1], k.dtype, v.dtype)
        return out

    @staticmethod
    def backward(ctx, dout):  # type: ignore[override]
        q, out, lse = ctx.saved_tensors
        nbh, lq, d = q.shape
        lk, _, dv, k_dtype, v_dtype = ctx.k_meta
        lse = lse.masked_fill(torch.isneginf(lse), _POS_INF)  # empty everywhere: weights exp(-inf)
        dout = dout.contiguous()
        dq = dk = dvv = None
        for fp, (kt, vt) in zip(ctx.fparts, ctx.tiles, strict=True):
            p = fp.part
            qt = _flat_q(q, p, lq)
            gt, ot = _flat_q(dout, p, lq), _flat_q(out, p, lq)
            lt = _flat_q(lse[..., None], p, lq)[..., 0]
            if fp.empty is not None:  # no gradient and no weight through the dummy column
                gt = gt.masked_fill(fp.empty[..., None], 0.0)
                lt = lt.masked_fill(fp.empty, _POS_INF)
            gq_tiles = torch.empty_like(qt)
            gk, gv = _KeyGrad(p, nbh, lk, d, q, k_dtype), _KeyGrad(p, nbh, lk, dv, q, v_dtype)
            for t0, t1 in _chunks(p, nbh, max(d, dv), q.element_size()):
                mask = fp.mask if fp.mask.shape[1] == 1 else fp.mask[:, t0:t1]
                a, b, c = _FLASH_BWD(
                    gt[:, t0:t1].contiguous(), qt[:, t0:t1], kt.chunk(t0, t1), vt.chunk(t0, t1),
                    ot[:, t0:t1].contiguous(), lt[:, t0:t1].contiguous(), 0.0, False,
                    attn_mask=mask, scale=ctx.scale)
                gq_tiles[:, t0:t1] = a
                gk.add(b, t0)
                gv.add(c, t0)
            parts = (_q_grad(gq_tiles, p, lq), gk.result(), gv.result())
            dq = parts[0] if dq is None else dq + parts[0]
            dk = parts[1] if dk is None else dk + parts[1]
            dvv = parts[2] if dvv is None else dvv + parts[2]
        return dq.to(q.dtype), dk.to(k_dtype), dvv.to(v_dtype), None, None


def run_flash(ctx: TileContext, parts: list[TilePart]) -> torch.Tensor:
    call = ctx.call
    b, h, lq, lk = call.shape
    fparts = [_flash_part(ctx, p) for p in parts]
    q, k, v = call.q, call.k, call.v
    d, dv = q.shape[-1], v.shape[-1]
    # The flash op needs one head size for q, k and v: zero columns change no dot product.
    if dv < d:
        v = F.pad(v, (0, d - dv))
    elif d < dv:
        q, k = F.pad(q, (0, dv - d)), F.pad(k, (0, dv - d))
    w = max(d, dv)
    out = _FlashTiles.apply(q.reshape(b * h, lq, w), k.reshape(b * h, lk, w),
                            v.reshape(b * h, lk, w), fparts, call.scale)
    return out.view(b, h, lq, w)[..., :dv]
