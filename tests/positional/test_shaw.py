"""Shaw relative keys/values: the kernel path against the paper's formulas, and the module."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn import MultiHeadAttention
from selfattn.positional import (
    ShawMultiHeadAttention,
    ShawRelativePositions,
    relative_index,
    shaw_attention,
    shaw_attention_reference,
)

TOL = {"atol": 1e-10, "rtol": 1e-9}


def tensors(seed: int, b: int, h: int, lq: int, lk: int, d: int, k: int):
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return torch.randn(*shape, dtype=torch.float64, generator=g).requires_grad_(True)

    return r(b, h, lq, d), r(b, h, lk, d), r(b, h, lk, d), r(2 * k + 1, d), r(2 * k + 1, d)


@settings(max_examples=30, deadline=None)
@given(lq=st.integers(1, 6), extra=st.integers(0, 3), k=st.integers(1, 4), causal=st.booleans(),
       kernel=st.sampled_from(["sdpa", "flash_bias", "explicit", "reference"]), seed=st.integers(0, 2**16),
       padded=st.booleans())
def test_kernel_path_equals_the_papers_formulas_outputs_and_gradients(lq, extra, k, causal, kernel,
                                                                      seed, padded):
    lk = lq + extra
    q, kk, v, rk, rv = tensors(seed, 2, 2, lq, lk, 4, k)
    key_mask = None
    if padded:
        key_mask = torch.arange(lk)[None, :] < torch.tensor([lk, max(1, lk - 2)])[:, None]
    fast, w_fast = shaw_attention(q, kk, v, rk, rv, k, key_mask=key_mask, causal=causal,
                                  kernel=kernel, return_weights=True)
    slow, w_slow = shaw_attention_reference(q, kk, v, rk, rv, k, key_mask=key_mask, causal=causal)
    torch.testing.assert_close(fast, slow, **TOL)
    torch.testing.assert_close(w_fast, w_slow, **TOL)
    probe = torch.randn_like(fast)
    g_fast = torch.autograd.grad((fast * probe).sum(), (q, kk, v, rk, rv))
    g_slow = torch.autograd.grad((slow * probe).sum(), (q, kk, v, rk, rv))
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_auto_picks_sdpa_without_gradients_flash_bias_with_and_explicit_otherwise(monkeypatch):
    from selfattn.positional import shaw as shaw_module

    picked = []

    def spy(*args, kernel, **kwargs):
        picked.append(kernel)
        return attention(*args, kernel=kernel, **kwargs)

    from selfattn.functional import attention, choose_kernel

    monkeypatch.setattr(shaw_module, "attention", spy)
    q, kk, v, rk, rv = tensors(0, 1, 2, 5, 5, 4, 2)
    with torch.no_grad():
        shaw_attention(q, kk, v, rk, rv, 2)
    shaw_attention(q, kk, v, rk, rv, 2)
    shaw_attention(q, kk, v, rk, rv, 2, dropout_p=0.1)  # flash's output would be discarded
    shaw_attention(q, kk, v, rk, rv, 2, normalize="relu")  # flash_bias is softmax only
    shaw_attention(q, kk, v, rk, rv, 2, kernel="sdpa")  # a named kernel is kept
    assert picked == ["auto", "flash_bias", "explicit", "explicit", "sdpa"]
    bias = torch.randn(1, 2, 5, 5, dtype=torch.float64)  # what "auto" gets without gradients
    assert choose_kernel(q.detach(), kk.detach(), v.detach(), bias=bias,
                         return_weights=True).name == "sdpa"


@settings(max_examples=30, deadline=None)
@given(lq=st.integers(1, 7), lk=st.integers(1, 7), k=st.integers(1, 3), causal=st.booleans(),
       empty_set=st.booleans(), extra_bias=st.booleans(), seed=st.integers(0, 2**16))
def test_training_on_flash_bias_equals_the_explicit_path(lq, lk, k, causal, empty_set, extra_bias,
                                                         seed):
    """Under grad "auto" runs flash_bias: outputs, weights and every gradient as on explicit."""
    q, kk, v, rk, rv = tensors(seed, 2, 2, lq, lk, 4, k)
    # Lq > Lk with causal leaves the first queries without keys, as does an empty set.
    key_lengths = torch.tensor([lk, 0 if empty_set else max(1, lk - 2)])
    params = [q, kk, v, rk, rv]
    bias = None
    if extra_bias:
        bias = torch.randn(1, 2, lq, lk, dtype=torch.float64, requires_grad=True)
        params.append(bias)
    results = []
    for kernel in ("auto", "explicit"):
        out, w = shaw_attention(q, kk, v, rk, rv, k, key_lengths=key_lengths, causal=causal,
                                bias=bias, kernel=kernel, return_weights=True)
        probe = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)
        loss = (out * probe).sum() + (w * w).sum()  # the weights' own gradient path too
        results.append((out, w, torch.autograd.grad(loss, params)))
    (out, w, grads), (out_x, w_x, grads_x) = results
    torch.testing.assert_close(out, out_x, **TOL)
    torch.testing.assert_close(w, w_x, **TOL)
    for a, b in zip(grads, grads_x, strict=True):
        torch.testing.assert_close(a, b, **TOL)


def test_module_trains_the_same_on_auto_and_explicit():
    torch.manual_seed(3)
    auto = ShawMultiHeadAttention(8, 2, max_distance=2).double()
    explicit = ShawMultiHeadAttention(8, 2, max_distance=2, kernel="explicit").double()
    explicit.load_state_dict(auto.state_dict())
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    key_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    outs = []
    for m in (auto, explicit):
        y = m(x, key_mask=key_mask, causal=True)
        y.square().sum().backward()
        outs.append((y, [p.grad for p in m.parameters()]))
    torch.testing.assert_close(outs[0][0], outs[1][0], **TOL)
    for a, b in zip(outs[0][1], outs[1][1], strict=True):
        torch.testing.assert_close(a, b, **TOL)


@settings(max_examples=20, deadline=None)
@given(shift=st.integers(-500, 500), seed=st.integers(0, 2**16))
def test_scores_and_outputs_are_invariant_to_shifting_all_positions(shift, seed):
    q, kk, v, rk, rv = tensors(seed, 1, 2, 4, 6, 4, 2)
    q_pos, k_pos = torch.tensor([0, 3, 4, 9]), torch.arange(6) * 2
    out, w = shaw_attention(q, kk, v, rk, rv, 2, q_pos=q_pos, k_pos=k_pos, return_weights=True)
    out2, w2 = shaw_attention(q, kk, v, rk, rv, 2, q_pos=q_pos + shift, k_pos=k_pos + shift,
                              return_weights=True)
    torch.testing.assert_close(out, out2, atol=0, rtol=0)
    torch.testing.assert_close(w, w2, atol=0, rtol=0)
    assert relative_index(torch.tensor(5), torch.tensor(0), 2) == 0  # clipped at -K


def test_dropout_uses_the_same_dropped_weights_in_both_terms():
    q, kk, v, rk, rv = tensors(1, 1, 2, 5, 5, 4, 2)
    torch.manual_seed(7)
    out = shaw_attention(q, kk, v, rk, rv, 2, dropout_p=0.5)
    _, w = shaw_attention_reference(q, kk, v, rk, rv, 2)
    torch.manual_seed(7)
    wd = F.dropout(w, 0.5)
    idx = relative_index(torch.arange(5)[:, None], torch.arange(5)[None, :], 2)
    want = wd @ v + torch.einsum("bhij,ijd->bhid", wd, rv[idx])
    torch.testing.assert_close(out, want, **TOL)


def test_module_with_zero_tables_is_the_plain_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2).double()
    rel = ShawRelativePositions(4, max_distance=2).double()
    with torch.no_grad():
        rel.keys.zero_()
        rel.values.zero_()
    shaw = rel.attention_module(mha)
    x = torch.randn(2, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(shaw(x, causal=True), mha(x, causal=True), **TOL)


def test_packed_cross_attention_uses_each_sets_own_alignment():
    torch.manual_seed(1)
    shaw = ShawMultiHeadAttention(8, 2, max_distance=2).double()
    xs = [torch.randn(n, 8, dtype=torch.float64) for n in (2, 4)]
    cs = [torch.randn(n, 8, dtype=torch.float64) for n in (5, 4)]
    out, weights = shaw(torch.cat(xs), torch.cat(cs), offsets=torch.tensor([0, 2, 6]),
                        context_offsets=torch.tensor([0, 5, 9]), return_weights=True)
    for s, (lo, hi) in enumerate(((0, 2), (2, 6))):
        alone, w = shaw(xs[s][None], cs[s][None], return_weights=True)
        torch.testing.assert_close(out[lo:hi], alone[0], **TOL)
        torch.testing.assert_close(weights[s], w[0], **TOL)


def test_kernels_and_scores_that_cannot_take_it_say_so():
    with pytest.raises(ValueError, match=r"kernel: Shaw relative positions need a dense kernel .* got 'window'"):
        ShawMultiHeadAttention(8, 2, kernel="window")
    with pytest.raises(ValueError, match=r"score: Shaw's relative keys add q \. a\^K to a dot-product score"):
        ShawMultiHeadAttention(8, 2, score="additive")
    with pytest.raises(ValueError, match=r"relative: expected tables with rows of size 4"):
        ShawMultiHeadAttention(8, 2, relative=ShawRelativePositions(3))
    q, kk, v, rk, rv = tensors(0, 1, 1, 3, 3, 4, 2)
    with pytest.raises(ValueError, match=r"rel_k: expected shape \(7, 4\)"):
        shaw_attention(q, kk, v, rk, rv, 3)
    with pytest.raises(ValueError, match="mask: not used with packed input"):
        ShawMultiHeadAttention(8, 2)(torch.randn(3, 8), offsets=torch.tensor([0, 3]),
                                     mask=torch.ones(3, 3, dtype=torch.bool))
