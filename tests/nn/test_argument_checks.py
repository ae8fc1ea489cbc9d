"""Bad arguments fail where they are given, with a message naming the argument, the
expected range and the value: at construction for ``scale`` and ``dropout``, at the call
for an input whose dtype or batch size does not fit the module."""

from __future__ import annotations

import math

import pytest
import torch

from selfattn.nn import EncoderLayer, MultiHeadAttention, SelfAttention
from selfattn.nn.seq2seq import DecoderLayer
from selfattn.nn.variants import SinkhornAttention, build_attention

E, H = 16, 2

BAD_DROPOUT = [1.5, 1.0, -0.1, math.nan]
BAD_SCALE = [math.nan, math.inf, 0.0, -1.0]


def _message(value: float) -> str:
    return f"got {value!r}".replace("(", r"\(").replace(")", r"\)")


@pytest.mark.parametrize("p", BAD_DROPOUT)
@pytest.mark.parametrize("build", [
    lambda p: MultiHeadAttention(16, 4, dropout=p),
    lambda p: build_attention("reformer", 16, 4, dropout=p),
    lambda p: build_attention("synthesizer_dense", 16, 4, dropout=p, max_len=8),
    lambda p: EncoderLayer(16, 4, dropout=p),
    lambda p: DecoderLayer(16, 4, 32, dropout=p),
], ids=["mha", "reformer", "synthesizer", "encoder_layer", "decoder_layer"])
def test_dropout_outside_zero_one_fails_at_construction(build, p):
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\), " + _message(p)):
        build(p)


def test_encoder_layer_checks_attention_dropout_by_its_own_name():
    with pytest.raises(ValueError, match=r"attention_dropout: expected a probability in \[0, 1\)"):
        EncoderLayer(16, 4, dropout=0.1, attention_dropout=2.0)
    with pytest.raises(TypeError, match="dropout: expected a probability"):
        MultiHeadAttention(16, 4, dropout="high")


@pytest.mark.parametrize("scale", BAD_SCALE)
def test_scale_must_be_finite_and_positive(scale):
    with pytest.raises(ValueError, match="scale: expected a finite number > 0, " + _message(scale)):
        SelfAttention(8, 4, scale=scale)
    with pytest.raises(ValueError, match="temperature: expected a finite number > 0"):
        SinkhornAttention(16, 2, max_len=8, block_size=4, temperature=scale)
    assert SelfAttention(8, 4, scale=1.0).scale == 1.0  # the slides' unscaled form


@pytest.mark.parametrize("x", [torch.randn(2, 5, E, dtype=torch.float64),
                               torch.ones(2, 5, E, dtype=torch.long)], ids=["float64", "int64"])
def test_an_input_of_another_dtype_names_x_its_dtype_and_the_modules(x):
    for m in (MultiHeadAttention(E, H), SelfAttention(E, 8)):  # variants: tests/variants
        with pytest.raises(TypeError, match=rf"x: expected dtype torch.float32 \(the module's "
                                            rf"parameters\), got {x.dtype}") as info:
            m(x)
        assert "mat1" not in str(info.value)
    # The same input, converted, runs; so does the module converted to the input's dtype.
    m = MultiHeadAttention(E, H)
    assert m(x.float()).dtype == torch.float32
    if x.is_floating_point():
        assert m.to(x.dtype)(x).dtype == x.dtype


def test_autocast_may_mix_dtypes():
    m = MultiHeadAttention(E, H)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(torch.randn(2, 5, E, dtype=torch.bfloat16))
    assert y.shape == (2, 5, E)


def test_context_of_another_dtype_or_batch_is_named():
    m = MultiHeadAttention(E, H)
    x = torch.randn(2, 5, E)
    with pytest.raises(TypeError, match=r"context: expected dtype torch.float32.*got torch.float64"):
        m(x, torch.randn(2, 7, E, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"context: expected batch size 2 \(that of x\), got 3"):
        m(x, torch.randn(3, 7, E))
    with pytest.raises(ValueError, match=r"value: expected batch size 2 \(that of x\), got 1"):
        m(x, torch.randn(2, 7, E), value=torch.randn(1, 7, E))
    assert m(x, torch.randn(2, 7, E)).shape == (2, 5, E)  # another length is cross-attention
