"""``flash_bias``: attention with a learned additive bias and/or dropout, every gradient exact.

PyTorch's CPU flash op takes a float mask but gives it no gradient, and has no dropout, so
``scaled_dot_product_attention`` with a bias that requires grad (T5 relative buckets, any
learned ``ScoreBias``) falls back to its math path: unfused scores, softmax, dropout mask
and products, ``O(B * H * Lq * Lk)`` memory kept for the backward. This kernel writes the
backward itself, one chunk of queries at a time. Without dropout the forward is the flash
op with the bias as mask; with dropout ``p`` it is chunked too, each chunk's keep-mask
``M`` drawn from a ``torch.Generator`` seeded with ``seed + chunk index`` (``seed`` drawn
once per call from the global RNG, so ``torch.manual_seed`` reproduces a run), and the
backward draws the same masks again instead of keeping them. A score is dropped when 16
random bits fall below ``round(p * 2^16)``: with probability ``p`` to within 2^-17.

    P  = exp(scale * q k^T + bias - lse)     (lse: the forward's log-sum-exp per query)
    O  = (P * M / (1 - p)) v                 (M = 1 and p = 0 without dropout)
    dP = (dO v^T) * M / (1 - p),   D = rowsum(dP * P) = rowsum(dO * O)
    dS = P * (dP - D)                        (the softmax backward = the bias gradient)
    dq = scale * dS k,   dk = scale * dS^T q,   dv = (P * M / (1 - p))^T dO

(``D`` is ``rowsum(dO * O)`` with dropout too: ``sum_j P_ij dP_ij = dO_i . O_i``.) So the
kernel holds ``O(B * H * chunk * Lk)`` scores at a time and saves only q, k, v, the bias
(its own shape), the output, the log-sum-exp and the seed; ``dS`` is summed over the axes
the bias was broadcast over (batch and/or heads) into a gradient of the bias's own shape.
Masks enter as ``-inf`` (``True`` = may attend); a query with no allowed key is given every
key in the kernel and zeroed afterwards, so its output and all its gradients are zero.
Weights on request are the normalised weights before dropout.

With dropout the bias may be None or fixed: F.sdpa on CPU runs its math path for any
dropout, and the chunked path beats it from ``B * H * Lq * Lk = 2^19`` scores
(``DROPOUT_MIN_SCORES`` in ``dispatch.py``). Exact for dot-product scores with a softmax; the
dispatcher prefers it to ``sdpa`` whenever the bias needs a gradient, and with dropout from
``DROPOUT_MIN_SCORES``. Its readable twins are the ``explicit`` kernel and
``reference_attention`` (with ``dropout_keep_mask``, the dense form of the masks drawn for
a seed), against which ``tests/functional/test_bias_grad.py`` checks outputs and the
gradients of q, k, v and bias.

Half-precision calls run in float32 and return the input dtype (``precision.py``).

Shapes: ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H, Lk, Dv)``, bias
``(B|1, H|1, Lq, Lk)``; output ``(B, H, Lq, Dv)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .call import AttentionCall
from .dense import _FLASH_CPU, WeightsFromLSE, bias_needs_grad, flash_cpu, split_mask
from .precision import in_float32

__all__ = ["FlashBiasAttention", "bias_needs_grad", "chunk_rows", "draw_dropout_seed",
           "dropout_keep_mask", "flash_bias_kernel", "flash_bias_unsupported"]

_NEG_INF = float("-inf")
# Scores held at once by the backward (B * H * chunk * Lk elements, two such buffers):
# 4 MiB of float32; chunks of 2^19 to 2^21 elements timed alike at B*H = 8, L = 1024.
CHUNK_ELEMENTS = 1 << 20


def chunk_rows(b: int, h: int, lk: int) -> int:
    """Queries per chunk for ``B * H`` score rows of ``Lk`` keys (``CHUNK_ELEMENTS`` scores)."""
    return max(1, CHUNK_ELEMENTS // max(1, b * h * lk))


def draw_dropout_seed() -> int:
    """A call's dropout seed, drawn from the global RNG (``torch.manual_seed`` fixes it)."""
    return int(torch.randint(0, 2**62, ()))


