"""Each pattern's dense mask equals its definition written out pair by pair (the slow twins)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfattn.patterns import (
    BigBirdPattern,
    BlockSparsePattern,
    FixedPattern,
    GraphPattern,
    LongformerPattern,
    Neighborhood2DPattern,
    StridedPattern,
    WindowPattern,
)


def loop_mask(lq: int, lk: int, rule) -> torch.Tensor:
    return torch.tensor([[bool(rule(i, j)) for j in range(lk)] for i in range(lq)],
                        dtype=torch.bool).reshape(lq, lk)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(left=st.integers(0, 6), right=st.integers(0, 6), dil=st.integers(1, 3), causal=st.booleans(),
       lq=st.integers(0, 15), lk=st.integers(0, 15))
def test_window_definition(left, right, dil, causal, lq, lk):
    p = WindowPattern(left, None if causal else right, dil, causal)
    r = 0 if causal else right

    def rule(i, j):
        pos = i + lk - lq  # lower-right aligned
        return any(j == pos + t * dil for t in range(-left, r + 1))

    assert torch.equal(p.dense_mask(lq, lk), loop_mask(lq, lk, rule))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(window=st.integers(0, 5), n=st.integers(1, 30), glob=st.lists(st.integers(-3, 3), max_size=3))
def test_longformer_definition_and_block_cover(window, n, glob):
    glob = [g for g in glob if -n <= g < n]
    p = LongformerPattern(window, glob)
    gset = {g % n for g in glob}
    mask = loop_mask(n, n, lambda i, j: abs(i - j) <= window or i in gset or j in gset)
    assert torch.equal(p.dense_mask(n, n), mask)
    for bs in (1, 4, 7):
        lay = p.block_layout(n, bs)
        ids = torch.arange(n) // bs
        assert not (mask & ~lay[ids[:, None], ids[None, :]]).any()  # the layout covers every pair


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bs=st.integers(1, 5), n=st.integers(1, 40), wb=st.sampled_from([1, 3, 5]),
       rb=st.integers(0, 3), seed=st.integers(0, 100))
def test_bigbird_definition(bs, n, wb, rb, seed):
    p = BigBirdPattern(bs, window_blocks=wb, random_blocks=rb, seed=seed)
    nb = -(-n // bs)
    lay = p.layout(nb)
    glob = {0, nb - 1}
    for i in range(nb):
        window = {j for j in range(nb) if abs(i - j) <= wb // 2}
        got = set(torch.nonzero(lay[i])[:, 0].tolist())
        if i in glob:
            assert got == set(range(nb))
            continue
        base = window | glob
        assert base <= got
        extra = got - base
        assert len(extra) == min(rb, nb - len(base))  # the random blocks, never repeats
    assert torch.equal(lay, BigBirdPattern(bs, wb, random_blocks=rb, seed=seed).layout(nb))
    mask = loop_mask(n, n, lambda i, j: bool(lay[i // bs, j // bs]))
    assert torch.equal(p.dense_mask(n, n), mask)


def test_bigbird_seeds_differ():
    a = BigBirdPattern(4, random_blocks=2, seed=0).layout(30)
    b = BigBirdPattern(4, random_blocks=2, seed=1).layout(30)
    assert not torch.equal(a, b)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(l=st.integers(1, 6), c=st.integers(1, 6), causal=st.booleans(), n=st.integers(0, 30))
def test_sparse_transformer_definitions(l, c, causal, n):
    def strided(i, j):
        if causal:
            return j <= i and (i - j < l or (i - j) % l == 0)
        return abs(i - j) < l or (i - j) % l == 0

    assert torch.equal(StridedPattern(l, causal).dense_mask(n, n), loop_mask(n, n, strided))
    c = min(c, l)

    def fixed(i, j):
        ok = i // l == j // l or j % l >= l - c
        return ok and (j <= i or not causal)

    assert torch.equal(FixedPattern(l, c, causal).dense_mask(n, n), loop_mask(n, n, fixed))


def natten_axis(n: int, k: int, d: int, border: str, y: int) -> set[int]:
    """NATTEN's neighbourhood of cell y along one axis, cell by cell."""
    cls = [c for c in range(n) if c % d == y % d]
    t = cls.index(y)
    if border == "shift":
        start = min(max(t - k // 2, 0), len(cls) - k)
        return set(cls[start:start + k])
    return {cls[s] for s in range(t - k // 2, t + k // 2 + 1) if 0 <= s < len(cls)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 9), w=st.integers(1, 9), kh=st.sampled_from([1, 3, 5]),
       kw=st.sampled_from([1, 3]), dh=st.integers(1, 3), dw=st.integers(1, 2),
       border=st.sampled_from(["shift", "clip"]))
def test_neighborhood_definition(h, w, kh, kw, dh, dw, border):
    if border == "shift" and (kh * dh > h or kw * dw > w):
        with pytest.raises(ValueError, match="kernel_size"):
            Neighborhood2DPattern(h, w, (kh, kw), (dh, dw), border)
        return
    p = Neighborhood2DPattern(h, w, (kh, kw), (dh, dw), border)

    def rule(i, j):
        (yi, xi), (yj, xj) = divmod(i, w), divmod(j, w)
        return yj in natten_axis(h, kh, dh, border, yi) and xj in natten_axis(w, kw, dw, border, xi)

    mask = p.dense_mask(h * w, h * w)
    assert torch.equal(mask, loop_mask(h * w, h * w, rule))
    if border == "shift":
        assert (mask.sum(1) == kh * kw).all()  # every cell sees a full neighbourhood


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 12), e=st.integers(0, 40), seed=st.integers(0, 1000))
def test_graph_definition_follows_pyg(n, e, seed):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, max(n, 1), (2, e if n else 0), generator=g)
    p = GraphPattern(ei, n, duplicates="merge")
    edges = {(int(s), int(t)) for s, t in ei.T}
    assert p.num_edges == len(edges)
    # Messages flow source -> target: node i attends over j with (j, i) an edge.
    assert torch.equal(p.dense_mask(n, n), loop_mask(n, n, lambda i, j: (j, i) in edges))


