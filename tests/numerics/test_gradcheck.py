"""``torch.autograd.gradcheck`` in float64 on every exact kernel, on tiny calls: one vector
(L = 1), causal attention over padded sets (one set fully padded), and a learned bias
(with the weights as a second output). ``gradgradcheck`` on the kernels written in plain
autograd, the only ones that claim a double backward (the others are autograd Functions
with hand-written backward passes).
"""

from __future__ import annotations

import pytest
import torch
from numerics_cases import KERNELS

from selfattn.functional import attention, varlen_attention
from selfattn.patterns import GraphPattern, Neighborhood2DPattern, StridedPattern, WindowPattern

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

F64 = torch.float64
CONFIGS = {"one_vector": 1, "causal_padded": 4, "bias_and_weights": 3}


def _pattern(kernel: str, n: int):
    if kernel == "window":
        return WindowPattern(1)
    if kernel == "block_sparse":
        return StridedPattern(2, causal=False)
    if kernel == "neighborhood2d":
        h = 2 if n == 4 else 1
        return Neighborhood2DPattern(h, n // h, 1 if n == 1 else 3, border="clip")
    if kernel == "graph":  # node n - 1 has no incoming edge (isolated)
        src = torch.tensor([0, 1, 0, 2, 1])[: 2 * (n - 1)] % n
        tgt = torch.tensor([0, 0, 1, 1, 2])[: 2 * (n - 1)] % n
        return GraphPattern(torch.stack([src, tgt]), n, duplicates="merge")
    return None


def _inputs(config: str, kernel: str):
    n = CONFIGS[config]
    g = torch.Generator().manual_seed(n)
    b = 2 if config == "causal_padded" else 1
    q, k, v = (torch.randn(b, 1, n, 2, generator=g, dtype=F64, requires_grad=True) for _ in range(3))
    options = {"pattern": _pattern(kernel, n)}
    if config == "causal_padded":
        options.update(causal=True, key_lengths=torch.tensor([0, 3]))
    with_bias = config == "bias_and_weights" or kernel == "flash_bias"
    bias = torch.randn(n, n, generator=g, dtype=F64, requires_grad=True) if with_bias else None
    return (q, k, v, bias), options, config == "bias_and_weights"


def _function(kernel: str, options: dict, weights: bool):
    if kernel == "varlen":
        def packed(q, k, v, bias):  # sets of 0, 1 and n - 1 vectors
            n = q.shape[2]
            offsets = torch.tensor([0, 0, 1, n] if n > 1 else [0, 0, 1])
            return varlen_attention(*(x[0].transpose(0, 1) for x in (q, k, v)), offsets,
                                    causal=options.get("causal", False))

        return packed

    def run(q, k, v, bias):
        return attention(q, k, v, bias=bias, kernel=kernel, return_weights=weights, **options)

    return run


@pytest.mark.parametrize("config", tuple(CONFIGS))
@pytest.mark.parametrize("kernel", KERNELS)
def test_gradcheck(kernel, config):
    if kernel == "varlen" and config == "bias_and_weights":
        pytest.skip("varlen_attention takes a ScoreBias only and returns per-set weights")
    inputs, options, weights = _inputs(config, kernel)
    if kernel == "varlen":  # one packed batch
        inputs = (*(x[:1] for x in inputs[:3]), None)
    fn = _function(kernel, options, weights)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("kernel", ("explicit", "reference"))
def test_gradgradcheck(kernel):
    inputs, options, _ = _inputs("bias_and_weights", kernel)
    options.update(causal=True)
    assert torch.autograd.gradgradcheck(_function(kernel, options, True), inputs, eps=1e-6,
                                        atol=1e-7, rtol=1e-5)
