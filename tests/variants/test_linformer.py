"""Linformer: identity projections at k = L are full attention; lengths and padding."""

from __future__ import annotations

import pytest
import torch

from selfattn.functional import reference_attention
from selfattn.nn.variants import LinformerAttention

DT = torch.float64


def _identity_linformer(length: int, share_kv: bool = False) -> LinformerAttention:
    torch.manual_seed(0)
    m = LinformerAttention(16, 2, max_len=length, k=length, share_kv=share_kv).double().eval()
    with torch.no_grad():
        m.E.copy_(torch.eye(length, dtype=DT))
        if m.F is not None:
            m.F.copy_(torch.eye(length, dtype=DT))
    return m


def _reference(m: LinformerAttention, x: torch.Tensor, **masks) -> torch.Tensor:
    q, k, v = m._project(x, None, None)
    o = reference_attention(q, k, v, **masks)
    b, h, length, d = o.shape
    return m.out_proj(o.transpose(1, 2).reshape(b, length, h * d))


@pytest.mark.parametrize("share_kv", [False, True])
def test_identity_projections_at_k_equal_length_is_full_attention(share_kv):
    m = _identity_linformer(12, share_kv)
    x = torch.randn(3, 12, 16, dtype=DT)
    torch.testing.assert_close(m(x), _reference(m, x), rtol=1e-12, atol=1e-12)
    lengths = torch.tensor([12, 7, 1])
    torch.testing.assert_close(m(x, key_lengths=lengths), _reference(m, x, key_lengths=lengths),
                               rtol=1e-12, atol=1e-12)
    _, w = m(x, return_weights=True)
    q, k, v = m._project(x, None, None)
    _, w_ref = reference_attention(q, k, v, return_weights=True)
    torch.testing.assert_close(w, w_ref)


def test_shorter_sequences_use_the_first_columns():
    torch.manual_seed(0)
    m = LinformerAttention(16, 2, max_len=32, k=8).double().eval()
    x = torch.randn(2, 10, 16, dtype=DT)
    # The model on x equals the model on x zero-padded to max_len with those keys masked.
    padded = torch.cat([x, torch.randn(2, 22, 16, dtype=DT)], dim=1)
    y = m(padded, key_lengths=torch.tensor([10, 10]))
    torch.testing.assert_close(m(x), y[:, :10])


def test_projection_longer_than_the_set():
    torch.manual_seed(0)
    m = LinformerAttention(16, 2, max_len=64, k=32).double().eval()
    y, w = m(torch.randn(2, 5, 16, dtype=DT), return_weights=True)
    assert w.shape == (2, 2, 5, 32) and bool(torch.isfinite(y).all())


def test_too_long_keys_and_cross_attention():
    torch.manual_seed(0)
    m = LinformerAttention(16, 2, max_len=8, k=4).double()
    with pytest.raises(ValueError, match="max_len=8"):
        m(torch.randn(1, 9, 16, dtype=DT))
    ctx = torch.randn(2, 6, 16, dtype=DT)
    y = m(torch.randn(2, 3, 16, dtype=DT), ctx)
    assert y.shape == (2, 3, 16)


def test_per_head_projections():
    m = LinformerAttention(16, 4, max_len=10, k=3, share_heads=False)
    assert m.E.shape == (4, 3, 10)
    assert m(torch.randn(2, 10, 16)).shape == (2, 10, 16)
