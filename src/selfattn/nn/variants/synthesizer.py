"""Synthesizer: attention weights synthesised without query-key dot products (Tay et al. 2021).

"Synthesizer: Rethinking Self-Attention for Transformer Models" (arXiv:2005.00743).

* Dense Synthesizer (Section 3.1, Eq. 1-2): each position predicts its own row of scores
  from its own vector only, ``B_i = W2 relu(W1 x_i + b1) + b2`` with ``B_i`` of size ``l``
  (the maximum length), then ``Y = softmax(B) G(x)`` with ``G`` the value projection.
  Here ``W1 (E -> hidden)`` is shared and ``W2 (hidden -> H * max_len)`` gives each head
  its own row.
* Random Synthesizer (Section 3.2, Eq. 3): ``B = R``, a ``(l, l)`` matrix per head,
  randomly initialised and either trained (``trainable=True``) or fixed; it does not
  depend on the input at all.

Both are defined for a fixed maximum length ``l = max_len``; a set of length ``L <= l``
uses the first ``L`` columns (and, for the random one, rows) of ``B``, which is the model
on a sequence padded to ``l``. ``L > max_len`` raises.

Because ``B`` is an ordinary ``(L, L)`` score matrix, every pattern applies to it exactly
as in full attention (the paper masks it for its autoregressive experiments): key padding,
``causal`` (``B_i`` depends on ``x_i`` alone, so masking ``j > i`` is exactly causal), an
arbitrary ``mask`` and an additive ``bias``; dropout acts on the weights; the weights
``(B, H, L, L)`` are returned on request. Cross-attention is not defined (the scores
index the positions of the query's own sequence) and raises.

Shapes: ``x (B, L, E)`` -> ``(B, L, E)``. Complexity: O(L * l * H) time and O(H * L^2)
memory, like full attention (the paper's point is the quality without dot products, not
the speed); the factorised variants of Section 3.3 are not implemented.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ...functional.call import AttentionCall
from ...functional.normalize import normalize_scores
from ._base import VariantAttention, masked_softmax

__all__ = ["SynthesizerDenseAttention", "SynthesizerRandomAttention"]

_SUPPORTS = {"mask": True, "causal": True, "bias": True, "context": False,
             "dropout": True, "return_weights": True}
_REASONS = {"context": "its scores index the positions of the query's own sequence, so "
                       "there is no cross-attention form (Tay et al. 2021, Section 3)"}


class _Synthesizer(VariantAttention):
    supports = _SUPPORTS
    reasons = _REASONS
    projections = 1  # values only: the scores are synthesised, there are no q and k

    def __init__(self, embed_dim: int, num_heads: int, *, max_len: int, dropout: float,
                 bias: bool, head_dim: int | None) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        if max_len <= 0:
            raise ValueError(f"max_len: expected a positive length, got {max_len}")
        self.max_len = max_len

    def _project(self, x, context, value):
        v = self._heads(self.in_proj(x))
        return v, v, v  # q and k are placeholders for the shape checks of make_call

    def _scores(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _attend(self, q, k, v, call: AttentionCall, x):
        length = x.shape[1]
        if length > self.max_len:
            raise ValueError(f"x: expected a length of at most max_len={self.max_len} (the "
                             f"{self.method}'s synthesised score size), got {length}")
        scores = self._scores(x)
        bias = call.dense_bias()
        if bias is None:  # finite scores: the lean softmax (one (L, L) tensor kept)
            w = masked_softmax(scores, call.dense_allowed())
        else:  # a bias may hold -inf entries, which the core's normalisation treats as masks
            w = normalize_scores(scores + bias, call.dense_allowed())
        return torch.matmul(self._drop(w), v), (w if call.need_weights else None)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, max_len={self.max_len}"


class SynthesizerDenseAttention(_Synthesizer):
    """Dense Synthesizer (Section 3.1): ``B_i = W2 relu(W1 x_i + b1) + b2``.

    Args:
        embed_dim, num_heads, dropout, bias, head_dim: as ``MultiHeadAttention``.
        max_len: ``l``, the longest sequence (size of each synthesised row).
        hidden: width of the two-layer network (default ``embed_dim``).
    """

    method = "Synthesizer (dense)"

    def __init__(self, embed_dim: int, num_heads: int, *, max_len: int, hidden: int | None = None,
                 dropout: float = 0.0, bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, max_len=max_len, dropout=dropout, bias=bias,
                         head_dim=head_dim)
        hidden = hidden or embed_dim
        self.w1 = nn.Linear(embed_dim, hidden)
        self.w2 = nn.Linear(hidden, num_heads * max_len)

    def _scores(self, x):
        b, length, _ = x.shape
        rows = self.w2(torch.relu(self.w1(x)))  # (B, L, H * max_len)
        rows = rows.view(b, length, self.num_heads, self.max_len)[..., :length]
        return rows.transpose(1, 2)  # (B, H, L, L)


class SynthesizerRandomAttention(_Synthesizer):
    """Random Synthesizer (Section 3.2): ``B = R``, one ``(max_len, max_len)`` per head.

    Args:
        embed_dim, num_heads, dropout, bias, head_dim: as ``MultiHeadAttention``.
        max_len: ``l``, the longest sequence.
        trainable: learn ``R`` (default) or keep the random initialisation fixed.
    """

    method = "Synthesizer (random)"

    def __init__(self, embed_dim: int, num_heads: int, *, max_len: int, trainable: bool = True,
                 dropout: float = 0.0, bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, max_len=max_len, dropout=dropout, bias=bias,
                         head_dim=head_dim)
        r = torch.randn(num_heads, max_len, max_len) / math.sqrt(max_len)
        self.trainable = trainable
        if trainable:
            self.R = nn.Parameter(r)
        else:
            self.register_buffer("R", r)

    def _scores(self, x):
        length = x.shape[1]
        return self.R[None, :, :length, :length].to(x.dtype).expand(x.shape[0], -1, -1, -1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, trainable={self.trainable}"
