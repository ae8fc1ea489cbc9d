"""``attention``: one entry point, many exact kernels, and a dispatcher that says why.

Kernels are registered in priority order. Each has ``unsupported(call) -> str | None``
(None = it computes this call exactly), optionally ``slower(call) -> str | None`` (None =
no reason to expect a later kernel to be faster here, e.g. below a measured crossover
length), and ``run(call) -> (out, weights | None)``. With ``kernel="auto"`` the first
kernel that supports the call and is not slower runs; ``choose_kernel`` returns that choice
and, for every kernel passed over, the reason. A kernel named explicitly runs whenever it
is exact: speed preferences never refuse a request. Sparse-pattern kernels register
themselves ahead of the dense ones with ``register_kernel``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import torch

from .bias import ScoreBias
from .bias_grad import bias_needs_grad, flash_bias_kernel, flash_bias_unsupported
from .call import AttentionCall, make_call
from .dense import explicit_kernel, sdpa_backend, sdpa_kernel, sdpa_unsupported
from .reference import reference_attention

__all__ = [
    "ATTENTION_ROUTE",
    "Kernel",
    "KernelChoice",
    "attention",
    "choose_kernel",
    "kernel_names",
    "register_kernel",
]

log = logging.getLogger("selfattn.dispatch")

# Set for one step by selfattn.distributed.sequence_parallel: a callable taking attention's
# arguments that runs the call over a sequence split across processes (the ring). None: local.
ATTENTION_ROUTE: ContextVar[Callable[..., torch.Tensor] | None] = ContextVar(
    "selfattn_attention_route", default=None)


@dataclass(frozen=True)
class Kernel:
    name: str
    run: Callable[[AttentionCall], tuple[torch.Tensor, torch.Tensor | None]]
    unsupported: Callable[[AttentionCall], str | None]
    description: str = ""
    slower: Callable[[AttentionCall], str | None] | None = None
    # How it computes one call, for choose_kernel's reason (default: the description).
    describe_call: Callable[[AttentionCall], str] | None = None


@dataclass(frozen=True)
class KernelChoice:
    """Which kernel runs a call, why, and why each faster one was passed over."""

    name: str
    reason: str
    passed_over: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"kernel {self.name!r}: {self.reason}"]
        lines += [f"  not {n!r}: {why}" for n, why in self.passed_over.items()]
        return "\n".join(lines)


def _reference_run(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    if call.dropout_p > 0:
        raise ValueError("dropout_p: the reference kernel is deterministic; expected 0.0, "
                         f"got {call.dropout_p}")
    out, w = reference_attention(
        call.q, call.k, call.v, mask=call.mask, key_mask=call.key_mask, causal=call.causal,
        bias=call.bias, score=call.score, normalize=call.normalize, scale=call.scale,
        pattern=call.pattern, return_weights=True)
    return out, (w if call.need_weights else None)


def _always(call: AttentionCall) -> str | None:
    return None


# Dropout sends F.sdpa on CPU to its math path with or without a mask or bias; flash_bias's
# chunked dropout path beats it from about this many scores per call, B*H*Lq*Lk, and keeps
# no (B, H, Lq, Lk) weights or mask for the backward. Measured by
# benchmarks/dropout_math_path.py: benchmarks/results/dropout_math_path*.json.
DROPOUT_MIN_SCORES = 1 << 19


def _sdpa_slower(call: AttentionCall) -> str | None:
    """F.sdpa on CPU runs its math path for a bias that needs a gradient (flash_bias is faster
    and lighter: benchmarks/bias_dropout.py) and for any dropout (flash_bias is faster from
    ``DROPOUT_MIN_SCORES`` scores per call)."""
    if flash_bias_unsupported(call) is not None:
        return None
    if bias_needs_grad(call):
        why = "the bias needs a gradient, which the CPU flash op does not give for its mask"
        if call.dropout_p > 0:
            why += f", and that op has no dropout (dropout_p={call.dropout_p})"
        return why + ": F.sdpa would fall back to its math path (O(B*H*Lq*Lk) memory)"
    b, h, lq, lk = call.shape
    if call.dropout_p > 0 and b * h * lq * lk >= DROPOUT_MIN_SCORES:
        return (f"dropout_p={call.dropout_p}: F.sdpa on CPU would run its math path, which "
                f"flash_bias's chunked dropout beats at B*H*Lq*Lk = {b}*{h}*{lq}*{lk} (from "
                f"{DROPOUT_MIN_SCORES} scores: benchmarks/results/dropout_math_path*.json)")
    return None


def _sdpa_description(call: AttentionCall) -> str:
    return f"torch scaled_dot_product_attention, {sdpa_backend(call)}"


# Priority order for "auto": sparse kernels are inserted before "sdpa".
_KERNELS: list[Kernel] = [
    Kernel("sdpa", sdpa_kernel, sdpa_unsupported,
           "torch scaled_dot_product_attention (on CPU its fused flash kernel; its math path "
           "with dropout, a mask that needs a gradient, or Dv != D)", slower=_sdpa_slower,
           describe_call=_sdpa_description),
    Kernel("flash_bias", flash_bias_kernel, flash_bias_unsupported,
           "flash forward with the bias as mask, or with dropout a chunked one (bias optional); "
           "chunked exact backward, bias gradient included"),
    Kernel("explicit", explicit_kernel, _always,
           "scores, masked normalisation and weighted sum as batched matmuls"),
]
_REFERENCE = Kernel("reference", _reference_run, _always, "the lecture's column form")


def register_kernel(kernel: Kernel, before: str = "sdpa") -> None:
    """Add (or replace) a kernel, placed ahead of ``before`` in the auto order."""
    names = [k.name for k in _KERNELS]
    if kernel.name in names:
        _KERNELS[names.index(kernel.name)] = kernel
        return
    if before not in names:
        raise ValueError(f"before: expected one of {names}, got {before!r}")
    _KERNELS.insert(names.index(before), kernel)


def kernel_names() -> list[str]:
    """Every kernel name accepted by ``kernel=``, in auto priority order, then reference."""
    return [k.name for k in _KERNELS] + [_REFERENCE.name]


def _get(name: str) -> Kernel:
    for k in [*_KERNELS, _REFERENCE]:
        if k.name == name:
            return k
    raise ValueError(f"kernel: expected 'auto' or one of {kernel_names()}, got {name!r}")


def _choose(call: AttentionCall, kernel: str) -> KernelChoice:
    if kernel != "auto":
        chosen = _get(kernel)
        why = chosen.unsupported(call)
        if why is not None:
            raise ValueError(f"kernel: {kernel!r} cannot compute this call exactly: {why}")
        return KernelChoice(kernel, "requested explicitly")
    passed: dict[str, str] = {}
    for k in _KERNELS:
        why = k.unsupported(call)
        if why is None and k.slower is not None:
            why = k.slower(call)
        if why is None:
            desc = k.description if k.describe_call is None else k.describe_call(call)
            return KernelChoice(k.name, f"first exact kernel for this call ({desc})", passed)
        passed[k.name] = why
    raise AssertionError("the explicit kernel supports every call")  # pragma: no cover


def _call_from(q, k, v, kwargs: dict[str, Any]) -> tuple[AttentionCall, str]:
    kernel = kwargs.pop("kernel", "auto")
    need = kwargs.pop("return_weights", False)
    return make_call(q, k, v, need_weights=need, **kwargs), kernel


def choose_kernel(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs: Any) -> KernelChoice:
    """The kernel ``attention`` would run for these arguments, and why (same arguments)."""
    call, kernel = _call_from(q, k, v, dict(kwargs))
    return _choose(call, kernel)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
    key_lengths: torch.Tensor | None = None,
    causal: bool = False,
    bias: torch.Tensor | ScoreBias | None = None,
    score: Any = "dot",
    normalize: str = "softmax",
    scale: float | None = None,
    dropout_p: float = 0.0,
    pattern: Any = None,
    kernel: str = "auto",
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention of queries over keys, exact on every kernel.

    Args:
        q: ``(B, H, Lq, D)`` queries. k: ``(B, H, Lk, D)`` keys. v: ``(B, H, Lk, Dv)`` values.
        mask: bool, ``True`` = may attend; ``(Lq, Lk)`` or ``(B|1, H|1, Lq, Lk)``.
        key_mask: bool ``(B, Lk)``, ``True`` = a real key (padding is ``False``); or
        key_lengths: int ``(B,)``, the number of real keys per set (the first ones).
        causal: query ``i`` sees keys ``j <= i + Lk - Lq`` (lower-right aligned).
        bias: additive float scores, ``(Lq, Lk)`` or ``(B|1, H|1, Lq, Lk)``, or a
            ``ScoreBias`` (ALiBi, relative buckets, ...); ``-inf`` entries mask.
        score: ``"dot"`` (``q . k * scale``) or a callable ``(q, k) -> (B, H, Lq, Lk)`` such
            as ``selfattn.nn.AdditiveScore``.
        normalize: ``"softmax"``, ``"relu"`` or ``"sigmoid"`` (see
            ``selfattn.functional.normalize``).
        scale: multiplies the scores, a finite number > 0; default ``1/sqrt(D)`` for dot
            scores, 1 otherwise.
        dropout_p: dropout on the weights (applied whenever > 0; modules pass 0 in eval).
        pattern: a sparse pattern object (see ``selfattn.patterns``) or None.
        kernel: ``"auto"`` or a name from ``kernel_names()``; a named kernel that cannot
            compute the call exactly raises.
        return_weights: also return the normalised weights ``(B, H, Lq, Lk)`` (before
            dropout), computed without moving the output off the fused kernel.

    A query with no allowed key gets a zero output and zero weights, on every kernel,
    forward and backward. Every kernel takes float64, float32, bfloat16 and float16; half
    precision is computed with float32 scores and sums and returned in the input dtype
    (``selfattn.functional.precision``).

    Returns:
        ``(B, H, Lq, Dv)``, or ``(output, weights)`` with ``return_weights=True``.
    """
    route = ATTENTION_ROUTE.get()
    if route is not None:
        return route(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths, causal=causal,
                     bias=bias, score=score, normalize=normalize, scale=scale, dropout_p=dropout_p,
                     pattern=pattern, kernel=kernel, return_weights=return_weights)
    call = make_call(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                     causal=causal, bias=bias, score=score, normalize=normalize, scale=scale,
                     dropout_p=dropout_p, pattern=pattern, need_weights=return_weights)
    choice = _choose(call, kernel)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s", choice)
    out, weights = _get(choice.name).run(call)
    if return_weights:
        assert weights is not None
        return out, weights
    return out
