"""Rotary position embedding (RoPE, Su et al. 2021): rotate q and k by their positions.

Instead of adding ``e_i`` to the input, RoPE multiplies each query and key by a rotation
that depends on its position: dimensions ``(2m, 2m+1)`` of a head form a plane that is
turned by the angle ``p * theta_m``, ``theta_m = base^(-2m / D)``,

    [x'_{2m}  ]   [cos p theta_m  -sin p theta_m] [x_{2m}  ]
    [x'_{2m+1}] = [sin p theta_m   cos p theta_m] [x_{2m+1}]

Rotations compose, ``R_p^T R_s = R_{s-p}``, so ``q_i' . k_j' = q_i . R_{j-i} k_j``: the
score depends on the positions only through ``j - i``, a relative encoding obtained with
absolute rotations. It lives *inside* attention (on q and k, never on v) and leaves the
kernels untouched, so every kernel (fused, windowed, graph) takes it as is.

Shapes: ``rope(x, positions)`` with ``x (..., L, D)`` and integer ``positions (L,)`` (or
broadcastable to ``x.shape[:-1]``); returns the same shape. ``D`` must be even. This is
the call ``selfattn.nn.MultiHeadAttention(rotary=...)`` makes (lower-right aligned
positions for padded input, each set's own positions from 0 for packed input).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from .._checks import check_dtype, check_tensor
from ..distributed.sequence import global_positions
from .base import PositionalScheme

__all__ = ["RotaryEmbedding", "rotate_reference"]


def rotate_reference(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """The slow twin: build each position's ``D x D`` block-diagonal rotation matrix and
    multiply, one position at a time. ``x (..., L, D)``, ``positions (L,)``."""
    d = x.shape[-1]
    out = []
    for i, p in enumerate(positions.tolist()):
        r = torch.zeros(d, d, dtype=x.dtype, device=x.device)
        for m in range(d // 2):
            a = p * base ** (-2.0 * m / d)
            c, s = math.cos(a), math.sin(a)
            r[2 * m, 2 * m], r[2 * m, 2 * m + 1] = c, -s
            r[2 * m + 1, 2 * m], r[2 * m + 1, 2 * m + 1] = s, c
        out.append(x[..., i, :] @ r.T)
    return torch.stack(out, dim=-2) if out else x.clone()


class RotaryEmbedding(nn.Module, PositionalScheme):
    """RoPE for heads of size ``head_dim`` (interleaved pairs, as in the paper).

    Args:
        head_dim: ``D``, even. base: ``theta_m = base^(-2m / D)`` (default 10000).
    """

    name: ClassVar[str] = "rope"
    where: ClassVar[str] = "attention"

    def __init__(self, head_dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim <= 0 or head_dim % 2:
            raise ValueError(f"head_dim: RoPE rotates pairs of dimensions, expected a positive "
                             f"even size, got {head_dim}")
        if base <= 1.0:
            raise ValueError(f"base: expected a number > 1, got {base}")
        self.head_dim, self.base = head_dim, float(base)

    def angles(self, positions: torch.Tensor) -> torch.Tensor:
        """``(..., D/2)`` float64: ``p * theta_m`` for every position and pair."""
        m = torch.arange(self.head_dim // 2, device=positions.device, dtype=torch.float64)
        theta = torch.exp(m * (-2.0 * math.log(self.base) / self.head_dim))
        return positions.to(torch.float64)[..., None] * theta

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x)
        check_dtype("x", x, "float")
        check_tensor("positions", positions)
        check_dtype("positions", positions, "integer")
        if x.dim() < 2 or x.shape[-1] != self.head_dim:
            raise ValueError(f"x: expected shape (..., length, {self.head_dim}) (head_dim of this "
                             f"RotaryEmbedding), got {tuple(x.shape)}")
        try:
            torch.broadcast_shapes(positions.shape, x.shape[:-1])
        except RuntimeError:
            raise ValueError(f"positions: expected shape ({x.shape[-2]},) (one per vector of x) "
                             f"or broadcastable to {tuple(x.shape[:-1])}, got "
                             f"{tuple(positions.shape)}") from None
        # sequence parallel: x holds this rank's rows, at their global positions
        positions = global_positions(positions, x.shape[-2])
        # Angles in float64 (they reach ~L radians), cos/sin cast to x's dtype.
        a = self.angles(positions)
        cos, sin = torch.cos(a).to(x.dtype), torch.sin(a).to(x.dtype)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
        return out.flatten(-2)

    def attention_kwargs(self, num_heads: int, head_dim: int) -> dict[str, Any]:
        if head_dim != self.head_dim:
            raise ValueError(f"head_dim: this RotaryEmbedding rotates heads of size "
                             f"{self.head_dim}, the attention's heads have size {head_dim}")
        return {"rotary": self}

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base:g}"
