"""Additive (tanh) relevance scores: the lecture's second way to compute alpha [14].

    alpha(q, k) = w^T tanh(Wq q + Wk k)

Unlike the dot product it has parameters of its own, so it is a module. Pass an instance
as ``score=`` to ``selfattn.functional.attention`` or to ``MultiHeadAttention``. It costs
``O(Lq * Lk * hidden)`` memory per head; queries are processed in chunks to bound it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["AdditiveScore"]


class AdditiveScore(nn.Module):
    """``w_h^T tanh(Wq_h q + Wk_h k)`` per head.

    Args:
        head_dim: size of q and k per head (``D``).
        hidden_dim: size of the tanh layer; default ``head_dim``.
        num_heads: ``H``; each head has its own ``Wq``, ``Wk`` and ``w``.
        chunk_size: queries per chunk (bounds memory at ``chunk * Lk * hidden`` per head).

    Call: ``score(q, k)`` with ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)`` -> ``(B, H, Lq, Lk)``.
    """

    def __init__(self, head_dim: int, hidden_dim: int | None = None, num_heads: int = 1,
                 chunk_size: int = 256) -> None:
        super().__init__()
        hidden_dim = hidden_dim or head_dim
        self.num_heads, self.head_dim, self.hidden_dim = num_heads, head_dim, hidden_dim
        self.chunk_size = chunk_size
        bound = 1.0 / math.sqrt(head_dim)
        self.w_q = nn.Parameter(torch.empty(num_heads, head_dim, hidden_dim).uniform_(-bound, bound))
        self.w_k = nn.Parameter(torch.empty(num_heads, head_dim, hidden_dim).uniform_(-bound, bound))
        self.w = nn.Parameter(torch.empty(num_heads, hidden_dim).uniform_(-1.0, 1.0)
                              / math.sqrt(hidden_dim))

    def _check(self, q: torch.Tensor, k: torch.Tensor) -> None:
        for name, t in (("q", q), ("k", k)):
            if t.dim() != 4 or t.shape[1] != self.num_heads or t.shape[3] != self.head_dim:
                raise ValueError(
                    f"{name}: expected shape (batch, {self.num_heads}, length, {self.head_dim}) "
                    f"for this AdditiveScore, got {tuple(t.shape)}")

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        self._check(q, k)
        qa = torch.einsum("bhld,hde->bhle", q, self.w_q)  # (B, H, Lq, E)
        ka = torch.einsum("bhld,hde->bhle", k, self.w_k)  # (B, H, Lk, E)
        w = self.w[None, :, None, None, :]
        chunks = [
            (torch.tanh(qa[:, :, i:i + self.chunk_size, None, :] + ka[:, :, None, :, :]) * w).sum(-1)
            for i in range(0, q.shape[2], self.chunk_size)
        ]
        if not chunks:
            return q.new_zeros(q.shape[0], q.shape[1], 0, k.shape[2])
        return torch.cat(chunks, dim=2)

    def column_scores(self, Q: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        """The reference's literal form: ``Q (B, H, D, Lq)``, ``K (B, H, D, Lk)`` as columns;
        returns ``A (B, H, Lk, Lq)`` with ``A[j, i] = w^T tanh(Wq q_i + Wk k_j)``, one key at
        a time."""
        Wq = self.w_q.transpose(-1, -2)[None]  # (1, H, E, D)
        Wk = self.w_k.transpose(-1, -2)[None]
        rows = []
        for j in range(K.shape[-1]):
            hidden = torch.tanh(Wq @ Q + Wk @ K[..., j:j + 1])  # (B, H, E, Lq)
            rows.append(self.w[None, :, None, :] @ hidden)  # (B, H, 1, Lq)
        if not rows:
            return Q.new_zeros(Q.shape[0], Q.shape[1], 0, Q.shape[-1])
        return torch.cat(rows, dim=2)
