"""Block-sparse and 2-D neighbourhood kernels equal the oracle, outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sparse_helpers import (
    assert_close,
    check_vs_reference,
    grads,
    on_path,
    one_tile_per_backward_chunk,
    option_sets,
    qkv,
    via_attention,
)

from selfattn.functional import choose_kernel, reference_attention
from selfattn.functional.sparse import block_parts, grid_parts, pattern_varlen_attention, sparse_attention
from selfattn.functional.sparse.window import window_parts
from selfattn.patterns import (
    BigBirdPattern,
    BlockSparsePattern,
    FixedPattern,
    LongformerPattern,
    Neighborhood2DPattern,
    StridedPattern,
    WindowPattern,
)
from selfattn.varlen import lengths_to_offsets

OPTIONS = sorted(option_sets(1, 2, 1, 1, 1, 0))


def _diag_layout(nb: int) -> torch.Tensor:
    i = torch.arange(nb)
    return ((i[:, None] - i[None, :]) % 3 == 0) | (i[None, :] == 0)


@st.composite
def block_patterns(draw: st.DrawFn, n: int):
    kind = draw(st.sampled_from(["longformer", "bigbird", "strided", "fixed", "layout"]))
    if kind == "longformer":
        glob = draw(st.lists(st.integers(-n, n - 1), max_size=3)) if n else []
        return LongformerPattern(draw(st.integers(0, 12)), glob)
    if kind == "bigbird":
        return BigBirdPattern(draw(st.integers(1, 9)), draw(st.sampled_from([1, 3])),
                              random_blocks=draw(st.integers(0, 2)), seed=draw(st.integers(0, 9)))
    if kind == "strided":
        return StridedPattern(draw(st.integers(1, 9)), draw(st.booleans()))
    if kind == "fixed":
        block = draw(st.integers(1, 9))
        return FixedPattern(block, draw(st.integers(1, block)), draw(st.booleans()))
    return BlockSparsePattern(_diag_layout, draw(st.integers(1, 7)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), n=st.integers(0, 60), b=st.integers(1, 2), h=st.integers(1, 2),
       d=st.integers(1, 4), option=st.sampled_from(OPTIONS), explicit=st.booleans(),
       seed=st.integers(0, 2**16))
def test_block_sparse_matches_reference(data, n, b, h, d, option, explicit, seed):
    pattern = data.draw(block_patterns(n))
    q, k, v = qkv(b, h, n, n, d, seed)
    options = option_sets(h, d, n, n, b, seed)[option]
    run = on_path(sparse_attention, "tiles_explicit" if explicit else None)
    check_vs_reference(run, q, k, v, pattern, options, seed)


@st.composite
def grids(draw: st.DrawFn) -> Neighborhood2DPattern:
    border = draw(st.sampled_from(["shift", "clip"]))
    kh, kw = draw(st.sampled_from([1, 3, 5])), draw(st.sampled_from([1, 3]))
    dh, dw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    lo_h, lo_w = (kh * dh, kw * dw) if border == "shift" else (1, 1)
    h, w = draw(st.integers(lo_h, lo_h + 6)), draw(st.integers(lo_w, lo_w + 6))
    return Neighborhood2DPattern(h, w, (kh, kw), (dh, dw), border)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=grids(), b=st.integers(1, 2), h=st.integers(1, 2), d=st.integers(1, 4),
       option=st.sampled_from(OPTIONS), explicit=st.booleans(), seed=st.integers(0, 2**16))
def test_neighborhood_matches_reference(pattern, b, h, d, option, explicit, seed):
    n = pattern.length
    q, k, v = qkv(b, h, n, n, d, seed)
    options = option_sets(h, d, n, n, b, seed)[option]
    run = on_path(sparse_attention, "tiles_explicit" if explicit else None)
    check_vs_reference(run, q, k, v, pattern, options, seed)


def _coverage(parts, n: int) -> torch.Tensor:
    counts = torch.zeros(n, n, dtype=torch.long)
    for part in parts:
        qi = part.q_index(torch.device("cpu"))[..., :, None].expand(-1, -1, part.m)
        kj = part.k_index(torch.device("cpu"))[..., None, :].expand(part.num_tiles, part.bq, part.m)
        ok = part.allowed.expand_as(qi) & (qi < n) & (kj >= 0) & (kj < n)
        counts.index_put_((qi[ok], kj[ok]), torch.ones_like(qi[ok]), accumulate=True)
    return counts


@pytest.mark.parametrize("pattern,n", [
    (LongformerPattern(9, (0, 33)), 70), (BigBirdPattern(6, random_blocks=2), 70),
    (StridedPattern(8), 70), (StridedPattern(5, causal=False), 70), (FixedPattern(8, 2), 70),
    (FixedPattern(4, 1, causal=False), 70), (BlockSparsePattern(_diag_layout, 5), 70),
])
def test_block_plans_compute_every_allowed_pair_exactly_once(pattern, n):
    counts = _coverage(block_parts(pattern, n), n)
    assert torch.equal(counts.bool(), pattern.dense_mask(n, n)) and counts.max() == 1


def test_grid_plan_computes_every_allowed_pair_exactly_once():
    pattern = Neighborhood2DPattern(11, 13, (5, 3), dilation=(2, 3))
    counts = _coverage(grid_parts(pattern), pattern.length)
    assert torch.equal(counts.bool(), pattern.dense_mask(pattern.length, pattern.length))
    assert counts.max() == 1


def test_weights_on_request():
    q, k, v = qkv(1, 2, 30, 30, 3, 0)
    for pattern in (StridedPattern(4), Neighborhood2DPattern(5, 6, 3)):
        check_vs_reference(sparse_attention, q, k, v, pattern, {}, 0, weights=True)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=st.lists(st.sampled_from([0, 1, 12, 20, 33]), min_size=1, max_size=5),
       seed=st.integers(0, 2**16))
def test_packed_sets_group_by_length(lengths, seed):
    h, d = 2, 3
    pattern = BigBirdPattern(4, random_blocks=1, seed=seed % 5)
    n = sum(lengths)
    offsets = lengths_to_offsets(torch.tensor(lengths))
    q, k, v = (x[0].transpose(0, 1).detach().requires_grad_() for x in qkv(1, h, n, n, d, seed))
    out, weights = pattern_varlen_attention(q, k, v, offsets, pattern, return_weights=True,
                                            normalize="relu")
    refs, ref_w = [], []
    for s, e in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        x = [t[s:e].transpose(0, 1)[None] for t in (q, k, v)]
        o, w = reference_attention(*x, pattern=pattern, normalize="relu", return_weights=True)
        refs.append(o[0].transpose(0, 1))
        ref_w.append(w[0])
    ref = torch.cat(refs)
    assert_close(out, ref, "packed output")
    for w, rw in zip(weights, ref_w, strict=True):
        assert_close(w, rw, "packed weights")
    if n:
        for a, c in zip(grads(out, [q, k, v], seed), grads(ref, [q, k, v], seed), strict=True):
            assert_close(a, c, "packed gradient")


def test_packed_grid_needs_every_set_to_fill_the_grid():
    q = torch.zeros(20, 1, 2)
    with pytest.raises(ValueError, match="12 cells"):
        pattern_varlen_attention(q, q, q, torch.tensor([0, 12, 20]), Neighborhood2DPattern(3, 4, 3))


def test_dispatcher_prefers_sparse_tiles_for_long_sequences():
    x = torch.zeros(1, 1, 4096, 4)
    assert choose_kernel(x, x, x, pattern=BigBirdPattern(64)).name == "block_sparse"
    assert choose_kernel(x, x, x, pattern=StridedPattern(64)).name == "block_sparse"
    assert choose_kernel(x, x, x, pattern=Neighborhood2DPattern(64, 64, 7)).name == "neighborhood2d"
    small = torch.zeros(1, 1, 100, 4)
    choice = choose_kernel(small, small, small, pattern=Neighborhood2DPattern(10, 10, 3))
    assert choice.name == "sdpa" and "crossover" in choice.passed_over["neighborhood2d"]


def test_auto_dispatch_is_exact_at_any_size():
    for n in (24, 280):
        q, k, v = qkv(1, 1, n, n, 2, n)
        check_vs_reference(via_attention, q, k, v, FixedPattern(8, 2), {}, n)


def test_self_attention_patterns_reject_cross_lengths():
    q, k, v = qkv(1, 1, 10, 12, 2, 0)
    with pytest.raises(ValueError, match="Lq == Lk"):
        sparse_attention(q, k, v, StridedPattern(3))


@pytest.mark.parametrize("pattern,n", [
    (StridedPattern(5), 47), (Neighborhood2DPattern(7, 9, 3, dilation=(1, 2)), 63),
    (LongformerPattern(6, (0, -1)), 40),
])
def test_backward_in_chunks_of_tiles_is_exact(pattern, n):
    q, k, v = qkv(2, 2, n, n, 3, n)
    with one_tile_per_backward_chunk():
        check_vs_reference(sparse_attention, q, k, v, pattern, {"key_lengths": torch.tensor([n, n - 7])}, n)


def test_dot_softmax_calls_take_the_fused_paths():
    """The fast paths must actually run (the explicit twins would pass every exactness test)."""
    from selfattn.functional import make_call
    from selfattn.functional.sparse import FUSED, tile_path
    from selfattn.patterns import GraphPattern, WindowPattern

    q, k, v = qkv(1, 2, 40, 40, 3, 0)
    assert tile_path(make_call(q, k, v, pattern=WindowPattern(3))) is FUSED
    for pattern in (WindowPattern(3), StridedPattern(4), Neighborhood2DPattern(5, 8, 3)):
        assert "FlashTiles" in _autograd_nodes(sparse_attention(q, k, v, pattern))
    ei = torch.randint(0, 40, (2, 100), generator=torch.Generator().manual_seed(0))
    assert "GraphSoftmax" in _autograd_nodes(sparse_attention(q, k, v, GraphPattern(ei, 40, duplicates="merge")))


def _autograd_nodes(out: torch.Tensor) -> str:
    names, todo = [], [out.grad_fn]
    while todo:
        node = todo.pop()
        if node is not None:
            names.append(node.name())
            todo += [n for n, _ in node.next_functions]
    return " ".join(names)


def test_strided_plans_leave_the_cached_window_plan_alone():
    """Regression: a strided plan extended the cached window plan's list of parts in place, so
    the next strided plan (and window attention over that band) summed some keys twice."""
    from selfattn.functional.sparse import clear_plan_cache

    n, stride = 13, 2
    band = WindowPattern(stride - 1, stride - 1)
    q, k, v = qkv(1, 1, n, n, 2, 0)
    before = len(window_parts(band, n, n).parts)
    for _ in range(3):
        clear_plan_cache()  # a new strided plan over the same cached band
        check_vs_reference(sparse_attention, q, k, v, StridedPattern(stride, False), {}, 0)
    assert len(window_parts(band, n, n).parts) == before
    check_vs_reference(sparse_attention, q, k, v, band, {}, 0)
