"""At every dtype, the kernel ``choose_kernel`` names runs the call, forward and backward,
and returns the input dtype, at short lengths (dense kernels) and at lengths where ``auto``
picks the sparse kernels. No kernel refuses a floating dtype any more, so the choice does
not depend on it."""

from __future__ import annotations

import pytest
import torch
from numerics_tolerances import DTYPES

from selfattn.functional import attention, choose_kernel
from selfattn.patterns import GraphPattern, Neighborhood2DPattern, StridedPattern, WindowPattern

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _graph(n: int) -> GraphPattern:
    g = torch.Generator().manual_seed(n)
    return GraphPattern(torch.randint(0, n, (2, 3 * n), generator=g), n, duplicates="merge")


# name: (length, options, the kernel auto must pick)
CALLS = {
    "plain": (8, {}, "sdpa"),
    "learned_bias": (8, {"bias": "learned"}, "flash_bias"),
    "relu": (8, {"normalize": "relu"}, "explicit"),
    "window_short": (16, {"pattern": WindowPattern(2)}, "sdpa"),
    "window_long": (256, {"pattern": WindowPattern(2)}, "window"),
    "strided_long": (672, {"pattern": StridedPattern(16, causal=False)}, "block_sparse"),
    "grid_long": (324, {"pattern": Neighborhood2DPattern(18, 18, 3)}, "neighborhood2d"),
    "graph_long": (256, {"pattern": _graph(256)}, "graph"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("name", tuple(CALLS))
def test_the_chosen_kernel_runs(name, dtype):
    n, options, expected = CALLS[name]
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 1, n, 4, generator=g).to(dtype).requires_grad_() for _ in range(3))
    options = dict(options, key_lengths=torch.tensor([n, n // 3]))
    if options.get("bias") == "learned":
        options["bias"] = torch.randn(n, n, generator=g).to(dtype).requires_grad_()
    choice = choose_kernel(q, k, v, **options)
    assert choice.name == expected, str(choice)
    out = attention(q, k, v, **options)
    assert torch.equal(out, attention(q, k, v, kernel=choice.name, **options))
    leaves = [q, k, v] + ([options["bias"]] if "bias" in options else [])
    grads = torch.autograd.grad(out, leaves, torch.ones_like(out))
    for t in (out, *grads):
        assert t.dtype == dtype and bool(torch.isfinite(t).all())
