"""The window kernel equals the oracle (outputs and gradients) for every option and size."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sparse_helpers import (
    F64,
    assert_close,
    check_vs_reference,
    grads,
    on_path,
    one_tile_per_backward_chunk,
    option_sets,
    qkv,
    via_attention,
)

from selfattn.functional import attention, choose_kernel, reference_attention
from selfattn.functional.sparse import sparse_attention, window_attention, window_parts
from selfattn.patterns import WindowPattern
from selfattn.varlen import lengths_to_offsets

OPTIONS = sorted(option_sets(1, 2, 1, 1, 1, 0))


@st.composite
def windows(draw: st.DrawFn) -> WindowPattern:
    causal = draw(st.booleans())
    left = draw(st.integers(0, 20))
    right = None if causal else draw(st.integers(0, 20))
    return WindowPattern(left, right, dilation=draw(st.integers(1, 4)), causal=causal)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=windows(), lq=st.integers(0, 70), extra=st.integers(-3, 3), b=st.integers(1, 2),
       h=st.integers(1, 2), d=st.integers(1, 4), option=st.sampled_from(OPTIONS),
       explicit=st.booleans(), seed=st.integers(0, 2**16))
def test_window_matches_reference(pattern, lq, extra, b, h, d, option, explicit, seed):
    lk = max(lq + extra, 0) if seed % 3 == 0 else lq  # a third of the cases: Lq != Lk
    q, k, v = qkv(b, h, lq, lk, d, seed)
    options = option_sets(h, d, lq, lk, b, seed)[option]
    run = on_path(sparse_attention, "tiles_explicit" if explicit else None)
    check_vs_reference(run, q, k, v, pattern, options, seed)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=windows(), n=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_window_weights_dense_and_band(pattern, n, seed):
    q, k, v = qkv(1, 2, n, n, 3, seed)
    check_vs_reference(sparse_attention, q, k, v, pattern, {}, seed, weights=True)
    out, band = window_attention(q, k, v, pattern, return_weights=True)
    _, dense = reference_attention(q, k, v, pattern=pattern, return_weights=True)
    assert band.shape == (1, 2, n, pattern.width)
    # Band entry s of query i is the key (s - left) * dilation away.
    i = torch.arange(n)[:, None]
    j = i + (torch.arange(pattern.width)[None, :] - pattern.left) * pattern.dilation
    inside = (j >= 0) & (j < n)
    expect = torch.where(inside, dense[:, :, i, j.clamp(0, n - 1)], torch.zeros((), dtype=F64))
    assert_close(band, expect, "band weights")
    assert_close(out, attention(q, k, v, pattern=pattern), "window_attention output")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=windows(), lengths=st.lists(st.integers(0, 25), min_size=1, max_size=4),
       option=st.sampled_from(["plain", "relu", "score_bias_trainable", "sigmoid_causal"]),
       seed=st.integers(0, 2**16))
def test_window_packed_matches_per_set_reference(pattern, lengths, option, seed):
    """Packed sets: the window stays inside each set; positions restart per set."""
    h, d = 2, 3
    n = sum(lengths)
    offsets = lengths_to_offsets(torch.tensor(lengths))
    q, k, v = (x[0].transpose(0, 1).detach().requires_grad_() for x in qkv(1, h, n, n, d, seed))
    options = option_sets(h, d, 1, 1, 1, seed)[option]
    out, band = window_attention(q, k, v, pattern, offsets=offsets, return_weights=True, **options)
    assert band.shape == (n, h, pattern.width)
    parts = []
    for s, e in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        x = [t[s:e].transpose(0, 1)[None] for t in (q, k, v)]
        parts.append(reference_attention(*x, pattern=pattern, **options)[0].transpose(0, 1))
    ref = torch.cat(parts) if parts else out.detach() * 0
    assert_close(out, ref, "packed output")
    if n:
        for a, c in zip(grads(out, [q, k, v], seed), grads(ref, [q, k, v], seed), strict=True):
            assert_close(a, c, "packed gradient")


def test_query_without_keys_gets_zeros_and_finite_gradients():
    q, k, v = qkv(2, 2, 40, 40, 4, 0)
    mask = torch.ones(40, 40, dtype=torch.bool)
    mask[5] = False  # query 5 sees nothing
    for path in ("tiles_fused", "tiles_explicit"):
        out = sparse_attention(q, k, v, WindowPattern(3), mask=mask, key_lengths=torch.tensor([40, 0]),
                               kernel=path)
        assert (out[:, :, 5] == 0).all() and (out[1] == 0).all()
        g = grads(out, [q, k, v], 0)
        assert all(torch.isfinite(x).all() for x in g)
        assert (g[0][:, :, 5] == 0).all() and (g[0][1] == 0).all()


def test_wide_windows_are_clamped_to_full_attention():
    q, k, v = qkv(1, 2, 9, 9, 3, 1)
    out = sparse_attention(q, k, v, WindowPattern(100))
    assert_close(out, reference_attention(q, k, v), "window wider than the sequence = full")
    out = sparse_attention(q, k, v, WindowPattern(100, causal=True))
    assert_close(out, reference_attention(q, k, v, causal=True), "wide causal window = causal")


def test_length_zero_and_one():
    for n in (0, 1):
        q, k, v = qkv(2, 1, n, n, 3, n)
        check_vs_reference(sparse_attention, q, k, v, WindowPattern(2), {}, n)
        check_vs_reference(via_attention, q, k, v, WindowPattern(2), {}, n)


def test_dropout_runs_on_the_tiles_and_is_off_at_zero():
    q, k, v = qkv(1, 2, 64, 64, 4, 3)
    torch.manual_seed(0)
    a = sparse_attention(q, k, v, WindowPattern(5), dropout_p=0.5)
    torch.manual_seed(0)
    b = sparse_attention(q, k, v, WindowPattern(5), dropout_p=0.5)
    assert_close(a, b, "same seed, same dropout")
    ref = reference_attention(q, k, v, pattern=WindowPattern(5))
    assert (a - ref).abs().max() > 1e-3  # dropout changed something
    a.sum().backward()  # and it trains


def test_tiles_cover_every_band_pair_once():
    """The band plan: each (query, key) of the window appears in exactly one tile slot."""
    pattern = WindowPattern(5, 2, dilation=3)
    for lq, lk in ((50, 50), (37, 50)):
        part = window_parts(pattern, lq, lk).parts[0]
        qi = part.q_index(torch.device("cpu"))[..., :, None].expand(-1, -1, part.m)
        kj = part.k_index(torch.device("cpu"))[..., None, :].expand(part.num_tiles, part.bq, -1)
        ok = part.allowed.expand_as(qi) & (qi < lq) & (kj >= 0) & (kj < lk)
        counts = torch.zeros(lq, lk, dtype=torch.long)
        counts.index_put_((qi[ok], kj[ok]), torch.ones_like(qi[ok]), accumulate=True)
        assert torch.equal(counts.bool(), pattern.dense_mask(lq, lk)) and counts.max() == 1


def test_dispatcher_picks_the_window_kernel_for_long_sequences_and_says_why():
    q = k = v = torch.zeros(1, 1, 4096, 4)
    choice = choose_kernel(q, k, v, pattern=WindowPattern(64))
    assert choice.name == "window"
    small = torch.zeros(1, 1, 64, 4)
    choice = choose_kernel(small, small, small, pattern=WindowPattern(8))
    assert choice.name == "sdpa" and "crossover" in choice.passed_over["window"]
    wide = torch.zeros(1, 1, 1024, 4)
    choice = choose_kernel(wide, wide, wide, pattern=WindowPattern(600))
    assert choice.name == "sdpa" and "keys" in choice.passed_over["window"]


def test_attention_auto_is_exact_on_both_sides_of_the_crossover():
    for n in (40, 280):
        q, k, v = qkv(1, 1, n, n, 2, n)
        check_vs_reference(via_attention, q, k, v, WindowPattern(10, dilation=2), {"normalize": "relu"}, n)


@pytest.mark.parametrize("bad,match", [
    (dict(left=-1), "left"),
    (dict(left=2, right=-1), "right"),
    (dict(left=2, dilation=0), "dilation"),
    (dict(left=2, right=1, causal=True), "right"),
    (dict(left=True), "left"),
    (dict(left=2.5), "left"),
])
def test_bad_windows_raise_naming_the_argument(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        WindowPattern(**bad)


def test_window_attention_rejects_bad_input():
    q, k, v = qkv(1, 1, 5, 5, 2, 0)
    with pytest.raises(TypeError, match="pattern"):
        window_attention(q, k, v, "window")
    x = q[0].transpose(0, 1)
    with pytest.raises(ValueError, match="offsets"):
        window_attention(x, x, x, WindowPattern(1), offsets=torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="key_mask"):
        window_attention(x, x, x, WindowPattern(1), offsets=torch.tensor([0, 5]),
                         key_mask=torch.ones(1, 5, dtype=torch.bool))


@pytest.mark.parametrize("pattern", [WindowPattern(7, 3), WindowPattern(4, dilation=3), WindowPattern(9, causal=True)])
def test_backward_in_chunks_of_tiles_is_exact(pattern):
    """The flash backward sums overlapping band tiles chunk by chunk; seams must not drop or
    double-count a key."""
    for lq, lk in ((75, 75), (40, 75)):
        q, k, v = qkv(2, 2, lq, lk, 3, lq)
        with one_tile_per_backward_chunk():
            check_vs_reference(sparse_attention, q, k, v, pattern, {}, lq)
            check_vs_reference(sparse_attention, q, k, v, pattern, {"bias": torch.randn(lq, lk, dtype=F64)}, lq)


def test_padding_only_windows_have_finite_gradients_at_large_logits():
    """Issue 16: queries whose window holds only padding got NaN gradients in float32 once
    the dummy key's score passed ~88 (the backward recomputed exp(score - 0))."""
    for seed in range(10):
        g = torch.Generator().manual_seed(seed)
        q, k, v = (torch.randn(1, 1, 32, 8, generator=g).requires_grad_() for _ in range(3))
        out = attention(q * 30, k * 30, v, key_lengths=torch.tensor([20]), pattern=WindowPattern(3),
                        kernel="window")
        out.sum().backward()
        for t in (q, k, v):
            assert bool(torch.isfinite(t.grad).all()), seed
        assert bool((out[0, 0, 24:] == 0).all()) and bool((q.grad[0, 0, 24:] == 0).all())
