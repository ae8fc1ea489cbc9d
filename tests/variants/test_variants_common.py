"""Properties every variant must have: the call signature of full attention, shapes,
gradients to every parameter, padding that never changes a real output, no NaN for
empty sets, causality where claimed, and clear errors for what a method cannot do."""

from __future__ import annotations

import pytest
import torch
from variant_setup import VARIANTS, E, H, make_variant

from selfattn.nn.variants import VariantAttention
from selfattn.varlen import pack

DT = torch.float64


def _x(b: int, length: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, length, E, generator=g, dtype=DT)


@pytest.mark.parametrize("name", VARIANTS)
def test_output_shape_and_weights(name):
    m = make_variant(name)
    x = _x(3, 20)
    y = m(x)
    assert y.shape == (3, 20, E) and y.dtype == DT
    y2, w = m(x, return_weights=True)
    torch.testing.assert_close(y2, y)
    last = m.k if name == "linformer" else 20
    assert w.shape == (3, H, 20, last)
    if name != "nystrom":  # Nystrom's implied F1 Z F3 rows need not sum to 1
        torch.testing.assert_close(w.sum(-1), torch.ones(3, H, 20, dtype=DT))
        assert bool((w >= -1e-12).all())


@pytest.mark.parametrize("name", VARIANTS)
def test_gradients_reach_every_parameter(name):
    m = make_variant(name).train()
    x = _x(2, 20).requires_grad_()
    kwargs = {"causal": True} if m.supports["causal"] else {}
    (m(x, **kwargs) ** 2).sum().backward()
    assert x.grad is not None and bool(x.grad.abs().sum() > 0)
    for pname, p in m.named_parameters():
        assert p.grad is not None, f"{name}: no gradient reaches {pname}"
        assert bool(torch.isfinite(p.grad).all()), f"{name}: non-finite gradient in {pname}"
        assert bool(p.grad.abs().sum() > 0), f"{name}: zero gradient for {pname}"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("name", VARIANTS)
