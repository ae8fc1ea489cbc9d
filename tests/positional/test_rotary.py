"""RoPE: the fast rotation against explicit rotation matrices; scores depend on j - i only."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn import MultiHeadAttention
from selfattn.positional import RotaryEmbedding, rotate_reference

even_dims = st.integers(1, 6).map(lambda n: 2 * n)


@settings(max_examples=30, deadline=None)
@given(d=even_dims, positions=st.lists(st.integers(0, 5000), min_size=1, max_size=5),
       seed=st.integers(0, 2**16))
def test_fast_rotation_equals_rotation_matrices_outputs_and_gradients(d, positions, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, len(positions), d, dtype=torch.float64, generator=g, requires_grad=True)
    pos = torch.tensor(positions)
    w = torch.randn(2, len(positions), d, dtype=torch.float64, generator=g)
    fast = RotaryEmbedding(d)(x, pos)
    slow = rotate_reference(x, pos)
    torch.testing.assert_close(fast, slow, atol=1e-10, rtol=0)
    g_fast, = torch.autograd.grad((fast * w).sum(), x)
    g_slow, = torch.autograd.grad((slow * w).sum(), x)
    torch.testing.assert_close(g_fast, g_slow, atol=1e-10, rtol=0)


@settings(max_examples=30, deadline=None)
@given(d=even_dims, length=st.integers(1, 6), shift=st.integers(-1000, 1000),
       seed=st.integers(0, 2**16))
def test_scores_are_invariant_to_shifting_all_positions(d, length, shift, seed):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(length, d, dtype=torch.float64, generator=g)
    k = torch.randn(length, d, dtype=torch.float64, generator=g)
    pos = torch.randint(0, 50, (length,), generator=g) + 1000
    rope = RotaryEmbedding(d)
    scores = rope(q, pos) @ rope(k, pos).T
    shifted = rope(q, pos + shift) @ rope(k, pos + shift).T
    torch.testing.assert_close(scores, shifted, atol=1e-9, rtol=0)
    # ... but they do change when only the keys move.
    moved = rope(q, pos) @ rope(k, pos + 7).T
    assert not torch.allclose(scores, moved)


def test_rotation_keeps_norms():
    x = torch.randn(5, 8, dtype=torch.float64)
    y = RotaryEmbedding(8)(x, torch.arange(5) * 97)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))


def test_packed_attention_rotates_each_set_from_zero():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, rotary=RotaryEmbedding(4)).double()
    a, b = torch.randn(3, 8, dtype=torch.float64), torch.randn(4, 8, dtype=torch.float64)
    packed = mha(torch.cat([a, b]), offsets=torch.tensor([0, 3, 7]))
    torch.testing.assert_close(packed[3:], mha(b[None])[0])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="head_dim: RoPE rotates pairs of dimensions, expected a positive even size, got 5"):
        RotaryEmbedding(5)
    rope = RotaryEmbedding(4)
    with pytest.raises(ValueError, match=r"x: expected shape \(\.\.\., length, 4\)"):
        rope(torch.randn(3, 6), torch.arange(3))
    with pytest.raises(ValueError, match=r"positions: expected shape \(3,\)"):
        rope(torch.randn(3, 4), torch.arange(4))
    with pytest.raises(TypeError, match=r"positions: expected an? integer dtype"):
        rope(torch.randn(3, 4), torch.arange(3.0))
