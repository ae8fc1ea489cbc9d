"""ALiBi (Press et al. 2022): a linear penalty on the distance, one slope per head.

No vector is added anywhere; each head adds to the score of query ``i`` and key ``j``

    b_h(i, j) = -m_h * |i - j|,

so attention decays with distance at a rate that differs by head: heads with small
slopes look far, heads with large slopes look near. The slopes are the geometric
sequence ``m_h = 2^(-8 (h + 1) / H)`` for ``H`` a power of two (for other ``H``: those of
the nearest smaller power of two, then every other slope of the next power of two, as in
the paper). It has no parameters, needs no maximum length, and was designed to
extrapolate to sets longer than those seen in training. (The paper's causal form,
``-m_h (i - j)`` for ``j <= i``, is the same on every allowed pair; ``|i - j|`` also
defines it for bidirectional encoders.)

It is a ``ScoreBias``: ``pairwise(q_pos, k_pos)`` gives the bias at any pairs, so the
fused kernel takes it as a float mask and sparse kernels evaluate it only at the pairs
they compute. Shapes: ``pairwise`` -> ``(H, *broadcast(q_pos, k_pos))``; ``dense(Lq, Lk)``
-> ``(H, Lq, Lk)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch

from ..functional import ScoreBias
from .base import PositionalScheme, check_heads

__all__ = ["ALiBiBias", "alibi_slopes"]


def alibi_slopes(num_heads: int) -> list[float]:
    """The ``num_heads`` slopes of the paper, largest first."""
    if num_heads < 1:
        raise ValueError(f"num_heads: expected at least 1, got {num_heads}")

    def power_of_two(n: int) -> list[float]:
        return [2.0 ** (-8.0 * (h + 1) / n) for h in range(n)]

    if num_heads & (num_heads - 1) == 0:
        return power_of_two(num_heads)
    low = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(low) + power_of_two(2 * low)[0::2][: num_heads - low]


class ALiBiBias(ScoreBias, PositionalScheme):
    """``-m_h |i - j|`` per head.

    Args:
        num_heads: ``H``. slopes: optional explicit slopes (``H`` numbers).
    """

    name: ClassVar[str] = "alibi"
    where: ClassVar[str] = "attention"

    def __init__(self, num_heads: int, slopes: list[float] | None = None) -> None:
        super().__init__()
        slopes = alibi_slopes(num_heads) if slopes is None else list(slopes)
        if len(slopes) != num_heads:
            raise ValueError(f"slopes: expected {num_heads} slopes (one per head), got {len(slopes)}")
        self.num_heads, self._slope_values = num_heads, [float(m) for m in slopes]
        self.register_buffer("slopes", torch.tensor(slopes))

    def _apply(self, fn, *args, **kwargs):
        # After .double() / .to(...), rebuild the slopes from the exact numbers: casting
        # float32 slopes up would keep their float32 rounding.
        super()._apply(fn, *args, **kwargs)
        self.slopes = torch.tensor(self._slope_values, dtype=self.slopes.dtype,
                                   device=self.slopes.device)
        return self

    def pairwise(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        dist = (q_pos - k_pos).abs()
        m = self.slopes.view(self.num_heads, *([1] * dist.dim()))
        return -m * dist.to(self.slopes.dtype)

    def attention_kwargs(self, num_heads: int, head_dim: int) -> dict[str, Any]:
        check_heads(self, self.num_heads, num_heads)
        return {"position_bias": self}

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"
