"""ALiBi: the paper's slopes, the bias pair by pair, shift invariance, any pairs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.positional import ALiBiBias, alibi_slopes


def test_slopes_are_the_papers():
    assert alibi_slopes(8) == [2.0 ** -(h + 1) for h in range(8)]
    assert alibi_slopes(4) == [2.0 ** -(2 * (h + 1)) for h in range(4)]
    # Not a power of two: the 4 slopes of H=4, then every other slope of H=8.
    assert alibi_slopes(6) == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]
    with pytest.raises(ValueError, match="num_heads: expected at least 1, got 0"):
        alibi_slopes(0)
    with pytest.raises(ValueError, match="slopes: expected 3 slopes"):
        ALiBiBias(3, slopes=[0.5, 0.25])


@settings(max_examples=25, deadline=None)
@given(heads=st.integers(1, 12), lq=st.integers(1, 7), lk=st.integers(1, 7))
def test_dense_bias_equals_the_pair_by_pair_formula(heads, lq, lk):
    bias = ALiBiBias(heads).double()
    slopes = alibi_slopes(heads)
    want = torch.tensor([[[-slopes[h] * abs((i + lk - lq) - j) for j in range(lk)]
                          for i in range(lq)] for h in range(heads)], dtype=torch.float64)
    torch.testing.assert_close(bias.dense(lq, lk), want, atol=0, rtol=0)


@settings(max_examples=25, deadline=None)
@given(shift=st.integers(-10_000, 10_000), seed=st.integers(0, 2**16))
def test_bias_is_invariant_to_shifting_all_positions(shift, seed):
    g = torch.Generator().manual_seed(seed)
    q_pos = torch.randint(0, 100, (5, 1), generator=g)
    k_pos = torch.randint(0, 100, (1, 6), generator=g)
    bias = ALiBiBias(4).double()
    torch.testing.assert_close(bias.pairwise(q_pos + shift, k_pos + shift), bias.pairwise(q_pos, k_pos),
                               atol=0, rtol=0)


def test_pairwise_at_gathered_pairs_equals_the_dense_bias():
    """What a window kernel does: ask only for the pairs it computes."""
    bias = ALiBiBias(3)
    dense = bias.dense(10, 10)
    i = torch.arange(10)[:, None]
    j = (i + torch.arange(-2, 3)[None, :]).clamp(0, 9)  # a width-5 window per query
    torch.testing.assert_close(bias.pairwise(i, j), dense[:, i, j])