def _keep(gen: torch.Generator, seed: int, index: int, shape, p: float, dtype) -> torch.Tensor:
    """Chunk ``index``'s keep-mask as 0/1 of ``dtype``, 0 with probability
    ``round(p * 2^16) / 2^16``, from the generator re-seeded with ``seed + index``."""
    gen.manual_seed(seed + index)
    n = math.prod(shape)
    # Four 16-bit uniforms from each 64 random bits: the generator is the cost (torch.rand, or
    # 32 bits a score, made the whole step 1.2x slower at L=512), and 2^-16 is still 128x
    # finer than the 8-bit threshold of FlashAttention-2's CUDA dropout.
    bits = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), None, generator=gen)
    threshold = min(round(p * 2**16), 2**16 - 1) - 2**15  # int16 bits are uniform on ±2^15
    # Compared straight into floats: multiplying by a bool mask would cast it first.
    return torch.ge(bits.view(torch.int16)[:n].view(shape), threshold,
                    out=torch.empty(shape, dtype=dtype))


def dropout_keep_mask(seed: int, shape: tuple[int, int, int, int], p: float, chunk: int
                      ) -> torch.Tensor:
    """The dense bool ``(B, H, Lq, Lk)`` keep-mask the kernel draws for ``seed`` with
    ``chunk`` queries per chunk (for tests and twins; the kernel never builds it)."""
    b, h, lq, lk = shape
    gen = torch.Generator()
    parts = []
    for i, r0 in enumerate(range(0, lq, chunk)):
        rows = min(lq, r0 + chunk) - r0
        parts.append(_keep(gen, seed, i, (b * h, rows, lk), p, torch.float32).view(b, h, rows, lk) > 0)
    return torch.cat(parts, 2) if parts else torch.ones(shape, dtype=torch.bool)


def _rows(t: torch.Tensor | None, r0: int, r1: int) -> torch.Tensor | None:
    """Rows ``r0:r1`` of a ``(..., Lq|1, Lk)`` tensor (a broadcast row axis stays)."""
    if t is None or t.shape[-2] == 1:
        return t
    return t[..., r0:r1, :]


def _additive(blocked: torch.Tensor | None, dtype) -> torch.Tensor | None:
    """``blocked`` as 0 / ``-inf`` of ``dtype`` (its own, broadcast shape), or None."""
    if blocked is None:
        return None
    return torch.zeros(blocked.shape, dtype=dtype, device=blocked.device).masked_fill_(blocked, _NEG_INF)


def _scores(q3, kt, bias, shift, neg, r0, r1, scale, bh) -> torch.Tensor:
    """``scale * q k^T + bias - shift + neg`` for queries ``r0:r1``: a new ``(B*H, rows, Lk)``
    tensor. ``bias``, ``shift`` (``(B, H, Lq, 1)``) and ``neg`` (``_additive``) may each be
    None; ``bh``: ``(B, H)``."""
    rows = r1 - r0
    # The mask is added, not masked_fill_'ed: a broadcast bool fill timed 15x slower than add_.
    if bias is None:  # the scale and the shift ride on the product (one pass fewer)
        if shift is None:
            s = torch.bmm(q3[:, r0:r1] * scale, kt)
        else:
            s = torch.baddbmm(shift[:, :, r0:r1].reshape(-1, rows, 1), q3[:, r0:r1], kt, beta=-1,
                              alpha=scale)
        if neg is not None:
            s.view(*bh, rows, -1).add_(_rows(neg, r0, r1))
        return s
    if shift is None:
        s = bias[:, :, r0:r1].expand(*bh, -1, -1).clone(memory_format=torch.contiguous_format)
    else:
        s = torch.sub(bias[:, :, r0:r1], shift[:, :, r0:r1])
    if neg is not None:
        s.add_(_rows(neg, r0, r1))
    return s.reshape(q3.shape[0], rows, -1).baddbmm_(q3[:, r0:r1], kt, alpha=scale)


