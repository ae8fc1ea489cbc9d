"""``flash_bias``: the fused flash kernel with a learned additive bias, every gradient exact.

PyTorch's CPU flash op takes a float mask but gives it no gradient, so
``scaled_dot_product_attention`` with a bias that requires grad (T5 relative buckets, any
learned ``ScoreBias``) falls back to its math path: unfused scores, softmax and products,
``O(B * H * Lq * Lk)`` memory kept for the backward. This kernel runs the flash forward with
the bias as mask and writes the backward itself, one chunk of queries at a time:

    P  = exp(scale * q k^T + bias - lse)     (lse: the forward's log-sum-exp per query)
    dP = dO v^T,   D = rowsum(dO * O)
    dS = P * (dP - D)                        (the softmax backward = the bias gradient)
    dq = scale * dS k,   dk = scale * dS^T q,   dv = P^T dO

so the backward holds ``O(B * H * chunk * Lk)`` scores at a time (the forward keeps only
the output and the log-sum-exp; the bias, its own shape, is already in the graph), and
``dS`` is summed over the axes the bias was broadcast over (batch and/or heads) into a
gradient of the bias's own shape. Masks enter as ``-inf`` (``True`` = may attend); a query
with no allowed key is given every key in the kernel and zeroed afterwards, so its output
and all its gradients are zero.

Exact only for dot-product scores with a softmax and no dropout (the CPU flash op has no
dropout); the dispatcher then prefers it to ``sdpa`` whenever the bias needs a gradient.
Its readable twin is the ``explicit`` kernel (and ``reference_attention``), against which
``tests/functional/test_bias_grad.py`` checks outputs and the gradients of q, k, v and bias.

Shapes: ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H, Lk, Dv)``, bias
``(B|1, H|1, Lq, Lk)``; output ``(B, H, Lq, Dv)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .call import AttentionCall
from .dense import _FLASH_CPU, WeightsFromLSE, split_mask

__all__ = ["FlashBiasAttention", "bias_needs_grad", "flash_bias_kernel", "flash_bias_unsupported"]

_NEG_INF = float("-inf")
# Scores held at once by the backward (B * H * chunk * Lk elements, two such buffers):
# 4 MiB of float32; chunks of 2^19 to 2^21 elements timed alike at B*H = 8, L = 1024.
CHUNK_ELEMENTS = 1 << 20


def _rows(t: torch.Tensor | None, r0: int, r1: int) -> torch.Tensor | None:
    """Rows ``r0:r1`` of a ``(..., Lq|1, Lk)`` tensor (a broadcast row axis stays)."""
    if t is None or t.shape[-2] == 1:
        return t
    return t[..., r0:r1, :]


class FlashBiasAttention(torch.autograd.Function):
    """``softmax(scale * q k^T + bias, masked) v`` on the flash forward, with a chunked
    backward that also returns the gradient of ``bias``.

    ``bias``: finite float ``(B|1, H|1, Lq, Lk)``; ``blocked``: bool, broadcastable to the
    scores, ``True`` = may *not* attend (every row must keep one key), or None. Returns
    ``(out, lse)``; ``lse`` ``(B, H, Lq)`` carries no gradient.
    """

    @staticmethod
    def forward(ctx, q, k, v, bias, blocked, scale, chunk):  # type: ignore[override]
        fmask = bias if blocked is None else bias.masked_fill(blocked, _NEG_INF)
        out, lse = _FLASH_CPU(q, k, v, attn_mask=fmask, scale=scale)
        ctx.save_for_backward(q, k, v, out, lse, bias, blocked)
        ctx.scale, ctx.chunk = scale, chunk
        ctx.mark_non_differentiable(lse)
        return out, lse

    @staticmethod
    def backward(ctx, d_out, _d_lse):  # type: ignore[override]
        q, k, v, out, lse, bias, blocked = ctx.saved_tensors
        need_q, need_k, need_v, need_bias = ctx.needs_input_grad[:4]
        scale, chunk = ctx.scale, ctx.chunk
        b, h, lq, d = q.shape
        lk = k.shape[2]
        # (B*H, L, D) views for bmm/baddbmm, which fuse the additions into the products.
        q3, k3, v3 = q.reshape(b * h, lq, d), k.reshape(b * h, lk, d), v.reshape(b * h, lk, d)
        do3 = d_out.reshape(b * h, lq, d)
        delta = (d_out * out).sum(-1).reshape(b * h, lq, 1)
        lse = lse.to(q.dtype).reshape(b, h, lq, 1)
        kt, vt = k3.transpose(1, 2), v3.transpose(1, 2)
        dq = torch.empty_like(q3) if need_q else None
        dk = torch.zeros_like(k3) if need_k else None
        dv = torch.zeros_like(v3) if need_v else None
        dbias = torch.empty_like(bias) if need_bias else None
        # Axes the bias was broadcast over: its gradient is the sum over them.
        summed = [i for i in (0, 1) if bias.shape[i] == 1 and q.shape[i] != 1]
        for r0 in range(0, lq, chunk):
            r1 = min(lq, r0 + chunk)
            qc, doc = q3[:, r0:r1], do3[:, r0:r1]
            p = torch.sub(bias[:, :, r0:r1], lse[:, :, r0:r1])  # (B, H, rows, Lk)
            if blocked is not None:
                p.masked_fill_(_rows(blocked, r0, r1), _NEG_INF)
            p = p.reshape(b * h, r1 - r0, lk).baddbmm_(qc, kt, alpha=scale).exp_()
            if need_v:
                dv.baddbmm_(p.transpose(1, 2), doc)
            ds = torch.baddbmm(delta[:, r0:r1], doc, vt, beta=-1).mul_(p)
            del p
            if need_q:
                dq[:, r0:r1] = torch.bmm(ds, k3)
            if need_k:
                dk.baddbmm_(ds.transpose(1, 2), qc)
            if need_bias:
                ds = ds.view(b, h, r1 - r0, lk)
                dbias[:, :, r0:r1] = ds.sum(summed, keepdim=True) if summed else ds
        grads = [dq, dk, dv]
        for i, g in enumerate(grads):
            if g is not None:
                grads[i] = (g.mul_(scale) if i < 2 else g).view(b, h, -1, d)
        return *grads, dbias, None, None, None


def bias_needs_grad(call: AttentionCall) -> bool:
    """True if the call's dense bias will need a gradient (grad mode on, a learned bias)."""
    if call.bias is None or not torch.is_grad_enabled():
        return False
    bias = call.dense_bias()
    return bias is not None and bias.requires_grad


