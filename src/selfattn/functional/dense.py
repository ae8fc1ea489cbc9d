"""The two dense kernels: ``explicit`` (any score, any normalisation) and ``sdpa`` (fused).

``explicit`` is the nanoGPT "slow path": scores = q k^T * scale + bias, masked
normalisation, dropout, weights @ v. It takes every option.

``sdpa`` calls ``torch.nn.functional.scaled_dot_product_attention`` (on CPU PyTorch's fused
flash kernel, or its math path with dropout, a mask that needs a gradient or Dv != D: see
``sdpa_backend``) and is used only where it is exact: dot-product scores with a softmax. It
guarantees the empty-row rule itself (a query with no allowed key gets zeros, never NaN)
instead of relying on the PyTorch version, and passes masks in the shapes that keep the
flash kernel (a key padding mask stays ``(B, 1, 1, Lk)``; ``is_causal`` is used when the
causal mask is the only one).

Attention weights on request do not move the output off the fused kernel: on CPU the
flash kernel's log-sum-exp gives the weights as ``exp(s - lse)`` in one extra pass over
the scores (``WeightsFromLSE``, with the exact softmax backward); elsewhere, or with
dropout, the weights come from a separate masked softmax.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .call import AttentionCall
from .normalize import normalize_scores
from .precision import HALF, in_float32

__all__ = ["WeightsFromLSE", "bias_needs_grad", "explicit_kernel", "sdpa_backend", "sdpa_kernel",
           "sdpa_unsupported", "split_mask"]

_NEG_INF = float("-inf")
_FLASH_CPU = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def flash_cpu(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
              scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out, lse)`` of aten's CPU flash op, on contiguous copies: given strided views (a
    transposed ``q`` or ``k``, an expanded mask) the raw op silently returns wrong outputs
    and log-sum-exps (weight rows summing to 0.04-16000 were measured)."""
    mask = None if attn_mask is None else attn_mask.contiguous()
    return _FLASH_CPU(q.contiguous(), k.contiguous(), v.contiguous(), attn_mask=mask, scale=scale)


def _scores(call: AttentionCall) -> torch.Tensor:
    if call.score == "dot":
        s = torch.matmul(call.q, call.k.transpose(-1, -2))
    else:
        s = call.score(call.q, call.k)
    s = s * call.scale
    bias = call.dense_bias()
    return s if bias is None else s + bias


