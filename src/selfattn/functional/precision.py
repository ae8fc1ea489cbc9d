"""Half precision: which dtype each kernel computes in, and the float32 detour.

bfloat16 and float16 keep 8 and 11 significant bits: a score of 1e4 stored in bfloat16 is
off by up to 32, which moves a softmax weight by a factor ``e^32``, and a float16 dot
product of two vectors of norm 300 overflows. So no kernel forms scores, exponentials or
sums in half precision:

* PyTorch's CPU flash op (the ``sdpa`` kernel's fused path and the fused tile path of the
  sparse kernels) reads half inputs and accumulates in float32 itself; its log-sum-exp is
  float32 (``accumulation_dtype``);
* every other kernel (``explicit``, ``reference``, ``flash_bias``, ``graph``, the explicit
  tile path, the weights of ``sdpa``) runs on float32 copies (``in_float32``) and returns
  the input dtype. The casts are differentiable, so gradients come back in the input dtype.

Either way a half-precision call is the float32 computation on the same (rounded) inputs,
rounded once at the end; ``tests/numerics`` bounds the difference from float64.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import torch

from .call import AttentionCall

__all__ = ["HALF", "accumulation_dtype", "in_float32", "upcast"]

HALF = (torch.float16, torch.bfloat16)

Run = Callable[[AttentionCall], tuple[torch.Tensor, "torch.Tensor | None"]]


def accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype scores, exponentials and sums are formed in: float32 for half inputs."""
    return torch.float32 if dtype in HALF else dtype


def upcast(call: AttentionCall) -> AttentionCall:
    """The same call on float32 copies of ``q, k, v`` and a tensor bias (masks unchanged; a
    ``ScoreBias`` is evaluated in the call's dtype, so it follows)."""
    bias = call.bias
    if isinstance(bias, torch.Tensor):
        bias = bias.float()
    return dataclasses.replace(call, q=call.q.float(), k=call.k.float(), v=call.v.float(),
                               bias=bias, _cache={})


def in_float32(run: Run) -> Run:
    """``run`` for every dtype: a half-precision call runs on float32 copies (``upcast``)
    and its output and weights come back in the input dtype."""

    @functools.wraps(run)
    def wrapped(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
        dtype = call.q.dtype
        if dtype not in HALF:
            return run(call)
        out, weights = run(upcast(call))
        return out.to(dtype), (None if weights is None else weights.to(dtype))

    return wrapped