def flash_bias_unsupported(call: AttentionCall) -> str | None:
    """None if ``flash_bias`` computes this call exactly, else the reason it cannot."""
    if _FLASH_CPU is None:
        return "this PyTorch has no CPU flash attention op"
    if call.bias is None:
        return "no additive bias (the kernel exists for a bias's gradient; sdpa covers the rest)"
    if call.score != "dot":
        return "flash_bias computes dot-product scores only"
    if call.normalize != "softmax":
        return f"flash_bias normalises with softmax only, not {call.normalize!r}"
    if call.dropout_p > 0:
        return f"dropout_p={call.dropout_p}: the CPU flash op has no dropout"
    if call.q.device.type != "cpu":
        return f"the flash op it runs is PyTorch's CPU one (tensors on {call.q.device.type})"
    if call.q.dtype not in (torch.float32, torch.float64):
        return f"float32 or float64 only (got {call.q.dtype})"
    if min(call.shape) == 0 or call.q.shape[-1] == 0:
        return "an empty input (a zero-size axis)"
    return None


def flash_bias_kernel(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    q, k, v = call.q, call.k, call.v
    bias, allowed, empty, _ = split_mask(call)
    assert bias is not None
    b, h, _, lk = call.shape
    d, dv = q.shape[-1], v.shape[-1]
    # The flash op needs one head size for q, k and v: zero columns change no dot product.
    if dv < d:
        v = F.pad(v, (0, d - dv))
    elif d < dv:
        q, k = F.pad(q, (0, dv - d)), F.pad(k, (0, dv - d))
    blocked = None if allowed is None else ~allowed
    chunk = max(1, CHUNK_ELEMENTS // (b * h * lk))
    out, lse = FlashBiasAttention.apply(q, k, v, bias, blocked, call.scale, chunk)
    if dv < d:
        out = out[..., :dv]
    weights = None
    if call.need_weights:
        fmask = bias if blocked is None else bias.masked_fill(blocked, _NEG_INF)
        weights = WeightsFromLSE.apply(q, k, lse, fmask, call.scale)
    if empty is not None:
        out = out.masked_fill(empty, 0.0)
        if weights is not None:
            weights = weights.masked_fill(empty, 0.0)
    return out, weights