@in_float32  # half precision: scores and sums in float32 (precision.py)
def explicit_kernel(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scores, masked normalisation, dropout, weighted sum: every option, O(L^2) memory."""
    w = normalize_scores(_scores(call), call.dense_allowed(), call.normalize)
    wd = F.dropout(w, call.dropout_p) if call.dropout_p > 0 else w
    return torch.matmul(wd, call.v), (w if call.need_weights else None)


def bias_needs_grad(call: AttentionCall) -> bool:
    """True if the call's dense bias will need a gradient (grad mode on, a learned bias)."""
    if call.bias is None or not torch.is_grad_enabled():
        return False
    bias = call.dense_bias()
    return bias is not None and bias.requires_grad


def sdpa_backend(call: AttentionCall) -> str:
    """Which implementation F.sdpa runs for this call (checked with the profiler on torch
    2.13 CPU): its flash kernel needs no dropout, a mask without gradient, Dv = D."""
    if call.q.device.type != "cpu":
        return f"the backend torch picks on {call.q.device.type}"
    if call.dropout_p > 0:
        return "its math path: the CPU flash kernel has no dropout"
    if bias_needs_grad(call):
        return "its math path: the CPU flash kernel gives its mask no gradient"
    if call.v.shape[-1] != call.q.shape[-1]:
        return "its math path: the CPU flash kernel needs one head size for q, k and v"
    return "its fused flash kernel"


def sdpa_unsupported(call: AttentionCall) -> str | None:
    """None if ``sdpa`` computes this call exactly, else the reason it cannot."""
    if call.score != "dot":
        return "sdpa computes dot-product scores only"
    if call.normalize != "softmax":
        return f"sdpa normalises with softmax only, not {call.normalize!r}"
    if min(call.shape) == 0 or call.q.shape[-1] == 0:
        return "an empty input (a zero-size axis)"
    return None


class WeightsFromLSE(torch.autograd.Function):
    """``w = exp(scale * q k^T + fmask - lse)``: softmax weights from the flash kernel's
    log-sum-exp without a second reduction. Backward is the softmax Jacobian:
    ``ds = w * (g - sum_j g w)``."""

    @staticmethod
    def forward(ctx, q, k, lse, fmask, scale):  # type: ignore[override]
        w = torch.matmul(q, k.transpose(-1, -2))
        w.mul_(scale)
        if fmask is not None:
            w.add_(fmask)
        w.sub_(lse.unsqueeze(-1))
        w.exp_()
        ctx.save_for_backward(q, k, w)
        ctx.scale = scale
        ctx.fmask_shape = None if fmask is None else fmask.shape
        return w

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        q, k, w = ctx.saved_tensors
        ds = w * (g - (g * w).sum(-1, keepdim=True))
        dq = torch.matmul(ds, k) * ctx.scale if ctx.needs_input_grad[0] else None
        dk = torch.matmul(ds.transpose(-1, -2), q) * ctx.scale if ctx.needs_input_grad[1] else None
        dmask = None
        if ctx.needs_input_grad[3]:
            dims = [i for i, n in enumerate(ctx.fmask_shape) if n == 1 and ds.shape[i] != 1]
            dmask = ds.sum(dims, keepdim=True) if dims else ds
        return dq, dk, None, dmask, None


def split_mask(call: AttentionCall
               ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, bool]:
    """The call's masks and bias in the form the flash kernel needs.

    Returns ``(bias, allowed, empty, only_causal)``: ``bias`` finite (its ``-inf`` entries
    folded into ``allowed``), ``allowed`` bool with every row given at least one key,
    ``empty`` bool ``(..., Lq, 1)`` marking the rows that had none (their output must be
    zeroed afterwards), or None; ``only_causal`` when ``is_causal`` replaces every mask.
    """
    bias = call.dense_bias()
    # is_causal keeps the flash kernel's block skipping; with weights the mask is needed.
    only_causal = (call.causal and call.mask is None and call.key_mask is None
                   and call.pattern is None and bias is None and call.q.shape[2] == call.k.shape[2]
                   and not call.need_weights)
    allowed = None if only_causal else call.dense_allowed()
    if bias is not None and bool(torch.isneginf(bias).any()):
        # An additive -inf is a mask: fold it in so the empty-row rule sees it.
        finite = bias > _NEG_INF
        allowed = finite if allowed is None else allowed & finite
        bias = bias.masked_fill(~finite, 0.0)
    empty = None
    if allowed is not None:
        empty = ~allowed.any(-1, keepdim=True)
        if bool(empty.any()):
            allowed = allowed | empty  # give those rows something finite; zeroed below
        else:
            empty = None
    return bias, allowed, empty, only_causal


def sdpa_kernel(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    """F.sdpa, with the empty-row rule and weights on request. Half inputs go to F.sdpa as
    they are (it accumulates in float32 on CPU); with weights the call runs in float32,
    since the weights are formed outside F.sdpa (precision.py)."""
    if call.need_weights and call.q.dtype in HALF:
        return _sdpa_float32(call)
    return _sdpa(call)


def _sdpa(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    q, k, v = call.q, call.k, call.v
    bias, allowed, empty, only_causal = split_mask(call)
    # One float mask (bias plus -inf where disallowed) or the boolean one.
    if bias is not None:
        attn_mask = bias if allowed is None else bias.masked_fill(~allowed, _NEG_INF)
    else:
        attn_mask = allowed

    weights = None
    use_lse = (call.need_weights and _FLASH_CPU is not None and q.device.type == "cpu"
               and call.dropout_p == 0.0 and v.shape[-1] == q.shape[-1]
               # the flash op has no gradient for its mask: a learned bias needs F.sdpa
               and not (attn_mask is not None and attn_mask.requires_grad))
    if use_lse:
        fmask = attn_mask
        if fmask is not None and fmask.dtype == torch.bool:
            fmask = torch.zeros(fmask.shape, dtype=q.dtype, device=q.device).masked_fill_(
                ~fmask, _NEG_INF)
        out, lse = flash_cpu(q, k, v, attn_mask=fmask, scale=call.scale)
        weights = WeightsFromLSE.apply(q, k, lse, fmask, call.scale)
    else:
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=call.dropout_p, is_causal=only_causal,
            scale=call.scale)
        if call.need_weights:
            s = torch.matmul(q, k.transpose(-1, -2)) * call.scale
            if bias is not None:
                s = s + bias
            weights = normalize_scores(s, allowed, "softmax")
    if empty is not None:
        out = out.masked_fill(empty, 0.0)
        if weights is not None:
            weights = weights.masked_fill(empty, 0.0)
    return out, weights


_sdpa_float32 = in_float32(_sdpa)