def test_padding_never_changes_real_outputs(name, causal):
    m = make_variant(name)
    if causal and not m.supports["causal"]:
        pytest.skip(f"{name} has no causal form")
    x = _x(3, 21)
    lengths = torch.tensor([21, 13, 5])
    y = m(x, key_lengths=lengths, causal=causal)
    # The same sets alone, unpadded; and with the padding overwritten by other values.
    noisy = torch.where(torch.arange(21)[None, :, None] < lengths[:, None, None], x, 1e3 * _x(3, 21, 7))
    y_noisy = m(noisy, key_mask=torch.arange(21)[None] < lengths[:, None], causal=causal)
    for i, n in enumerate(lengths.tolist()):
        alone = m(x[i:i + 1, :n], causal=causal)
        torch.testing.assert_close(y[i, :n], alone[0], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(y_noisy[i, :n], alone[0], rtol=1e-9, atol=1e-9)
    # Packed input gives the padded result, and the weights of each set.
    values, offsets = pack(x, lengths)
    y_packed, ws = m(values, offsets=offsets, causal=causal, return_weights=True)
    torch.testing.assert_close(y_packed, pack(y, lengths)[0])
    _, w = m(x, key_lengths=lengths, causal=causal, return_weights=True)
    for i, n in enumerate(lengths.tolist()):
        expected = w[i, :, :n] if name == "linformer" else w[i, :, :n, :n]
        torch.testing.assert_close(ws[i], expected)


@pytest.mark.parametrize("name", VARIANTS)
def test_empty_and_fully_padded_sets_give_zero_attention_without_nan(name):
    m = make_variant(name)
    for causal in [False, True] if m.supports["causal"] else [False]:
        x = _x(2, 0).requires_grad_()
        y = m(x, causal=causal)
        assert y.shape == (2, 0, E)
        x = _x(2, 9).requires_grad_()
        y = m(x, key_lengths=torch.tensor([0, 5]), causal=causal)
        y.sum().backward()
        assert bool(torch.isfinite(y).all()) and bool(torch.isfinite(x.grad).all())
        # No key: the attention output is 0, so the module returns out_proj's bias.
        torch.testing.assert_close(y[0], m.out_proj.bias.expand(9, E))
        for p in m.parameters():
            assert p.grad is None or bool(torch.isfinite(p.grad).all())


@pytest.mark.parametrize("name", [n for n in VARIANTS if n != "reformer"])
def test_causal_outputs_never_see_later_positions(name):
    m = make_variant(name)
    if not m.supports["causal"]:
        with pytest.raises(ValueError, match="causal"):
            m(_x(1, 8), causal=True)
        return
    x = _x(2, 20)
    changed = x.clone()
    changed[:, 11:] = _x(2, 9, 5)
    a, b = m(x, causal=True), m(changed, causal=True)
    torch.testing.assert_close(a[:, :11], b[:, :11], rtol=1e-10, atol=1e-10)
    assert not torch.allclose(a[:, 11:], b[:, 11:])


@pytest.mark.parametrize("name", VARIANTS)
def test_unsupported_arguments_raise_naming_argument_and_method(name):
    m = make_variant(name)
    x = _x(2, 8)
    method = type(m).method
    cases = {
        "mask": {"mask": torch.ones(8, 8, dtype=torch.bool)},
        "causal": {"causal": True},
        "bias": {"bias": torch.zeros(8, 8, dtype=DT)},
        "context": {"context": _x(2, 8, 3)},
    }
    for arg, kwargs in cases.items():
        if m.supports[arg]:
            assert m(x, **kwargs).shape == (2, 8, E)
        else:
            with pytest.raises(ValueError, match=arg) as info:
                m(x, **kwargs)
            assert method in str(info.value)
    if not m.supports["dropout"]:
        with pytest.raises(ValueError, match="dropout"):
            make_variant(name, dropout=0.1)


@pytest.mark.parametrize("name", VARIANTS)
def test_bad_shapes_fail_early(name):
    m = make_variant(name)
    with pytest.raises(ValueError, match="x: expected a 3-D"):
        m(_x(1, 8)[0])
    with pytest.raises(ValueError, match="x: expected last dimension"):
        m(torch.randn(1, 8, E + 1, dtype=DT))
    with pytest.raises(ValueError, match="key_mask"):
        m(_x(2, 8), key_mask=torch.ones(2, 7, dtype=torch.bool))
    with pytest.raises(ValueError, match="key_lengths"):
        m(_x(2, 8), key_lengths=torch.tensor([9, 1]))


@pytest.mark.parametrize("name", VARIANTS)
def test_inputs_of_another_dtype_or_batch_are_named(name):
    m = make_variant(name)  # float64
    for bad in (_x(2, 8).float(), torch.ones(2, 8, E, dtype=torch.long)):
        with pytest.raises(TypeError, match=rf"x: expected dtype torch.float64 \(the module's "
                                            rf"parameters\), got {bad.dtype}"):
            m(bad)
    if m.supports["context"]:
        with pytest.raises(ValueError, match=r"context: expected batch size 2 \(that of x\), got 3"):
            m(_x(2, 8), _x(3, 6))


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_is_a_drop_in_for_full_attention(name):
    """Same constructor core and call as MultiHeadAttention: a model swaps it by name."""
    m = make_variant(name, dropout=0.0, bias=False)
    assert isinstance(m, VariantAttention)
    assert m.out_proj.bias is None
    assert m(_x(2, 8), key_mask=torch.ones(2, 8, dtype=torch.bool)).shape == (2, 8, E)


@pytest.mark.parametrize("name", VARIANTS)
def test_variant_runs_inside_the_core_encoder(name):
    """Swapped into selfattn.nn.EncoderLayer, a variant keeps padding invisible."""
    from selfattn.nn import Encoder, EncoderLayer

    layer = EncoderLayer(E, H, dropout=0.0)
    layer.self_attn = make_variant(name).float()
    enc = Encoder(layer, 2).eval()
    x = _x(2, 12).float()
    y = enc(x, key_lengths=torch.tensor([12, 7]))
    torch.testing.assert_close(y[1, :7], enc(x[1:, :7])[0], rtol=1e-4, atol=1e-5)
