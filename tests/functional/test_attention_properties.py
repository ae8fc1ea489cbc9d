"""Every kernel and option of ``attention`` against the lecture's reference, in float64.

Outputs, weights and the gradients of q, k, v and the bias are compared over random
batch sizes, heads, lengths (0 and 1 included), dimensions, masks (fully masked rows
included), biases (with -inf entries), normalisations and kernels.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfattn.functional import attention, choose_kernel, reference_attention
from selfattn.nn import AdditiveScore

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def calls(draw, allow_empty: bool = True):
    lo = 0 if allow_empty else 1
    b = draw(st.integers(1, 3))
    h = draw(st.integers(1, 3))
    lq = draw(st.integers(lo, 9))
    lk = draw(st.integers(lo, 9))
    d = draw(st.integers(1, 8))
    dv = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    q, k, v = rand(b, h, lq, d), rand(b, h, lk, d), rand(b, h, lk, dv)
    kw: dict = {}
    mask_kind = draw(st.sampled_from(["none", "2d", "4d", "4d-broadcast"]))
    if mask_kind == "2d":
        kw["mask"] = torch.rand(lq, lk, generator=g) < 0.7
    elif mask_kind == "4d":
        kw["mask"] = torch.rand(b, h, lq, lk, generator=g) < 0.7
    elif mask_kind == "4d-broadcast":
        kw["mask"] = torch.rand(b, 1, lq, lk, generator=g) < 0.6
    pad = draw(st.sampled_from(["none", "lengths", "key_mask"]))
    if pad == "lengths":
        kw["key_lengths"] = torch.randint(0, lk + 1, (b,), generator=g)
    elif pad == "key_mask":
        kw["key_mask"] = torch.rand(b, lk, generator=g) < 0.7
    kw["causal"] = draw(st.booleans())
    bias_kind = draw(st.sampled_from(["none", "2d", "4d", "neg-inf"]))
    if bias_kind == "2d":
        kw["bias"] = rand(lq, lk)
    elif bias_kind == "4d":
        kw["bias"] = rand(1, h, lq, lk)
    elif bias_kind == "neg-inf":
        bias = rand(b, 1, lq, lk)
        kw["bias"] = bias.masked_fill(torch.rand(b, 1, lq, lk, generator=g) < 0.3, float("-inf"))
    kw["normalize"] = draw(st.sampled_from(["softmax", "relu", "sigmoid"]))
    if draw(st.booleans()):
        kw["scale"] = draw(st.floats(0.1, 2.0))
    return q, k, v, kw


def _run(fn, q, k, v, kw, seed=0):
    """Output, weights and gradients of a fixed random projection of both."""
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v)]
    kw = dict(kw)
    bias = kw.get("bias")
    if bias is not None:
        bias = bias.clone().requires_grad_(True)
        kw["bias"] = bias
    out, w = fn(*leaves, return_weights=True, **kw)
    g = torch.Generator().manual_seed(seed)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum() + (
        w * torch.randn(w.shape, generator=g, dtype=w.dtype)).sum()
    grads = torch.autograd.grad(loss, [*leaves] + ([bias] if bias is not None else []),
                                allow_unused=True)
    grads = [torch.zeros_like(t) if gr is None else gr
             for t, gr in zip([*leaves] + ([bias] if bias is not None else []), grads, strict=True)]
    return out, w, grads


def _assert_close(name, a, b, tol=1e-9):
    assert not torch.isnan(a).any(), f"{name}: NaN"
    # -inf bias entries carry no gradient: compare only finite positions.
    torch.testing.assert_close(a, b, atol=tol, rtol=tol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("kernel", ["auto", "explicit", "sdpa"])
@SETTINGS
@given(case=calls())
def test_kernel_equals_reference(kernel, case):
    q, k, v, kw = case
    if kernel == "sdpa":
        why = choose_kernel(q, k, v, **kw).passed_over.get("sdpa")
        if kw["normalize"] != "softmax" or 0 in q.shape or 0 in k.shape or 0 in v.shape:
            with pytest.raises(ValueError, match="kernel: 'sdpa' cannot compute"):
                attention(q, k, v, kernel="sdpa", **kw)
            return
        assert why is None

    def fast(*a, **k_):
        return attention(*a, kernel=kernel, **k_)

    out, w, grads = _run(fast, q, k, v, kw)
    rout, rw, rgrads = _run(reference_attention, q, k, v, kw)
    _assert_close("output", out, rout)
    _assert_close("weights", w, rw)
    for name, a, b in zip(["dq", "dk", "dv", "dbias"], grads, rgrads, strict=False):
        _assert_close(name, a, b)


@SETTINGS
@given(case=calls(allow_empty=False))
def test_query_without_keys_gets_zero_and_no_nan(case):
    q, k, v, kw = case
    kw = dict(kw)
    b, lk = q.shape[0], k.shape[2]
    # Force set 0 to have no key at all, set by set, on every kernel.
    km = torch.ones(b, lk, dtype=torch.bool)
    km[0] = False
    kw.pop("key_lengths", None)
    kw["key_mask"] = km
    for kernel in ["auto", "explicit", "reference"]:
        out, w, grads = _run(lambda *a, kernel=kernel, **k_: attention(*a, kernel=kernel, **k_),
                             q, k, v, kw)
        assert torch.equal(out[0], torch.zeros_like(out[0])), kernel
        assert torch.equal(w[0], torch.zeros_like(w[0])), kernel
        for gr in grads:
            assert not torch.isnan(gr).any(), kernel
        assert torch.equal(grads[0][0], torch.zeros_like(grads[0][0])), kernel


def test_fp32_sdpa_matches_reference_within_fp32_error():
    """The fused kernel's fp32 error stays within a small factor of the explicit fp32 error,
    both measured against the float64 reference (attention-gym's three-way check)."""
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 200, 32, generator=g, dtype=torch.float64) for _ in range(3))
    km = torch.rand(2, 200, generator=g) < 0.8
    gold, gold_w = reference_attention(q, k, v, key_mask=km, causal=True, return_weights=True)
    f32 = [t.float() for t in (q, k, v)]
    eager, eager_w = attention(*f32, key_mask=km, causal=True, kernel="explicit", return_weights=True)
    fused, fused_w = attention(*f32, key_mask=km, causal=True, kernel="sdpa", return_weights=True)
    eager_err = (eager.double() - gold).abs().max()
    fused_err = (fused.double() - gold).abs().max()
    assert fused_err <= 5 * eager_err + 1e-6
    assert (fused_w.double() - gold_w).abs().max() <= 5 * (eager_w.double() - gold_w).abs().max() + 1e-6


