"""LogSparse attention (Li et al. 2019, "Enhancing the Locality and Breaking the Memory
Bottleneck of Transformer on Time Series Forecasting"): each query attends to itself and
to the keys at distances 1, 2, 4, 8, ... back, so ``O(log L)`` keys per query and
``O(L log L)`` pairs, while any two positions are joined within ``O(log L)`` layers.

Query ``i`` may attend to key ``j`` iff ``d = i - j`` is 0 or a power of two (causal by
construction). A self-attention pattern (``Lq == Lk``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .base import Pattern

__all__ = ["LogSparsePattern"]


@dataclass(frozen=True)
class LogSparsePattern(Pattern):
    """Itself and the keys ``1, 2, 4, 8, ...`` positions back (see the module docstring)."""

    name = "logsparse"
    kernel = "block_sparse"
    min_dense_pairs = 640 * 640  # the block-sparse kernel's crossover (benchmarks/results/)
    max_density = 0.4

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        d = q_pos - k_pos
        return (d == 0) | ((d > 0) & ((d & (d - 1)) == 0))

    def keys_per_query(self, n: int) -> float:
        return 1 + math.log2(max(n, 1))
