"""The sparse kernels give bit-identical results (outputs and gradients, float64) at 1 and 2
threads: the work is split over (batch*head, tile) and every sum keeps its order whatever
the thread count, so a run does not change with the machine's core count."""

from __future__ import annotations

import pytest
import torch
from sparse_helpers import SlopeBias, grads, qkv

from selfattn.functional.sparse import sparse_attention
from selfattn.patterns import (
    BigBirdPattern,
    GraphPattern,
    Neighborhood2DPattern,
    StridedPattern,
    WindowPattern,
)


def _graph(n: int) -> GraphPattern:
    g = torch.Generator().manual_seed(3)
    ei = torch.stack([torch.randint(0, n, (n * 6,), generator=g), torch.arange(n).repeat_interleave(6)])
    return GraphPattern(ei, n, duplicates="merge")


CASES = {
    "window fused": (WindowPattern(40), {}),
    "window explicit": (WindowPattern(40), {"kernel": "tiles_explicit"}),
    "window trainable bias": (WindowPattern(17, dilation=2), {"bias": SlopeBias(4)}),
    "bigbird fused": (BigBirdPattern(32), {}),
    "strided fused (two parts)": (StridedPattern(23), {}),
    "strided relu (grouped normaliser)": (StridedPattern(23), {"normalize": "relu"}),
    "grid fused": (Neighborhood2DPattern(24, 24, 5), {}),
    "graph fused": (_graph(576), {}),
    "graph sigmoid": (_graph(576), {"normalize": "sigmoid"}),
}


def _run(pattern, options: dict, threads: int) -> list[torch.Tensor]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        q, k, v = qkv(2, 4, 576, 576, 16, seed=5)
        inputs = [q, k, v] + [p for p in options.get("bias", torch.nn.Module()).parameters()]
        out = sparse_attention(q, k, v, pattern, **options)
        return [out.detach(), *grads(out, inputs, seed=6)]
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_and_two_threads_give_the_same_bits(case):
    pattern, options = CASES[case]
    one, two = _run(pattern, options, 1), _run(pattern, options, 2)
    for i, (a, b) in enumerate(zip(one, two, strict=True)):
        assert torch.equal(a, b), f"{case}: tensor {i} differs by {(a - b).abs().max().item():.3g}"
