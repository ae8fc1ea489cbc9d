"""Packed <-> padded conversion and packed attention against the per-set reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfattn.functional import ScoreBias, reference_attention, varlen_attention
from selfattn.functional.varlen_attention import group_by_length
from selfattn.varlen import (
    lengths_to_offsets,
    mask_to_lengths,
    offsets_to_lengths,
    pack,
    pad,
    positions,
    segment_ids,
)

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class DistanceBias(ScoreBias):
    """A learnable per-head slope times the signed distance: enough to check positions."""

    def __init__(self, heads: int) -> None:
        super().__init__()
        self.num_heads = heads
        self.slope = torch.nn.Parameter(torch.linspace(-0.5, 0.5, heads, dtype=torch.float64))

    def pairwise(self, q_pos, k_pos):
        d = (k_pos - q_pos).to(torch.float64)
        return self.slope.view(-1, *([1] * d.dim())) * d


@SETTINGS
@given(lengths=st.lists(st.integers(0, 7), min_size=1, max_size=5), feat=st.integers(1, 3))
def test_pack_pad_round_trip(lengths, feat):
    lengths_t = torch.tensor(lengths)
    offsets = lengths_to_offsets(lengths_t)
    values = torch.randn(int(offsets[-1]), feat)
    padded, mask = pad(values, offsets)
    assert padded.shape == (len(lengths), max(lengths), feat)
    assert torch.equal(mask.sum(1), lengths_t)
    assert torch.equal(padded[~mask], torch.zeros_like(padded[~mask]))
    back, offsets2 = pack(padded, mask=mask)
    assert torch.equal(back, values) and torch.equal(offsets2, offsets)
    back, _ = pack(padded, lengths=lengths_t)
    assert torch.equal(back, values)
    assert torch.equal(offsets_to_lengths(offsets), lengths_t)
    assert torch.equal(mask_to_lengths(mask), lengths_t)
    seg, pos = segment_ids(offsets), positions(offsets)
    for b, n in enumerate(lengths):
        sl = slice(int(offsets[b]), int(offsets[b + 1]))
        assert torch.equal(seg[sl], torch.full((n,), b))
        assert torch.equal(pos[sl], torch.arange(n))


def test_conversion_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"offsets: expected offsets\[-1\] == 5"):
        pad(torch.zeros(5, 2), torch.tensor([0, 2, 4]))
    with pytest.raises(ValueError, match=r"offsets: expected non-decreasing"):
        pad(torch.zeros(4, 2), torch.tensor([0, 3, 2, 4]))
    with pytest.raises(ValueError, match="max_len: expected at least the longest length 3"):
        pad(torch.zeros(4, 2), torch.tensor([0, 3, 4]), max_len=2)
    with pytest.raises(ValueError, match="mask: expected each row to be True for its first n"):
        mask_to_lengths(torch.tensor([[True, False, True]]))
    with pytest.raises(ValueError, match="lengths: expected every length <= 2"):
        pack(torch.zeros(1, 2, 3), lengths=torch.tensor([3]))
    with pytest.raises(TypeError, match=r"offsets: expected an integer dtype, got torch\.float32"):
        pad(torch.zeros(2, 1), torch.tensor([0.0, 2.0]))


def test_group_by_length_bounds_waste_and_covers_every_set():
    lengths = [int(x) for x in torch.randint(16, 513, (64,), generator=torch.Generator().manual_seed(0))]
    groups = group_by_length(lengths, max_waste=0.15)
    assert sorted(i for g in groups for i in g) == list(range(64))
    for g in groups:
        top = max(lengths[i] for i in g)
        useful = sum(lengths[i] ** 2 for i in g)
        assert 1 - useful / (len(g) * top * top) <= 0.15 + 1e-12
    assert len(groups) < 64  # grouping happened
    assert len(group_by_length(lengths, max_waste=0.0)) == len(set(lengths))


@st.composite
def packed_cases(draw):
    lengths = draw(st.lists(st.integers(0, 8), min_size=1, max_size=5))
    cross = draw(st.booleans())
    key_lengths = draw(st.lists(st.integers(0, 8), min_size=len(lengths), max_size=len(lengths))) \
        if cross else lengths
    causal = (not cross) and draw(st.booleans())
    use_bias = draw(st.booleans())
    normalize = draw(st.sampled_from(["softmax", "relu", "sigmoid"]))
    waste = draw(st.sampled_from([0.0, 0.15, 0.9]))
    return lengths, key_lengths, cross, causal, use_bias, normalize, waste


@SETTINGS
@given(case=packed_cases(), seed=st.integers(0, 10_000))
def test_varlen_equals_per_set_reference(case, seed):
    lengths, key_lengths, cross, causal, use_bias, normalize, waste = case
    g = torch.Generator().manual_seed(seed)
    h, d = 2, 3
    offs = lengths_to_offsets(torch.tensor(lengths))
    koffs = lengths_to_offsets(torch.tensor(key_lengths))
    q = torch.randn(int(offs[-1]), h, d, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(int(koffs[-1]), h, d, generator=g, dtype=torch.float64, requires_grad=True)
    v = torch.randn(int(koffs[-1]), h, 4, generator=g, dtype=torch.float64, requires_grad=True)
    bias = DistanceBias(h) if use_bias else None
    out, weights = varlen_attention(q, k, v, offs, koffs if cross else None, causal=causal, bias=bias,
                                    normalize=normalize, max_waste=waste, return_weights=True)
    assert out.shape == (q.shape[0], h, 4)
    loss = out.square().sum() + sum(w.sum() for w in weights)
    params = [q, k, v] + ([bias.slope] if bias is not None else [])
    grads = torch.autograd.grad(loss, params, allow_unused=True)

    ref_loss = 0.0
    for b in range(len(lengths)):
        qs = q[offs[b]:offs[b + 1]].transpose(0, 1)[None]
        ks = k[koffs[b]:koffs[b + 1]].transpose(0, 1)[None]
        vs = v[koffs[b]:koffs[b + 1]].transpose(0, 1)[None]
        ro, rw = reference_attention(qs, ks, vs, causal=causal, bias=bias, normalize=normalize,
                                     return_weights=True)
        torch.testing.assert_close(out[offs[b]:offs[b + 1]], ro[0].transpose(0, 1))
        torch.testing.assert_close(weights[b], rw[0])
        ref_loss = ref_loss + ro.square().sum() + rw.sum()
    if isinstance(ref_loss, float):
        return
    ref_grads = torch.autograd.grad(ref_loss, params, allow_unused=True)
    for a, r in zip(grads, ref_grads, strict=True):
        if r is None:
            continue
        torch.testing.assert_close(a, r)


def test_varlen_errors():
    q = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"offsets: expected offsets\[-1\] == 5"):
        varlen_attention(q, q, q, torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="causal: packed causal attention needs the same sets"):
        varlen_attention(q, q, q, torch.tensor([0, 2, 5]), torch.tensor([0, 3, 5]), causal=True)
    with pytest.raises(ValueError, match=r"q: expected a 3-D tensor \(total_queries, heads, head_dim\)"):
        varlen_attention(q[None], q, q, torch.tensor([0, 5]))
    with pytest.raises(TypeError, match="bias: packed attention takes a ScoreBias"):
        varlen_attention(q, q, q, torch.tensor([0, 5]), bias=torch.zeros(5, 5))
