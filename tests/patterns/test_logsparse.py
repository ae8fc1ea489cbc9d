"""LogSparsePattern: its definition, its plan, and the float64 oracle on every option.

The pattern was added in three places (this test, ``patterns/logsparse.py`` and its
planner in ``functional/sparse/blocks.py``): the dispatcher, ``auto`` and the registry
find it without any other edit, which the last tests check.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sparse_helpers import check_vs_reference, on_path, option_sets, qkv, via_attention
from test_sparse_tiles import _coverage

from selfattn.functional import choose_kernel
from selfattn.functional.sparse import block_parts, sparse_attention
from selfattn.patterns import PATTERNS, LogSparsePattern, get_pattern

OPTIONS = ["plain", "relu", "sigmoid_causal", "key_lengths", "dense_mask", "tensor_bias_grad",
           "score_bias_trainable", "additive_score", "scale"]


def test_definition_pair_by_pair():
    n = 40
    mask = LogSparsePattern().dense_mask(n, n)
    for i in range(n):
        seen = {j for j in range(n) if mask[i, j]}
        assert seen == {i} | {i - 2**e for e in range(6) if i - 2**e >= 0}


@pytest.mark.parametrize("n", [1, 7, 8, 9, 70, 257])
def test_plan_computes_every_allowed_pair_exactly_once(n):
    counts = _coverage(block_parts(LogSparsePattern(), n), n)
    assert torch.equal(counts.bool(), LogSparsePattern().dense_mask(n, n)) and counts.max() == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 70), b=st.integers(1, 2), h=st.integers(1, 2), d=st.integers(1, 4),
       option=st.sampled_from(OPTIONS), explicit=st.booleans(), seed=st.integers(0, 2**16))
def test_outputs_and_gradients_equal_the_float64_reference(n, b, h, d, option, explicit, seed):
    q, k, v = qkv(b, h, n, n, d, seed)
    options = option_sets(h, d, n, n, b, seed)[option]
    run = on_path(sparse_attention, "tiles_explicit" if explicit else None)
    check_vs_reference(run, q, k, v, LogSparsePattern(), options, seed)


def test_weights_and_auto_dispatch_equal_the_reference():
    q, k, v = qkv(2, 2, 50, 50, 3, 1)
    check_vs_reference(sparse_attention, q, k, v, LogSparsePattern(), {"key_lengths": torch.tensor([50, 9])},
                       weights=True)
    check_vs_reference(via_attention, q, k, v, LogSparsePattern(), {}, 1)


def test_the_registry_and_auto_find_it():
    assert PATTERNS["logsparse"] is LogSparsePattern is get_pattern("logsparse")
    long = torch.zeros(1, 1, 4096, 4)
    assert choose_kernel(long, long, long, pattern=LogSparsePattern()).name == "block_sparse"
    short = torch.zeros(1, 1, 64, 4)
    choice = choose_kernel(short, short, short, pattern=LogSparsePattern())
    assert choice.name == "sdpa" and "crossover" in choice.passed_over["block_sparse"]
    assert LogSparsePattern().keys_per_query(1024) == 1 + math.log2(1024)
