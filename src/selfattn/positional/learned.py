"""Learned absolute position embeddings: ``e_i`` is a row of a trained table.

The lecture's second answer to "where do the e_i come from": learn them from data, one
free vector per position (BERT, GPT-2). The table has ``max_len`` rows, so a set longer
than ``max_len`` has positions the model never learned. The policy for them is explicit:

* ``beyond="error"`` (default): a clear error names the input, the set length and
  ``max_len``. Nothing is clipped or wrapped silently.
* ``beyond="interpolate"``: a set of length ``n > max_len`` is stretched onto the table:
  position ``p`` reads the table at ``t = p (max_len - 1) / (n - 1)``, linearly
  interpolated between rows ``floor(t)`` and ``floor(t) + 1`` (as ViT resizes its
  position embeddings and "position interpolation" extends RoPE models). Sets with
  ``n <= max_len`` read their rows exactly. The encoding of a position then depends on
  its set's length: give padded input its ``lengths=`` (packed input has them).

Shapes: added to padded ``x (B, L, E)`` or packed ``x (N, E)`` (see ``AbsoluteEncoding``);
``weight`` is ``(max_len, E)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import AbsoluteEncoding

__all__ = ["LearnedEncoding"]

_POLICIES = ("error", "interpolate")


class LearnedEncoding(AbsoluteEncoding):
    """A trainable ``(max_len, E)`` table of position vectors.

    Args:
        dim: ``E``. max_len: rows of the table (positions ``0 .. max_len - 1``).
        beyond: ``"error"`` or ``"interpolate"`` (see the module docstring).
        init_std: the table starts as ``N(0, init_std^2)`` (BERT's 0.02).
    """

    name = "learned"

    def __init__(self, dim: int, max_len: int = 512, beyond: str = "error",
                 init_std: float = 0.02) -> None:
        super().__init__(dim)
        if max_len < 1:
            raise ValueError(f"max_len: expected at least 1, got {max_len}")
        if beyond not in _POLICIES:
            raise ValueError(f"beyond: expected one of {_POLICIES}, got {beyond!r}")
        self.max_len, self.beyond = max_len, beyond
        self.weight = nn.Parameter(torch.randn(max_len, dim) * init_std)

    def encode(self, positions: torch.Tensor, set_lengths: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
        w = self.weight.to(dtype)
        if positions.numel() == 0:
            return w.new_zeros(*positions.shape, self.dim)
        longest = int(set_lengths.max())
        if longest <= self.max_len:
            return w[positions]
        if self.beyond == "error":
            raise ValueError(
                f"x: a set of length {longest} is longer than max_len={self.max_len} of this "
                f"LearnedEncoding (positions >= {self.max_len} have no learned vector); build "
                "it with a larger max_len, or beyond='interpolate' to stretch the table")
        long_set = set_lengths > self.max_len
        scale = (self.max_len - 1) / (set_lengths.to(torch.float64) - 1).clamp_min(1.0)
        t = torch.where(long_set, positions.to(torch.float64) * scale, positions.to(torch.float64))
        lo = t.floor().long().clamp(0, self.max_len - 1)
        hi = (lo + 1).clamp(max=self.max_len - 1)
        frac = (t - lo.to(torch.float64)).to(dtype)[..., None]
        return w[lo] * (1 - frac) + w[hi] * frac

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_len={self.max_len}, beyond={self.beyond!r}"
