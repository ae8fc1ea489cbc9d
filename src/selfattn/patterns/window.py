"""Truncated (sliding-window) self-attention: each vector attends to a window around it.

Speech frames come 100 a second, so the L x L matrix of full self-attention does not fit;
the lecture's answer is to let each query see only the keys near it. With ``dilation`` d
the window skips: query ``i`` sees keys ``i + t*d`` for ``-left <= t <= right`` (so it
always covers ``left + right + 1`` keys away from the edges, spanning ``(left+right)*d + 1``
positions). ``causal=True`` is the one-sided window ``right = 0``.

Positions are lower-right aligned as everywhere in selfattn: with ``Lq`` queries and
``Lk`` keys, query ``i`` sits at position ``i + Lk - Lq``.

Windows wider than the sequence are clamped, not rejected: near the edges (and for short
sequences) a query simply has fewer keys, so one pattern serves every length of a
variable-length batch; a window that covers the whole sequence is full attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ._common import check_int
from .base import Pattern

__all__ = ["WindowPattern"]


@dataclass(frozen=True)
class WindowPattern(Pattern):
    """Query at position ``p`` may attend to key ``j`` iff ``j - p = t * dilation`` with
    ``-left <= t <= right``.

    Args:
        left: keys seen before the query (counted in steps of ``dilation``), >= 0.
        right: keys seen after it; default ``left`` (symmetric), or 0 when ``causal``.
        dilation: step between attended keys, >= 1.
        causal: only the past and the present (``right`` must then be 0 or None).

    ``dense_mask(lq, lk)`` gives the ``(Lq, Lk)`` bool mask (True = may attend); the kernels
    in ``selfattn.functional.sparse`` compute it in O(L * (left + right + 1)) time and memory.
    """

    name = "window"
    kernel = "window"
    min_dense_pairs = 176 * 176
    max_density = 0.5
    self_attention = False  # Lq != Lk is a decoder step over a cache

    left: int
    right: int | None = None
    dilation: int = 1
    causal: bool = False

    def __post_init__(self) -> None:
        check_int("left", self.left, 0)
        check_int("dilation", self.dilation, 1)
        if not isinstance(self.causal, bool):
            raise TypeError(f"causal: expected a bool, got {type(self.causal).__name__}")
        right = self.right
        if self.causal:
            if right not in (None, 0):
                raise ValueError(f"right: a causal window sees no key after the query; expected "
                                 f"0 or None with causal=True, got {right}")
            right = 0
        elif right is None:
            right = self.left
        check_int("right", right, 0)
        object.__setattr__(self, "right", right)

    @property
    def width(self) -> int:
        """Keys in a full window: ``left + right + 1``."""
        return self.left + self.right + 1  # type: ignore[operator]

    def keys_per_query(self, n: int) -> float:
        return min(self.width, n)

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Elementwise rule on broadcastable position tensors (lower-right aligned)."""
        delta = k_pos - q_pos
        d = self.dilation
        ok = (delta >= -self.left * d) & (delta <= self.right * d)  # type: ignore[operator]
        return ok & (delta % d == 0) if d > 1 else ok
