"""Cordonnier et al.'s construction: multi-head self-attention reproduces a convolution."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from selfattn.experiments.attention_is_a_cnn import ConvAsAttention, run


@settings(max_examples=15, deadline=None)
@given(kernel=st.sampled_from([1, 3, 5]), height=st.integers(1, 9), width=st.integers(1, 9),
       cin=st.integers(1, 3), cout=st.integers(1, 3), seed=st.integers(0, 999))
def test_attention_equals_conv2d(kernel, height, width, cin, cout, seed):
    torch.manual_seed(seed)
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2).double()
    x = torch.randn(2, cin, height, width, dtype=torch.float64)
    layer = ConvAsAttention.from_conv(conv, alpha=80.0)
    torch.testing.assert_close(layer(x), conv(x), atol=1e-10, rtol=1e-10)


def test_error_shrinks_as_heads_sharpen():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 2, 3, padding=1).double()
    x = torch.randn(1, 2, 6, 7, dtype=torch.float64)
    with torch.no_grad():
        errors = [float((ConvAsAttention.from_conv(conv, a)(x) - conv(x)).abs().max())
                  for a in (1.0, 4.0, 16.0)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[0] > 1e-2  # at low alpha the heads blur: not a convolution yet


def test_rejects_convolutions_outside_the_theorem():
    with pytest.raises(ValueError, match=r"conv: expected a square kernel, stride 1"):
        ConvAsAttention.from_conv(nn.Conv2d(1, 1, 3, stride=2, padding=1))
    with pytest.raises(ValueError, match=r"conv: expected zero padding 1"):
        ConvAsAttention.from_conv(nn.Conv2d(1, 1, 3, padding=0))
    with pytest.raises(ValueError, match="kernel_size: expected an odd size"):
        ConvAsAttention(1, 1, 2, alpha=1.0)


def test_experiment_writes_results_and_figure(tmp_path):
    result = run(tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["exact_at_alpha_64"] is True
    assert saved["max_abs_error"][-1] < 1e-9 < saved["max_abs_error"][0]
    assert len(saved["alpha"]) == len(saved["max_abs_error"])
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert result["figure"].endswith("figure.png")
