"""MultiHeadAttention, SelfAttention and the encoder: equivalence and mask properties."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from selfattn.functional import reference_attention, reference_self_attention
from selfattn.nn import Encoder, EncoderLayer, MultiHeadAttention, SelfAttention
from selfattn.varlen import lengths_to_mask, lengths_to_offsets, pack

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _torch_mha(kdim=None, vdim=None, bias=True, seed=0):
    torch.manual_seed(seed)
    m = nn.MultiheadAttention(16, 4, batch_first=True, kdim=kdim, vdim=vdim, bias=bias)
    m.eval()
    return m, MultiHeadAttention.from_torch(m).eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("mask_kind", ["none", "key_padding", "bool_attn", "float_attn", "both"])
def test_from_torch_same_outputs(mask_kind, bias):
    m, ours = _torch_mha(bias=bias)
    x = torch.randn(3, 7, 16)
    kpm = torch.zeros(3, 7, dtype=torch.bool)
    kpm[1, 5:] = True  # torch: True = padding
    am_bool = torch.rand(7, 7) < 0.3
    am_bool.fill_diagonal_(False)  # keep every query with at least one key
    am_float = torch.randn(7, 7)
    tkw, okw = {}, {}
    if mask_kind in ("key_padding", "both"):
        tkw["key_padding_mask"], okw["key_mask"] = kpm, ~kpm
    if mask_kind in ("bool_attn", "both"):
        tkw["attn_mask"], okw["mask"] = am_bool, ~am_bool
    if mask_kind == "float_attn":
        tkw["attn_mask"], okw["bias"] = am_float, am_float
    ref, ref_w = m(x, x, x, need_weights=True, average_attn_weights=False, **tkw)
    out, w = ours(x, return_weights=True, **okw)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # torch's inference fast path must agree too
        torch.testing.assert_close(ours(x, **okw), m(x, x, x, need_weights=False, **tkw)[0],
                                   atol=1e-6, rtol=1e-5)


def test_from_torch_cross_attention_with_other_key_value_dims():
    m, ours = _torch_mha(kdim=10, vdim=6)
    x, ctx, val = torch.randn(2, 5, 16), torch.randn(2, 9, 10), torch.randn(2, 9, 6)
    ref = m(x, ctx, val, need_weights=False)[0]
    torch.testing.assert_close(ours(x, ctx, value=val), ref, atol=1e-6, rtol=1e-5)


def test_from_torch_gradients_match():
    m, ours = _torch_mha()
    m.train(), ours.train()
    x = torch.randn(2, 6, 16)
    kpm = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    m(x, x, x, key_padding_mask=kpm)[0].square().sum().backward()
    ours(x, key_mask=~kpm).square().sum().backward()
    torch.testing.assert_close(ours.in_proj.weight.grad, m.in_proj_weight.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(ours.out_proj.weight.grad, m.out_proj.weight.grad, atol=1e-5, rtol=1e-4)


def test_from_torch_rejects_what_it_cannot_represent():
    with pytest.raises(ValueError, match="add_bias_kv"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(8, 2, add_bias_kv=True))
    with pytest.raises(TypeError, match=r"m: expected a torch\.nn\.MultiheadAttention"):
        MultiHeadAttention.from_torch(nn.Linear(2, 2))


def test_self_attention_is_the_lecture_matrix_form():
    torch.manual_seed(0)
    sa = SelfAttention(5, 3, 4, scale=1.0).double()
    x = torch.randn(1, 6, 5, dtype=torch.float64)
    out, w = sa(x, return_weights=True)
    O, A_prime = reference_self_attention(x[0].T, sa.Wq, sa.Wk, sa.Wv)
    torch.testing.assert_close(out[0], O.T)
    torch.testing.assert_close(w[0], A_prime.T)
    # Each column of A' is a distribution over the keys; b_i is dominated by the top score.
    torch.testing.assert_close(A_prime.sum(0), torch.ones(6, dtype=torch.float64))


@SETTINGS
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=4), causal=st.booleans(),
       normalize=st.sampled_from(["softmax", "relu", "sigmoid"]), seed=st.integers(0, 999))
def test_mha_packed_equals_padded_and_padding_is_invisible(lengths, causal, normalize, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(8, 2, normalize=normalize).double().eval()
    lengths_t = torch.tensor(lengths)
    L = max(lengths)
    x = torch.randn(len(lengths), L, 8, dtype=torch.float64)
    mask = lengths_to_mask(lengths_t, L)
    padded_out = mha(x, key_lengths=lengths_t, causal=causal)
    # Changing what sits in the padding changes nothing real.
    x2 = torch.where(mask[..., None], x, torch.randn_like(x) * 100)
    torch.testing.assert_close(mha(x2, key_lengths=lengths_t, causal=causal)[mask], padded_out[mask])
    values, offsets = pack(x, lengths=lengths_t)
    packed_out = mha(values, offsets=offsets, causal=causal)
    torch.testing.assert_close(packed_out, padded_out[mask])
    assert torch.equal(offsets, lengths_to_offsets(lengths_t))


def test_mha_heads_match_functional_reference():
    torch.manual_seed(0)
    mha = MultiHeadAttention(12, 3, head_dim=5).double()
    x = torch.randn(2, 4, 12, dtype=torch.float64)
    out, w = mha(x, causal=True, return_weights=True)
    q, k, v = (t.view(2, 4, 3, 5).transpose(1, 2) for t in mha.in_proj(x).split(15, -1))
    ref, ref_w = reference_attention(q, k, v, causal=True, return_weights=True)
    torch.testing.assert_close(w, ref_w)
    torch.testing.assert_close(out, mha.out_proj(ref.transpose(1, 2).reshape(2, 4, 15)))


def test_mha_additive_score_trains():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, score="additive")
    x = torch.randn(2, 5, 8)
    mha(x).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mha.parameters())


def test_mha_bad_input_messages():
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor \(batch, length, 8\)"):
        mha(torch.randn(5, 8))
    with pytest.raises(ValueError, match="x: expected last dimension 8, got shape"):
        mha(torch.randn(1, 5, 7))
    with pytest.raises(ValueError, match=r"num_heads: expected a divisor of embed_dim=8"):
        MultiHeadAttention(8, 3)
    with pytest.raises(ValueError, match="mask: not used with packed input"):
        mha(torch.randn(5, 8), offsets=torch.tensor([0, 5]), mask=torch.ones(5, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"key_mask: expected shape \(1, 5\)"):
        mha(torch.randn(1, 5, 8), key_mask=torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="context: required, since kdim=4 differs"):
        MultiHeadAttention(8, 2, kdim=4)(torch.randn(1, 5, 8))


@pytest.mark.parametrize("norm_first", [True, False])
def test_encoder_packed_equals_padded_and_learns(norm_first):
    torch.manual_seed(0)
    enc = Encoder(EncoderLayer(16, 4, dropout=0.0, norm_first=norm_first), num_layers=2).double()
    lengths = torch.tensor([3, 7, 1])
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    mask = lengths_to_mask(lengths, 7)
    padded, weights = enc(x, key_lengths=lengths, return_weights=True)
    assert len(weights) == 2 and weights[0].shape == (3, 4, 7, 7)
    assert torch.equal(weights[1][0, :, :, 3:], torch.zeros(4, 7, 4, dtype=torch.float64))
    values, offsets = pack(x, lengths=lengths)
    torch.testing.assert_close(enc(values, offsets=offsets), padded[mask])
    # One optimiser step on a simple target lowers the loss.
    opt = torch.optim.SGD(enc.parameters(), lr=0.05)
    losses = []
    for _ in range(2):
        opt.zero_grad()
        loss = (enc(x, key_lengths=lengths)[mask] - 1.0).square().mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[1] < losses[0]
    with pytest.raises(ValueError, match="num_layers: expected at least 1"):
        Encoder(EncoderLayer(16, 4), 0)


def test_encoder_layer_takes_any_attention_by_factory_or_name():
    calls = []

    def factory(d_model, num_heads, **kw):
        calls.append((d_model, num_heads, kw))
        return MultiHeadAttention(d_model, num_heads, **kw)

    layer = EncoderLayer(8, 2, dropout=0.0, attention=factory, normalize="relu")
    assert calls == [(8, 2, {"dropout": 0.0, "normalize": "relu"})]
    assert layer.self_attn.normalize == "relu"
    assert isinstance(EncoderLayer(8, 2, attention="full").self_attn, MultiHeadAttention)
    with pytest.raises(ValueError, match="name: expected one of"):
        EncoderLayer(8, 2, attention="no-such-attention")


def test_encoder_layer_builds_variants_with_their_own_attention_dropout():
    layer = EncoderLayer(16, 4, dropout=0.1, attention="performer", attention_dropout=0.0)
    assert type(layer.self_attn).__name__ == "PerformerAttention"
    x = torch.randn(2, 9, 16)
    assert layer(x, key_lengths=torch.tensor([9, 3])).shape == (2, 9, 16)
