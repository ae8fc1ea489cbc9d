"""The two factorised patterns of the Sparse Transformer (Child et al. 2019), merged into one head.

* ``StridedPattern(stride)``: query ``i`` sees the previous ``stride`` positions and every
  ``stride``-th position before them: ``0 <= i - j < stride`` or ``(i - j) % stride == 0``
  (``j <= i``). Suited to data with a period (images flattened row by row, audio).
* ``FixedPattern(block, summary)``: query ``i`` sees its own block of ``block`` positions
  and the last ``summary`` positions of every block: ``i // block == j // block`` or
  ``j % block >= block - summary`` (``j <= i``). Suited to text.

The paper uses them causally (the default); ``causal=False`` drops ``j <= i`` (and for
``StridedPattern`` uses ``|i - j| < stride``). With ``stride ~ sqrt(L)`` each query sees
``O(sqrt(L))`` keys. These are self-attention patterns (``Lq == Lk``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._common import check_int
from .base import Pattern

__all__ = ["FixedPattern", "StridedPattern"]


@dataclass(frozen=True)
class StridedPattern(Pattern):
    """Local window of ``stride`` plus every ``stride``-th earlier position (see module doc)."""

    name = "strided"
    kernel = "block_sparse"
    min_dense_pairs = 640 * 640
    max_density = 0.4

    stride: int
    causal: bool = True

    def __post_init__(self) -> None:
        check_int("stride", self.stride, 1)

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        d = q_pos - k_pos
        if self.causal:
            return (d >= 0) & ((d < self.stride) | (d % self.stride == 0))
        return (d.abs() < self.stride) | (d % self.stride == 0)

    def keys_per_query(self, n: int) -> float:
        return self.stride + n / self.stride


@dataclass(frozen=True)
class FixedPattern(Pattern):
    """Own block of ``block`` plus the last ``summary`` positions of every block."""

    name = "fixed"
    kernel = "block_sparse"
    min_dense_pairs = 640 * 640
    max_density = 0.4

    block: int
    summary: int = 1
    causal: bool = True

    def __post_init__(self) -> None:
        check_int("block", self.block, 1)
        check_int("summary", self.summary, 1)
        if self.summary > self.block:
            raise ValueError(f"summary: expected at most block={self.block} summary positions per "
                             f"block, got {self.summary}")

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        ok = (q_pos // self.block == k_pos // self.block) | (k_pos % self.block >= self.block - self.summary)
        return ok & (k_pos <= q_pos) if self.causal else ok

    def keys_per_query(self, n: int) -> float:
        return self.block + self.summary * n / self.block
