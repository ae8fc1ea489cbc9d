"""build_attention: every method by name, "full" is MultiHeadAttention, clear errors."""

from __future__ import annotations

import pytest
import torch
from variant_setup import VARIANT_OPTIONS

from selfattn.nn import MultiHeadAttention
from selfattn.nn.variants import ATTENTION_VARIANTS, attention_names, build_attention


def test_full_is_multihead_attention():
    m = build_attention("full", 16, 2, dropout=0.0)
    assert type(m) is MultiHeadAttention


@pytest.mark.parametrize("name", list(VARIANT_OPTIONS))
def test_every_variant_builds_by_name_and_runs(name):
    m = build_attention(name, 16, 2, **VARIANT_OPTIONS[name])
    assert isinstance(m, ATTENTION_VARIANTS[name])
    assert m(torch.randn(2, 5, 16)).shape == (2, 5, 16)


def test_aliases_and_spelling():
    assert isinstance(build_attention("Linear-Transformer", 8, 2), ATTENTION_VARIANTS["linear"])
    assert isinstance(build_attention("nystromformer", 8, 2), ATTENTION_VARIANTS["nystrom"])
    assert isinstance(build_attention("synthesizer", 8, 2, max_len=4),
                      ATTENTION_VARIANTS["synthesizer_dense"])


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="name: expected one of") as info:
        build_attention("longformer", 8, 2)
    for name in ATTENTION_VARIANTS:
        assert repr(name) in str(info.value)
    assert set(ATTENTION_VARIANTS) <= set(attention_names())


@pytest.mark.parametrize("name", ["linformer", "synthesizer_dense", "synthesizer_random", "sinkhorn"])
def test_max_len_is_required_where_parameters_depend_on_it(name):
    with pytest.raises(ValueError, match="max_len: required"):
        build_attention(name, 8, 2)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="num_heads"):
        build_attention("performer", 10, 3)
    with pytest.raises(ValueError, match="n_buckets"):
        build_attention("reformer", 8, 2, n_buckets=3)
    with pytest.raises(ValueError, match="pinv"):
        build_attention("nystrom", 8, 2, pinv="svd")
    with pytest.raises(TypeError, match="name"):
        build_attention(None, 8, 2)