def _dropout_forward(q3, k3, v3, bias, neg, scale, chunk, p, seed, bh):
    """The chunked forward with dropout: ``(out (B*H, Lq, Dv), lse (B*H, Lq))``."""
    lq = q3.shape[1]
    out = q3.new_empty(q3.shape[0], lq, v3.shape[-1])
    lse = q3.new_empty(q3.shape[0], lq)
    kt, gen = k3.transpose(1, 2), torch.Generator(device=q3.device)
    for i, r0 in enumerate(range(0, lq, chunk)):
        r1 = min(lq, r0 + chunk)
        s = _scores(q3, kt, bias, None, neg, r0, r1, scale, bh)
        top, arg = s.max(-1, keepdim=True)  # finite: every row keeps a key (split_mask)
        probs = torch.softmax(s, -1)
        del s
        # At the row's top score log P = -log(sum exp(s - top)): lse = top - log P there.
        lse[:, r0:r1] = (top - probs.gather(-1, arg).log_()).squeeze(-1)
        out[:, r0:r1] = torch.bmm(probs.mul_(_keep(gen, seed, i, probs.shape, p, probs.dtype)), v3)
    return out.mul_(1.0 / (1.0 - p)), lse


def _float_mask(bias, blocked, like) -> torch.Tensor | None:
    """The bias with ``-inf`` where blocked, as the flash op's float mask (or None)."""
    neg = _additive(blocked, like.dtype)
    return bias if neg is None else neg if bias is None else bias + neg


