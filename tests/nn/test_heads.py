"""Task heads: pooling ignores padding, empty sets give zeros, shapes per task kind."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.heads import AttentionPooling, SetHead, VectorHead, pool


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    return x, mask


@pytest.mark.parametrize("how", ["mean", "max", "first"])
def test_pooling_ignores_padded_vectors_and_empty_sets_pool_to_zero(how):
    x, mask = _batch()
    out = pool(x, mask, how)
    changed = x.clone()
    changed[~mask] = 1e6                      # garbage in the padding
    assert torch.equal(pool(changed, mask, how), out)
    assert torch.equal(out[2], torch.zeros(8))
    expected = {"mean": x[1, :2].mean(0), "max": x[1, :2].amax(0), "first": x[1, 0]}[how]
    assert torch.allclose(out[1], expected)


def test_attention_pooling_weights_sum_to_one_over_real_vectors_only():
    x, mask = _batch()
    torch.manual_seed(0)
    module = AttentionPooling(8, num_heads=2)
    out, w = module(x, mask, return_weights=True)
    assert out.shape == (3, 8) and w.shape == (3, 2, 5)
    assert torch.allclose(w[0].sum(-1), torch.ones(2))
    assert torch.allclose(w[1].sum(-1), torch.ones(2)) and bool((w[1, :, 2:] == 0).all())
    assert not torch.isnan(out).any()
    assert torch.allclose(module(x[1:2, :2], mask[1:2, :2]), out[1:2], atol=1e-6)


def test_heads_give_one_output_per_vector_or_per_set():
    x, mask = _batch()
    assert VectorHead(8, 7)(x).shape == (3, 5, 7)
    for pooling in ("mean", "first", "attention", "max"):
        assert SetHead(8, 4, pooling, hidden=6)(x, mask).shape == (3, 4)


def test_bad_arguments_name_themselves():
    x, mask = _batch()
    with pytest.raises(ValueError, match=r"pooling: expected one of \['mean', 'first', 'attention', 'max'\], got 'sum'"):
        SetHead(8, 2, "sum")
    with pytest.raises(ValueError, match=r"mask: expected a bool tensor of shape \(3, 5\)"):
        pool(x, mask.long(), "mean")
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor"):
        pool(x[0], None, "mean")
    with pytest.raises(ValueError, match="num_outputs: expected >= 1, got 0"):
        VectorHead(8, 0)
