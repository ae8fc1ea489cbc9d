"""Linear Transformer: the causal parallel form equals the recurrent form step by step."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.variants import LinearTransformerAttention
from selfattn.nn.variants.linear_transformer import elu_feature_map

DT = torch.float64


@pytest.mark.parametrize("chunk_size", [1, 4, 64])
def test_causal_parallel_form_equals_recurrent_steps(chunk_size):
    torch.manual_seed(0)
    m = LinearTransformerAttention(16, 2, chunk_size=chunk_size).double()
    x = torch.randn(3, 13, 16, dtype=DT)
    parallel = m(x, causal=True)
    state = None
    for t in range(13):
        before = state
        y_t, state = m.step(x[:, t], state)
        torch.testing.assert_close(y_t, parallel[:, t], rtol=1e-12, atol=1e-12)
        if before is not None:
            assert before.t == t  # the state passed in is not modified
    assert state.t == 13


def test_non_causal_form_is_the_normalised_kernel_product():
    torch.manual_seed(0)
    m = LinearTransformerAttention(16, 2).double()
    x = torch.randn(2, 9, 16, dtype=DT)
    q, k, v = m._project(x, None, None)
    a = elu_feature_map(q) @ elu_feature_map(k).transpose(-1, -2)
    o = (a / a.sum(-1, keepdim=True)) @ v
    expected = m.out_proj(o.transpose(1, 2).reshape(2, 9, 16))
    torch.testing.assert_close(m(x), expected)


def test_feature_map_is_positive():
    x = torch.linspace(-30, 30, 101, dtype=DT)
    assert bool((elu_feature_map(x) > 0).all())


def test_step_rejects_bad_input():
    m = LinearTransformerAttention(16, 2)
    with pytest.raises(ValueError, match="x_t"):
        m.step(torch.randn(2, 1, 16))
    _, state = m.step(torch.randn(2, 16))
    with pytest.raises(ValueError, match="state"):
        m.step(torch.randn(3, 16), state)