def test_graph_duplicates_rejected_or_merged_and_self_loops_kept():
    ei = torch.tensor([[0, 1, 0, 2, 2], [1, 2, 1, 2, 0]])
    with pytest.raises(ValueError, match=r"duplicate edges.*\(0, 1\)"):
        GraphPattern(ei, 3)
    p = GraphPattern(ei, 3, duplicates="merge")
    assert p.edge_index.tolist() == [[0, 1, 2, 2], [1, 2, 2, 0]]  # first copies, input order
    assert bool(p.dense_mask(3, 3)[2, 2])  # the self-loop (2, 2)


@pytest.mark.parametrize("edge_index,match", [
    (torch.tensor([[0, 5], [1, 2]]), r"source nodes \(row 0\) in \[0, 4\), got 5"),
    (torch.tensor([[0, 1], [1, -1]]), r"target nodes \(row 1\) in \[0, 4\), got -1"),
    (torch.tensor([[0, 1], [1, 2]], dtype=torch.int32), "torch.int64"),
    (torch.tensor([[0.0, 1.0], [1.0, 2.0]]), "torch.int64"),
    (torch.tensor([0, 1, 2]), r"shape \(2, num_edges\)"),
    (torch.zeros(3, 2, dtype=torch.long), r"shape \(2, num_edges\)"),
    ([[0, 1], [1, 2]], "torch.Tensor"),
])
def test_bad_edge_index_raises_clearly(edge_index, match):
    with pytest.raises((ValueError, TypeError), match=match):
        GraphPattern(edge_index, 4)


@pytest.mark.parametrize("make,match", [
    (lambda: Neighborhood2DPattern(4, 4, 4), "odd"),
    (lambda: Neighborhood2DPattern(4, 4, 5), "kernel_size"),
    (lambda: Neighborhood2DPattern(8, 8, 3, dilation=3), "kernel_size"),
    (lambda: Neighborhood2DPattern(0, 4, 3), "height"),
    (lambda: Neighborhood2DPattern(4, 4, 3, border="wrap"), "border"),
    (lambda: BigBirdPattern(4, window_blocks=2), "window_blocks"),
    (lambda: BigBirdPattern(0), "block_size"),
    (lambda: FixedPattern(4, 5), "summary"),
    (lambda: StridedPattern(0), "stride"),
    (lambda: LongformerPattern(-1), "window"),
    (lambda: GraphPattern(torch.zeros(2, 0, dtype=torch.long), 3, duplicates="sum"), "duplicates"),
])
def test_bad_pattern_arguments_raise_naming_them(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_patterns_check_the_sequence_they_are_applied_to():
    with pytest.raises(ValueError, match=r"12 cells; expected Lq == Lk == 12, got Lq=10"):
        Neighborhood2DPattern(3, 4, 3).dense_mask(10, 10)
    with pytest.raises(ValueError, match=r"global_tokens.*length 5.*\[7\]"):
        LongformerPattern(1, (0, 7)).dense_mask(5, 5)
    with pytest.raises(ValueError, match="Lq == Lk"):
        StridedPattern(3).dense_mask(4, 5)
    with pytest.raises(ValueError, match=r"Lq = 4 \(targets\)"):
        GraphPattern(torch.zeros(2, 0, dtype=torch.long), 4).dense_mask(5, 5)
    with pytest.raises(ValueError, match="layout_fn"):
        BlockSparsePattern(lambda nb: torch.ones(nb, nb), 2).dense_mask(4, 4)
