"""A sparse kernel named explicitly runs at any size; auto mode still prefers dense below the crossover."""

from __future__ import annotations

import torch

from selfattn.functional import attention, choose_kernel, reference_attention
from selfattn.patterns import WindowPattern


def test_explicit_window_request_below_crossover_runs_and_is_exact():
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, 4, dtype=torch.float64) for _ in range(3))
    p = WindowPattern(2)
    auto = choose_kernel(q, k, v, pattern=p)
    assert auto.name != "window" and "crossover" in auto.passed_over["window"]
    out = attention(q, k, v, pattern=p, kernel="window")
    torch.testing.assert_close(out, reference_attention(q, k, v, pattern=p))


def test_tile_paths_are_kernels_that_only_run_when_named():
    """``kernel="tiles_explicit"`` / ``"tiles_fused"`` force one tile path (both exact); auto
    never picks them; a path that cannot compute the call says so."""
    import pytest

    from selfattn.functional.sparse import sparse_attention
    from selfattn.patterns import GraphPattern

    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 300, 4, dtype=torch.float64, generator=g) for _ in range(3))
    p = WindowPattern(5)
    ref = reference_attention(q, k, v, pattern=p)
    for name in ("tiles_fused", "tiles_explicit"):
        torch.testing.assert_close(attention(q, k, v, pattern=p, kernel=name), ref)
        torch.testing.assert_close(sparse_attention(q, k, v, p, kernel=name), ref)
        small = choose_kernel(q[:, :, :50], k[:, :, :50], v[:, :, :50], pattern=p)  # below the crossover
        assert "only when named" in small.passed_over[name]
    with pytest.raises(ValueError, match=r"kernel: 'tiles_fused' cannot compute.*softmax"):
        attention(q, k, v, pattern=p, kernel="tiles_fused", normalize="relu")
    with pytest.raises(ValueError, match=r"kernel: 'tiles_fused' cannot compute.*softmax"):
        sparse_attention(q, k, v, p, kernel="tiles_fused", normalize="relu")
    edges = GraphPattern(torch.tensor([[0, 1], [1, 2]]), 300)
    with pytest.raises(ValueError, match=r"kernel: 'tiles_explicit' cannot compute.*tile planner"):
        attention(q, k, v, pattern=edges, kernel="tiles_explicit")
    with pytest.raises(ValueError, match=r"kernel: expected None or one of \['graph'\]"):
        sparse_attention(q, k, v, edges, kernel="tiles_explicit")
