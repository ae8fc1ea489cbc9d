"""No positional information: the ablation baseline.

Self-attention by itself is permutation-equivariant: permuting the input vectors permutes
the outputs the same way, so "I saw a saw" and "saw a I saw" give the same set of output
vectors. ``NoEncoding`` keeps it that way (it returns its input unchanged); models that
treat their input as a true set (point clouds, the atoms of a molecule) want this.

Shapes: padded ``x (B, L, E)`` or packed ``x (N, E)``, returned as is after the same
checks as every ``AbsoluteEncoding``.
"""

from __future__ import annotations

import torch

from .base import AbsoluteEncoding

__all__ = ["NoEncoding"]


class NoEncoding(AbsoluteEncoding):
    """``e_i = 0`` for every position. Args: dim: ``E`` (checked against the inputs)."""

    name = "none"

    def encode(self, positions: torch.Tensor, set_lengths: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
        return torch.zeros(*positions.shape, self.dim, dtype=dtype, device=positions.device)

    def forward(self, x: torch.Tensor, offsets: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        self.positions_of(x, offsets, lengths)  # the checks only: nothing is added
        return x