@SETTINGS
@given(lq=st.integers(1, 7), lk=st.integers(1, 7), seed=st.integers(0, 1000),
       normalize=st.sampled_from(["softmax", "relu", "sigmoid"]))
def test_additive_score_equals_column_form(lq, lk, seed, normalize):
    torch.manual_seed(seed)
    score = AdditiveScore(head_dim=4, hidden_dim=5, num_heads=2, chunk_size=3).double()
    q, k, v = torch.randn(2, 2, lq, 4).double(), torch.randn(2, 2, lk, 4).double(), \
        torch.randn(2, 2, lk, 3).double()
    km = torch.rand(2, lk) < 0.7
    out = attention(q, k, v, score=score, key_mask=km, normalize=normalize)
    ref = reference_attention(q, k, v, score=score, key_mask=km, normalize=normalize)
    torch.testing.assert_close(out, ref)
    params = list(score.parameters())
    g1 = torch.autograd.grad(out.square().sum(), params)
    g2 = torch.autograd.grad(ref.square().sum(), params)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)
    assert choose_kernel(q, k, v, score=score).name == "explicit"


def test_dispatcher_explains_its_choice():
    q = torch.randn(1, 2, 5, 4)
    choice = choose_kernel(q, q, q)
    assert choice.name == "sdpa"
    relu = choose_kernel(q, q, q, normalize="relu")
    assert relu.name == "explicit" and "relu" in relu.passed_over["sdpa"]
    assert "explicit" in str(relu) and "sdpa" in str(relu)
    with pytest.raises(ValueError, match="kernel: expected 'auto' or one of"):
        attention(q, q, q, kernel="flash9")


def test_dropout_keeps_masks_and_is_unbiased():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 1, 4, 8), torch.randn(1, 1, 6, 8), torch.randn(1, 1, 6, 8)
    km = torch.tensor([[True, True, True, False, False, False]])
    v[..., 3:, :] = 1e6  # a masked value leaking in would dominate the mean
    exact = attention(q, k, v, key_mask=km)
    for kernel in ["sdpa", "explicit"]:
        runs = torch.stack([attention(q, k, v, key_mask=km, dropout_p=0.3, kernel=kernel)
                            for _ in range(3000)])
        torch.testing.assert_close(runs.mean(0), exact, atol=0.08, rtol=0.0)
        assert not torch.equal(runs[0], runs[1])
    with pytest.raises(ValueError, match="dropout_p"):
        attention(q, k, v, dropout_p=1.0)


def test_speed_preferences_never_refuse_an_explicit_request():
    from selfattn.functional import Kernel, register_kernel
    from selfattn.functional.dense import explicit_kernel
    from selfattn.functional.dispatch import _KERNELS

    probe = Kernel("probe-slow", explicit_kernel, lambda call: None, "test kernel",
                   slower=lambda call: "below its crossover in this test")
    register_kernel(probe)
    try:
        q = torch.randn(1, 1, 4, 2)
        choice = choose_kernel(q, q, q)
        assert choice.name == "sdpa"
        assert choice.passed_over["probe-slow"] == "below its crossover in this test"
        torch.testing.assert_close(attention(q, q, q, kernel="probe-slow"), attention(q, q, q))
    finally:
        _KERNELS[:] = [k for k in _KERNELS if k.name != "probe-slow"]
