"""``Encoder(..., packed=True)``: padding removed once, layers on the real vectors, padded
once at the end; equal to the padded stack on real vectors (outputs and gradients)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn import Encoder, EncoderLayer


@settings(max_examples=10)
@given(lengths=st.lists(st.integers(0, 9), min_size=1, max_size=4), norm_first=st.booleans(),
       dtype=st.sampled_from([torch.float64, torch.float32]), seed=st.integers(0, 50))
def test_packed_encoder_equals_padded(lengths, norm_first, dtype, seed):
    torch.manual_seed(seed)
    enc = Encoder(EncoderLayer(8, 2, dim_feedforward=12, dropout=0.0, norm_first=norm_first), 2).to(dtype)
    width = max(max(lengths), 1)
    mask = torch.arange(width)[None] < torch.tensor(lengths)[:, None]
    x = torch.randn(len(lengths), width, 8, dtype=dtype, requires_grad=True)
    cot = torch.randn(int(mask.sum()), 8, dtype=dtype)
    outs, grads = [], []
    for packed in (True, False):
        out = enc(x, key_mask=mask, packed=packed)
        grads.append(torch.autograd.grad((out[mask] * cot).sum() + 0 * out.sum(), [x, *enc.parameters()]))
        outs.append(out)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert torch.allclose(outs[0][mask], outs[1][mask], atol=tol)
    assert bool((outs[0][~mask] == 0).all())
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=tol * 10)


def test_packed_refuses_what_it_cannot_keep_exact():
    enc = Encoder(EncoderLayer(8, 2), 1)
    x, mask = torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"packed: expected padded x .* key_mask= only"):
        enc(x, key_mask=mask, causal=True, packed=True)
    with pytest.raises(ValueError, match=r"packed: expected padded x .* got x of shape \(6, 8\)"):
        enc(x.reshape(6, 8), key_mask=mask, packed=True)
    with pytest.raises(ValueError, match=r"mask: expected each row to be True for its first n entries"):
        enc(x, key_mask=torch.tensor([[False, True, True], [True, True, True]]), packed=True)
