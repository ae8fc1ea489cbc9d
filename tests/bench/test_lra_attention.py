"""The chart's twelve attentions: built by name, exact patterns, padding never leaks."""

from __future__ import annotations

import pytest
import torch

from selfattn.bench.lra import LRA_ATTENTIONS, LRAClassifier, PatternAttention, build_lra_attention, collate
from selfattn.bench.lra.attention import PATTERN_ATTENTIONS, FixedBigBirdPattern, lra_pattern
from selfattn.functional import attention
from selfattn.nn import MultiHeadAttention


def test_twelve_attentions_of_the_chart():
    assert len(LRA_ATTENTIONS) == 12 and LRA_ATTENTIONS[0] == "full"
    kinds = {name: type(build_lra_attention(name, 16, 2, max_len=64)).__name__ for name in LRA_ATTENTIONS}
    assert kinds["full"] == "MultiHeadAttention"
    assert all(kinds[n] == "PatternAttention" for n in PATTERN_ATTENTIONS)
    assert len(set(kinds.values())) == 9  # full, pattern, and seven distinct approximations


@pytest.mark.parametrize("name", PATTERN_ATTENTIONS)
def test_pattern_attention_equals_full_attention_with_the_pattern_mask(name):
    torch.manual_seed(0)
    length = 96
    layer = build_lra_attention(name, 32, 4, max_len=length, window=8, block_size=16)
    reference = MultiHeadAttention(32, 4)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(2, length, 32)
    lengths = torch.tensor([length, 70])
    mask = layer.pattern.dense_mask(length, length)
    assert not bool(mask.all()) and bool(mask.any(-1).all())  # sparse, no empty row
    got = layer(x, key_lengths=lengths)
    want = reference(x, key_lengths=lengths, mask=mask)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_pattern_attention_kernel_is_the_pattern():
    torch.manual_seed(0)
    q = k = v = torch.randn(1, 2, 40, 8)
    p = lra_pattern("local", 40, window=3)
    out = attention(q, k, v, pattern=p)
    far = attention(q, k, v, mask=p.dense_mask(40, 40), kernel="reference")
    torch.testing.assert_close(out, far, rtol=1e-5, atol=1e-6)


def test_bigbird_layout_is_fixed_at_max_len():
    p = FixedBigBirdPattern(256, 16, random_blocks=2, seed=3)
    full = p.block_layout(256)
    assert full.shape == (16, 16)
    for length in (17, 100, 255):
        nb = -(-length // 16)
        assert torch.equal(p.block_layout(length), full[:nb, :nb])
    with pytest.raises(ValueError, match="length: expected at most 16 blocks"):
        p.block_layout(300)


@pytest.mark.parametrize("name", LRA_ATTENTIONS)
def test_classifier_with_every_attention_ignores_padding(name):
    torch.manual_seed(0)
    model = LRAClassifier(20, 3, attention=name, max_len=64, d_model=16, heads=2, layers=1).eval()
    seqs = [(torch.randint(1, 20, (n,)), 0) for n in (64, 37, 5)]
    ids, lengths, _ = collate(seqs)
    logits = model(ids, lengths)
    assert logits.shape == (3, 3) and bool(torch.isfinite(logits).all())
    for i, n in ((1, 37), (2, 5)):
        alone = model(ids[i:i + 1, :n], lengths[i:i + 1])
        torch.testing.assert_close(logits[i:i + 1], alone, rtol=1e-4, atol=1e-5)


def test_bad_names_and_patterns():
    with pytest.raises(ValueError, match="name: expected one of"):
        build_lra_attention("flash", 16, 2, max_len=32)
    with pytest.raises(ValueError, match="name: expected one of"):
        lra_pattern("full", 32)
    with pytest.raises(TypeError, match=r"pattern: expected a selfattn\.patterns pattern"):
        PatternAttention(16, 2, pattern="window")
    with pytest.raises(ValueError, match="max_len: expected a positive length"):
        build_lra_attention("full", 16, 2, max_len=0)
    with pytest.raises(ValueError, match="positions: expected 'learned' or 'sinusoidal'"):
        LRAClassifier(10, 2, positions="rotary")
