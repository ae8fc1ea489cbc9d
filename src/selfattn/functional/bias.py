"""Additive score biases that are functions of positions (ALiBi, T5 buckets, ...).

A bias adds ``b[h, i, j]`` to the score of query ``i`` and key ``j`` in head ``h``. Dense
kernels need it as an ``(H, Lq, Lk)`` tensor; sparse kernels (windows, graphs) need it only
at the pairs they compute. ``ScoreBias`` gives both from one definition: a subclass
implements ``pairwise(q_pos, k_pos)`` for broadcastable integer position tensors, and
``dense`` follows from it. Biases are data, not kernels: any kernel can take any bias.

Positions follow the causal convention of selfattn (lower-right alignment): with ``Lq``
queries and ``Lk`` keys, query ``i`` sits at position ``i + Lk - Lq`` and key ``j`` at
``j``, so a decoder step over a key/value cache sees the positions it would see without
the cache.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ScoreBias"]


class ScoreBias(nn.Module):
    """Base class of position-dependent additive score biases.

    Subclasses set ``num_heads`` (or 1 for a bias shared by all heads) and implement
    ``pairwise``.
    """

    num_heads: int = 1

    def pairwise(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """Bias for each pair of positions.

        Args:
            q_pos, k_pos: integer tensors, broadcastable to a common shape ``S``.

        Returns:
            ``(num_heads, *S)`` float tensor.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement pairwise()")

    def dense(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(num_heads, lq, lk)`` bias for queries at ``lk - lq + i`` and keys at ``j``."""
        q_pos = torch.arange(lq, device=device) + (lk - lq)
        k_pos = torch.arange(lk, device=device)
        return self.pairwise(q_pos[:, None], k_pos[None, :])
