"""Every kernel gives the same answer for strided views (transposed, expanded, sliced) as for
contiguous tensors: aten's CPU flash op, which several kernels call, silently returns wrong
outputs and log-sum-exps for non-contiguous inputs (weight rows summed to 0.04-16000)."""

from __future__ import annotations

import pytest
import torch

from selfattn.functional import attention
from selfattn.patterns import WindowPattern


def _views(seed: int):
    """q, k, v (B=2, H=2, L=12, D=4) as views of other tensors: a transpose, an expand over
    heads and a slice, and a key-padding bias expanded over queries."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(2, 4, 12, 2, generator=g, dtype=torch.float64)
    q = base.permute(0, 3, 2, 1)                                   # (2, 2, 12, 4), transposed
    k = torch.randn(2, 1, 12, 4, generator=g, dtype=torch.float64).expand(2, 2, 12, 4)
    v = torch.randn(2, 2, 12, 9, generator=g, dtype=torch.float64)[..., 2:6]   # sliced
    bias = torch.randn(2, 1, 1, 12, generator=g, dtype=torch.float64).expand(2, 2, 12, 12)
    return q, k, v, bias


@pytest.mark.parametrize("kernel", ["auto", "sdpa", "flash_bias", "explicit", "reference", "window"])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_strided_views_equal_contiguous_copies(kernel, with_bias, seed):
    q, k, v, bias = _views(seed)
    assert not (q.is_contiguous() or k.is_contiguous() or v.is_contiguous() or bias.is_contiguous())
    extra = {"pattern": WindowPattern(3)} if kernel == "window" else {}
    if kernel == "flash_bias" and not with_bias:
        pytest.skip("flash_bias refuses a call without a bias (sdpa computes it)")
    b = bias if with_bias else None
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        views = [t.to(dtype) for t in (q, k, v)]
        copies = [t.contiguous().clone().requires_grad_() for t in views]
        views = [t.detach().requires_grad_() for t in views]
        vb = None if b is None else b.to(dtype)
        out, w = attention(*views, bias=vb, kernel=kernel, return_weights=True, **extra)
        ref, rw = attention(*copies, bias=None if vb is None else vb.contiguous(), kernel="explicit",
                            return_weights=True, **extra)
        assert torch.allclose(out, ref, atol=tol, rtol=0), (kernel, dtype, (out - ref).abs().max())
        assert torch.allclose(w, rw, atol=tol, rtol=0)
        cot = torch.randn_like(out)
        (out * cot).sum().backward()
        (ref * cot).sum().backward()
        for a, c in zip(views, copies, strict=True):
            assert torch.allclose(a.grad, c.grad, atol=10 * tol, rtol=0), kernel
