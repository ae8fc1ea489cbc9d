"""Sinusoidal positional encoding: the hand-crafted ``e_i`` of the original Transformer.

    e_p[2i]   = sin(p / base^(2i / E))
    e_p[2i+1] = cos(p / base^(2i / E))          (base = 10000)

Each pair of dimensions is a clock ticking at its own frequency, from one turn per
``2 pi`` positions down to one turn per ``2 pi base`` positions, so every position gets a
distinct vector and ``e_{p+k}`` is a fixed rotation of ``e_p``. It has no parameters and
is defined for every position; the lecture notes its weakness all the same: a model
trained on short sets has never seen the slow clocks' later phases, and does not
generalise well beyond its training lengths.

Shapes: added to padded ``x (B, L, E)`` or packed ``x (N, E)`` (see ``AbsoluteEncoding``).
An odd ``E`` ends with a lone sine.
"""

from __future__ import annotations

import math

import torch

from .base import AbsoluteEncoding

__all__ = ["SinusoidalEncoding"]


class SinusoidalEncoding(AbsoluteEncoding):
    """The closed-form encoding above.

    Args:
        dim: ``E``. base: the longest wavelength is ``2 pi base`` (default 10000).
    """

    name = "sinusoidal"

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__(dim)
        if base <= 1.0:
            raise ValueError(f"base: expected a number > 1, got {base}")
        self.base = float(base)

    def encode(self, positions: torch.Tensor, set_lengths: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
        # Frequencies and angles in float64: angles reach ~L radians, float32 would lose
        # the phase of the fast clocks at long positions before the final cast.
        pairs = torch.arange(0, self.dim, 2, device=positions.device, dtype=torch.float64)
        inv_freq = torch.exp(pairs * (-math.log(self.base) / self.dim))
        angles = positions.to(torch.float64)[..., None] * inv_freq
        e = torch.empty(*positions.shape, self.dim, dtype=torch.float64, device=positions.device)
        e[..., 0::2] = torch.sin(angles)
        e[..., 1::2] = torch.cos(angles[..., : self.dim // 2])
        return e.to(dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, base={self.base:g}"
