"""Every scheme in a real encoder: kernels agree, masks hold, packed = padded, permutations."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.functional import choose_kernel
from selfattn.positional import ATTENTION_SCHEMES, INPUT_SCHEMES, SCHEMES, build_positional
from selfattn.varlen import pack

from .helpers import ALL, D_MODEL, HEADS, WITH_POSITIONS, grads, model, with_kernel

TOL = {"atol": 1e-10, "rtol": 1e-9}


def test_every_scheme_says_where_it_acts():
    assert set(INPUT_SCHEMES) == {"none", "sinusoidal", "learned", "floater", "rnn"}
    assert set(ATTENTION_SCHEMES) == {"shaw", "t5", "rope", "alibi"}
    for name in SCHEMES:
        scheme = build_positional(name, d_model=D_MODEL, num_heads=HEADS)
        assert scheme.name == name
        assert scheme.where == ("inputs" if name in INPUT_SCHEMES else "attention")


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("causal", [False, True])
def test_fused_kernel_equals_reference_outputs_and_gradients(name, causal):
    fused = model(name, kernel="sdpa")
    ref = with_kernel(fused, "reference")
    torch.manual_seed(1)
    x = torch.randn(2, 7, D_MODEL, dtype=torch.float64)
    lengths = torch.tensor([7, 5])
    outs = []
    for enc in (fused, ref):
        xi = x.clone().requires_grad_(True)
        y = enc(xi, key_lengths=lengths, causal=causal)
        real = torch.arange(7)[None, :] < lengths[:, None]
        (y[real] * torch.linspace(-1, 1, D_MODEL, dtype=torch.float64)).sum().backward()
        outs.append((y[real].detach(), grads(enc, xi)))
    torch.testing.assert_close(outs[0][0], outs[1][0], **TOL)
    for g_fused, g_ref in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(g_fused, g_ref, **TOL)


@pytest.mark.parametrize(("name", "kernel"), [("t5", "flash_bias"), ("alibi", "sdpa")])
def test_score_biases_reach_a_fused_kernel(name, kernel):
    """ALiBi's fixed bias goes to SDPA; T5's learned one (it needs a gradient) to flash_bias."""
    bias = build_positional(name, d_model=D_MODEL, num_heads=HEADS)
    q = torch.randn(1, HEADS, 6, D_MODEL // HEADS)
    assert choose_kernel(q, q, q, bias=bias, causal=True).name == kernel


@pytest.mark.parametrize("name", ALL)
def test_causal_mask_holds(name):
    enc = model(name)
    torch.manual_seed(2)
    x = torch.randn(2, 9, D_MODEL, dtype=torch.float64)
    changed = x.clone()
    changed[:, 5:] = torch.randn(2, 4, D_MODEL, dtype=torch.float64)
    y, y2 = enc(x, causal=True), enc(changed, causal=True)
    torch.testing.assert_close(y[:, :5], y2[:, :5], **TOL)
    assert (y[:, 5:] - y2[:, 5:]).abs().max() > 1e-3  # the change did reach the future


@pytest.mark.parametrize("name", ALL)
def test_padding_is_invisible(name):
    enc = model(name)
    torch.manual_seed(3)
    lengths = torch.tensor([9, 4, 6])
    x = torch.randn(3, 9, D_MODEL, dtype=torch.float64)
    changed = x.clone()
    pad = torch.arange(9)[None, :] >= lengths[:, None]
    changed[pad] = torch.randn(int(pad.sum()), D_MODEL, dtype=torch.float64) * 10
    real = ~pad
    y, y2 = enc(x, key_lengths=lengths), enc(changed, key_lengths=lengths)
    torch.testing.assert_close(y[real], y2[real], **TOL)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("causal", [False, True])
def test_packed_uses_each_sets_own_positions(name, causal):
    enc = model(name)
    torch.manual_seed(4)
    lengths = torch.tensor([5, 8, 1, 3])
    x = torch.randn(4, 8, D_MODEL, dtype=torch.float64)
    packed, offsets = pack(x, lengths=lengths)
    y_packed = enc(packed, offsets=offsets, causal=causal)
    # Packed = padded with lengths ...
    y_padded, _ = pack(enc(x, key_lengths=lengths, causal=causal), lengths=lengths)
    torch.testing.assert_close(y_packed, y_padded, **TOL)
    # ... = each set alone, from position 0.
    for b in range(4):
        alone = enc(x[b:b + 1, : int(lengths[b])], causal=causal)[0]
        torch.testing.assert_close(y_packed[offsets[b]:offsets[b + 1]], alone, **TOL)


@settings(max_examples=15, deadline=None)
@given(length=st.integers(2, 9), seed=st.integers(0, 2**16))
def test_without_positions_the_encoder_is_permutation_equivariant(length, seed):
    enc = model("none")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, length, D_MODEL, dtype=torch.float64, generator=g)
    perm = torch.randperm(length, generator=g)
    torch.testing.assert_close(enc(x[:, perm]), enc(x)[:, perm], **TOL)


@pytest.mark.parametrize("name", WITH_POSITIONS)
def test_with_positions_the_encoder_is_not_permutation_equivariant(name):
    enc = model(name)
    torch.manual_seed(5)
    x = torch.randn(2, 6, D_MODEL, dtype=torch.float64)
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    assert (enc(x[:, perm]) - enc(x)[:, perm]).abs().max() > 1e-4


def test_registry_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"name: expected one of .*'alibi'.*got 'alibbi'"):
        build_positional("alibbi", d_model=8, num_heads=2)
    with pytest.raises(ValueError, match=r"options: the 'sinusoidal' scheme accepts \['base'\]"):
        build_positional("sinusoidal", d_model=8, max_len=3)
    with pytest.raises(ValueError, match="num_heads: expected a divisor of d_model=10"):
        build_positional("rope", d_model=10, num_heads=4)


def test_heads_mismatch_is_reported():
    from selfattn.positional import ALiBiBias, PositionedEncoder, RotaryEmbedding

    with pytest.raises(ValueError, match="num_heads: ALiBiBias was built for 8 heads, the attention has 2"):
        PositionedEncoder(ALiBiBias(8), D_MODEL, HEADS, 1)
    with pytest.raises(ValueError, match="head_dim: this RotaryEmbedding rotates heads of size 2"):
        PositionedEncoder(RotaryEmbedding(2), D_MODEL, HEADS, 1)


@pytest.mark.parametrize("name", ["t5", "alibi"])
def test_score_biases_reach_the_window_kernel(name):
    """A sliding window asks the bias only for the pairs it computes (``pairwise``)."""
    patterns = pytest.importorskip("selfattn.patterns")
    from selfattn.functional import attention

    bias = build_positional(name, d_model=D_MODEL, num_heads=HEADS).double()
    torch.manual_seed(6)
    # The window kernel takes sequences above its measured crossover (256 x 256 pairs).
    q, k, v = (torch.randn(1, HEADS, 256, 4, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    window = patterns.WindowPattern(3)
    assert choose_kernel(q, k, v, bias=bias, pattern=window).name == "window"
    params = [q, k, v, *bias.parameters()]
    results = []
    for kernel in ("window", "explicit"):
        out = attention(q, k, v, bias=bias, pattern=window, kernel=kernel)
        results.append((out, torch.autograd.grad((out * out).sum(), params)))
    torch.testing.assert_close(results[0][0], results[1][0], **TOL)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_encoder_wiring_errors_name_the_argument():
    from selfattn.positional import ALiBiBias, PositionedEncoder, SinusoidalEncoding

    with pytest.raises(ValueError, match=r"layer_kwargs: \['position_bias'\] are set by the 'alibi' scheme"):
        PositionedEncoder("alibi", D_MODEL, HEADS, 1, position_bias=ALiBiBias(HEADS))
    with pytest.raises(ValueError, match="positional_options: only with a scheme name"):
        PositionedEncoder(ALiBiBias(HEADS), D_MODEL, HEADS, 1, positional_options={"x": 1})
    with pytest.raises(TypeError, match=r"positional: expected a scheme from selfattn\.positional, got Linear"):
        PositionedEncoder(torch.nn.Linear(2, 2), D_MODEL, HEADS, 1)
    with pytest.raises(ValueError, match="positional: expected an encoding of width d_model=8"):
        PositionedEncoder(SinusoidalEncoding(6), D_MODEL, HEADS, 1)


@pytest.mark.parametrize("name", ["t5", "shaw"])
def test_each_layer_learns_its_own_relative_parameters(name):
    enc = model(name, layers=2)
    attn = [layer.self_attn for layer in enc.encoder.layers]
    tables = [a.position_bias.weight if name == "t5" else a.relative.keys for a in attn]
    assert tables[0] is not tables[1]
    torch.testing.assert_close(tables[0], tables[1])  # copies of one initialisation
    enc(torch.randn(1, 5, D_MODEL, dtype=torch.float64)).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in tables)
