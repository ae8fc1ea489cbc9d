"""Sinkhorn attention: the sorting matrix is doubly stochastic; the causal balancing
never lets a block's row depend on later blocks."""

from __future__ import annotations

import itertools

import torch

from selfattn.nn.variants import SinkhornAttention
from selfattn.nn.variants.sinkhorn import sinkhorn

DT = torch.float64


def _make(**kw) -> SinkhornAttention:
    torch.manual_seed(0)
    return SinkhornAttention(16, 2, max_len=64, block_size=4, **kw).double().eval().requires_grad_(False)


def test_sorting_matrix_is_doubly_stochastic():
    m = _make()
    s = m.sorting_matrix(torch.randn(3, 40, 16, dtype=DT))
    assert s.shape == (3, 2, 10, 10) and bool((s >= 0).all())
    ones = torch.ones(3, 2, 10, dtype=DT)
    torch.testing.assert_close(s.sum(-2), ones, rtol=0, atol=1e-9)  # columns: exact last step
    torch.testing.assert_close(s.sum(-1), ones, rtol=0, atol=1e-3)


def test_more_iterations_balance_better():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(4, 8, 8, generator=g, dtype=DT) * 4
    errors = [float((sinkhorn(scores, iters=n).sum(-1) - 1).abs().max()) for n in (1, 4, 16, 64)]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 1e-8


def test_empty_blocks_are_left_out_of_the_sort():
    m = _make()
    x = torch.randn(2, 40, 16, dtype=DT)
    lengths = torch.tensor([40, 13])  # 13 real positions: blocks 0..3 (the 4th partly real)
    km = torch.arange(40)[None] < lengths[:, None]
    s = m.sorting_matrix(x, km)
    assert float(s[1, :, 4:].abs().max()) == 0.0 and float(s[1, :, :, 4:].abs().max()) == 0.0
    torch.testing.assert_close(s[1, :, :4, :4], m.sorting_matrix(x[1:, :13])[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(s[1, :, :4, :4].sum(-2), torch.ones(2, 4, dtype=DT))


def test_causal_sorting_reads_only_earlier_blocks():
    m = _make()
    x = torch.randn(2, 32, 16, dtype=DT)
    s = m.sorting_matrix(x, causal=True)
    assert float(s.triu().abs().max()) == 0.0  # block i mixes blocks j < i only
    changed = x.clone()
    changed[:, 12:] = torch.randn(2, 20, 16, dtype=DT)  # blocks 3.. change
    s2 = m.sorting_matrix(changed, causal=True)
    torch.testing.assert_close(s[:, :, :4], s2[:, :, :4])  # rows 0..3 read blocks 0..2 only
    assert not torch.allclose(s[:, :, 4:], s2[:, :, 4:])


def test_hard_permutation_sorts_whole_blocks():
    """With a permutation matrix, block i of the queries sees its own block and block p(i)."""
    m = _make(sinkhorn_iters=0)
    x = torch.randn(1, 16, 16, dtype=DT)
    perm = torch.tensor([2, 0, 3, 1])
    hard = torch.eye(4, dtype=DT)[perm][None, None].expand(1, 2, 4, 4)
    m._sort_matrix = lambda x, real, causal: hard
    _, w = m(x, return_weights=True)
    allowed = torch.zeros(16, 16, dtype=torch.bool)
    for i in range(4):
        for j in (i, int(perm[i])):
            allowed[4 * i:4 * i + 4, 4 * j:4 * j + 4] = True
    assert float(w[0][:, ~allowed].abs().max()) == 0.0
    torch.testing.assert_close(w.sum(-1), torch.ones(1, 2, 16, dtype=DT))