class FlashBiasAttention(torch.autograd.Function):
    """``dropout_p(softmax(scale * q k^T + bias, masked)) v`` with a chunked backward that
    also returns the gradient of ``bias``; the flash forward when ``dropout_p == 0``.

    ``bias``: finite float ``(B|1, H|1, Lq, Lk)`` or None; ``blocked``: bool, broadcastable
    to the scores, ``True`` = may *not* attend (every row must keep one key), or None; ``seed``:
    the dropout seed (see ``dropout_keep_mask``). Returns ``(out, lse)``; ``lse``
    ``(B, H, Lq)`` carries no gradient.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, blocked, scale, chunk, dropout_p, seed):  # type: ignore[override]
        b, h, lq, d = q.shape
        if dropout_p == 0:
            out, lse = flash_cpu(q, k, v, attn_mask=_float_mask(bias, blocked, q), scale=scale)
        else:
            q3, k3 = q.reshape(b * h, lq, d), k.reshape(b * h, -1, d)
            out, lse = _dropout_forward(q3, k3, v.reshape(b * h, -1, v.shape[-1]), bias,
                                        _additive(blocked, q.dtype), scale, chunk, dropout_p, seed,
                                        (b, h))
            out, lse = out.view(b, h, lq, -1), lse.view(b, h, lq)
        ctx.save_for_backward(q, k, v, out, lse, bias, blocked)
        ctx.scale, ctx.chunk, ctx.dropout_p, ctx.seed = scale, chunk, dropout_p, seed
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, d_out, _d_lse):  # type: ignore[override]
        q, k, v, out, lse, bias, blocked = ctx.saved_tensors
        need_q, need_k, need_v, need_bias = ctx.needs_input_grad[:4]
        scale, chunk, p, seed = ctx.scale, ctx.chunk, ctx.dropout_p, ctx.seed
        b, h, lq, d = q.shape
        lk, dv_ = k.shape[2], v.shape[-1]
        # (B*H, L, D) views for bmm/baddbmm, which fuse the additions into the products.
        q3, k3, v3 = q.reshape(b * h, lq, d), k.reshape(b * h, lk, d), v.reshape(b * h, lk, dv_)
        do3 = d_out.reshape(b * h, lq, dv_)
        # rowsum(dP * P) with dP the gradient of the weights before dropout: = dO . O.
        delta = (d_out * out).sum(-1).reshape(b * h, lq, 1)
        lse = lse.to(q.dtype).reshape(b, h, lq, 1)
        kt, vt = k3.transpose(1, 2), v3.transpose(1, 2)
        dq = torch.empty_like(q3) if need_q else None
        dk = torch.zeros_like(k3) if need_k else None
        dv = torch.zeros_like(v3) if need_v else None
        dbias = torch.empty_like(bias) if need_bias else None
        # Axes the bias was broadcast over: its gradient is the sum over them.
        summed = [i for i in (0, 1) if need_bias and bias.shape[i] == 1 and q.shape[i] != 1]
        gen = torch.Generator(device=q.device) if p > 0 else None
        neg = _additive(blocked, q.dtype)
        for i, r0 in enumerate(range(0, lq, chunk)):
            r1 = min(lq, r0 + chunk)
            qc, doc = q3[:, r0:r1], do3[:, r0:r1]
            probs = _scores(q3, kt, bias, lse, neg, r0, r1, scale, (b, h)).exp_()
            if p == 0:
                if need_v:
                    dv.baddbmm_(probs.transpose(1, 2), doc)
                ds = torch.baddbmm(delta[:, r0:r1], doc, vt, beta=-1).mul_(probs)
            else:
                # P * M with the forward's mask M drawn again; (1 - p) dS = (dO v^T) P M - (1 - p) P D
                # (the factor 1 / (1 - p) is applied to dq, dk and dbias once, at the end).
                kept = _keep(gen, seed, i, probs.shape, p, probs.dtype).mul_(probs)
                if need_v:
                    dv.baddbmm_(kept.transpose(1, 2), doc, alpha=1.0 / (1.0 - p))
                ds = torch.bmm(doc, vt).mul_(kept).addcmul_(probs, delta[:, r0:r1], value=p - 1.0)
                del kept
            del probs
            if need_q:
                dq[:, r0:r1] = torch.bmm(ds, k3)
            if need_k:
                dk.baddbmm_(ds.transpose(1, 2), qc)
            if need_bias:
                ds = ds.view(b, h, r1 - r0, lk)
                dbias[:, :, r0:r1] = ds.sum(summed, keepdim=True) if summed else ds
        ds_scale = 1.0 / (1.0 - p)
        if dbias is not None and p > 0:
            dbias.mul_(ds_scale)
        grads = [dq, dk, dv]
        for i, g in enumerate(grads):
            if g is not None:
                grads[i] = (g.mul_(scale * ds_scale) if i < 2 else g).view(b, h, -1, g.shape[-1])
        return *grads, dbias, None, None, None, None, None


def flash_bias_unsupported(call: AttentionCall) -> str | None:
    """None if ``flash_bias`` computes this call exactly, else the reason it cannot."""
    if _FLASH_CPU is None:
        return "this PyTorch has no CPU flash attention op"
    if call.bias is None and call.dropout_p == 0:
        return "no additive bias and no dropout (nothing this kernel adds to sdpa)"
    if call.score != "dot":
        return "flash_bias computes dot-product scores only"
    if call.normalize != "softmax":
        return f"flash_bias normalises with softmax only, not {call.normalize!r}"
    if call.q.device.type != "cpu":
        return ("a CPU kernel: PyTorch's CPU flash op, CPU generators for the dropout masks "
                f"(tensors on {call.q.device.type})")
    if min(call.shape) == 0 or call.q.shape[-1] == 0:
        return "an empty input (a zero-size axis)"
    return None


@in_float32  # the backward forms scores from the saved lse: in float32 for half inputs
def flash_bias_kernel(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    q, k, v = call.q, call.k, call.v
    bias, allowed, empty, only_causal = split_mask(call)
    if only_causal:  # split_mask leaves the causal mask to is_causal, which this kernel lacks
        allowed = call.dense_allowed()
    b, h, _, lk = call.shape
    d, dv = q.shape[-1], v.shape[-1]
    p = call.dropout_p
    # The flash op needs one head size for q, k and v: zero columns change no dot product.
    if p == 0 and dv < d:
        v = F.pad(v, (0, d - dv))
    elif p == 0 and d < dv:
        q, k = F.pad(q, (0, dv - d)), F.pad(k, (0, dv - d))
    blocked = None if allowed is None else ~allowed
    seed = draw_dropout_seed() if p > 0 else 0
    out, lse = FlashBiasAttention.apply(q, k, v, bias, blocked, call.scale, chunk_rows(b, h, lk),
                                        p, seed)
    if out.shape[-1] > dv:
        out = out[..., :dv]
    weights = None
    if call.need_weights:
        weights = WeightsFromLSE.apply(q, k, lse, _float_mask(bias, blocked, q), call.scale)
    if empty is not None:
        out = out.masked_fill(empty, 0.0)
        if weights is not None:
            weights = weights.masked_fill(empty, 0.0)
    return out, weights
