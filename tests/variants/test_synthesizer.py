"""Synthesizer: the weights are the softmax of the synthesised scores, masked like full
attention; random scores do not depend on the input."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.variants import SynthesizerDenseAttention, SynthesizerRandomAttention

DT = torch.float64


def _expected(m, x, scores, allowed):
    s = scores.masked_fill(~allowed, float("-inf"))
    w = torch.softmax(s, -1)
    v = m.in_proj(x).view(x.shape[0], x.shape[1], m.num_heads, -1).transpose(1, 2)
    o = (w @ v).transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
    return m.out_proj(o), w


def test_dense_scores_come_from_each_position_alone():
    torch.manual_seed(0)
    m = SynthesizerDenseAttention(16, 2, max_len=12).double().eval()
    x = torch.randn(2, 7, 16, dtype=DT)
    rows = m.w2(torch.relu(m.w1(x))).view(2, 7, 2, 12)[..., :7].transpose(1, 2)
    causal = torch.ones(7, 7, dtype=torch.bool).tril()
    y, w = m(x, causal=True, return_weights=True)
    y_ref, w_ref = _expected(m, x, rows, causal)
    torch.testing.assert_close(w, w_ref)
    torch.testing.assert_close(y, y_ref)


@pytest.mark.parametrize("trainable", [True, False])
def test_random_scores_ignore_the_input(trainable):
    torch.manual_seed(0)
    m = SynthesizerRandomAttention(16, 2, max_len=10, trainable=trainable).double().eval()
    assert ("R" in dict(m.named_parameters())) is trainable
    _, w1 = m(torch.randn(1, 6, 16, dtype=DT), return_weights=True)
    _, w2 = m(torch.randn(1, 6, 16, dtype=DT), return_weights=True)
    torch.testing.assert_close(w1, w2)
    torch.testing.assert_close(w1[0], torch.softmax(m.R[:, :6, :6], -1))


def test_mask_and_bias_apply_to_the_synthesised_scores():
    torch.manual_seed(0)
    m = SynthesizerRandomAttention(16, 2, max_len=8).double().eval()
    x = torch.randn(2, 8, 16, dtype=DT)
    mask = torch.rand(2, 1, 8, 8) > 0.4
    mask[..., 0] = True
    bias = torch.randn(8, 8, dtype=DT)
    y, w = m(x, mask=mask, bias=bias, return_weights=True)
    y_ref, w_ref = _expected(m, x, m.R[None] + bias, mask)
    torch.testing.assert_close(w, w_ref)
    torch.testing.assert_close(y, y_ref)


def test_longer_than_max_len_raises():
    m = SynthesizerDenseAttention(16, 2, max_len=4)
    with pytest.raises(ValueError, match="max_len=4"):
        m(torch.randn(1, 5, 16))
