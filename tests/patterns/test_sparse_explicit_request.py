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
