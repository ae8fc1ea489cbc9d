"""Performer: softmax attention estimated with positive orthogonal random features (FAVOR+).

"Rethinking Attention with Performers", Choromanski et al. 2021 (arXiv:2009.14794).

* Section 2.3 (Lemma 1): the softmax kernel is an expectation over Gaussian ``w``,
  ``exp(x . y) = E_w[ exp(w.x - |x|^2/2) exp(w.y - |y|^2/2) ]``, so with ``m`` samples the
  *positive* random features ``phi(x) = exp(W x - |x|^2/2) / sqrt(m)`` (``W (m, d)``) give
  an unbiased estimate ``phi(x) . phi(y) ~ exp(x . y)`` whose weights are never negative.
* Section 2.4: the rows of ``W`` are drawn *orthogonal* (blocks of ``d`` rows from the QR
  of a Gaussian matrix, each row rescaled to the norm of an independent ``N(0, I_d)``
  vector, so every row is still marginally Gaussian); this lowers the variance.
* Section 2.2 / 2.6: with those features attention is evaluated right to left in
  O(L m d) (see ``_linear``); the causal (unidirectional) form uses prefix sums.

Per head, with ``q, k`` scaled by ``d^-1/4`` so that ``q . k`` is the usual ``q.k/sqrt(d)``::

    out_i = phi(q_i)^T sum_j phi(k_j) v_j^T / phi(q_i)^T sum_j phi(k_j)

For numerical range, ``phi(q_i)`` is computed with its row maximum subtracted in the
exponent (a per-query factor, which cancels in the ratio) and ``phi(k_j)`` with the
maximum over the real keys of the head (one factor for all keys, which also cancels).

Redraw policy (the paper redraws features periodically during training, Section 4.2):
the projection ``W`` is a buffer (saved in checkpoints). In training mode it is redrawn
every ``redraw_interval`` forward calls (before the call that reaches the count;
``None`` = never); in eval mode it is never redrawn, so inference is deterministic.
``redraw_features()`` redraws by hand; ``seed`` makes every draw reproducible.

Shapes: ``x (B, Lq, E)``, ``context (B, Lk, E)``, output ``(B, Lq, E)``. Complexity:
O(L m d) time, O(L m + m d) memory per head (causal: plus a ``(C, C)`` chunk block).
Supports: key padding (padded keys get ``phi(k) = 0``), causal (``Lq == Lk``),
cross-attention, the implied ``(B, H, Lq, Lk)`` weights on request (O(L^2), inspection).
Not: an arbitrary ``mask`` or ``bias``, ``dropout`` on weights (none are formed; raises).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from ...functional.call import AttentionCall
from ._base import VariantAttention
from ._linear import causal_linear_attention, implied_weights, linear_attention

__all__ = ["PerformerAttention", "favor_features", "orthogonal_gaussian"]


def orthogonal_gaussian(m: int, d: int, *, generator: torch.Generator | None = None,
                        dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(m, d)`` random features with orthogonal rows within each block of ``d`` (Sec. 2.4).

    Each block is the Q of a Gaussian ``(d, d)`` matrix; each row is then scaled to the
    norm of an independent ``N(0, I_d)`` vector (a chi(d) length), so rows are marginally
    ``N(0, I_d)`` as Lemma 1 needs, while rows of one block stay exactly orthogonal.
    """
    if m <= 0 or d <= 0:
        raise ValueError(f"m, d: expected positive sizes, got {m} and {d}")
    blocks = []
    for _ in range(math.ceil(m / d)):
        g = torch.randn(d, d, generator=generator, dtype=torch.float64)
        qmat, _ = torch.linalg.qr(g)
        blocks.append(qmat.T)
    w = torch.cat(blocks)[:m]
    norms = torch.randn(m, d, generator=generator, dtype=torch.float64).norm(dim=1, keepdim=True)
    return (w * norms).to(dtype)


def favor_features(x: torch.Tensor, w: torch.Tensor, *, is_query: bool,
                   key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Positive random features ``exp(W x - |x|^2/2 - c) / sqrt(m)`` (Lemma 1).

    ``x (B, H, L, d)`` already scaled by ``d^-1/4``; ``w (m, d)``. ``c`` is the (detached)
    row maximum for queries and the maximum over real keys for keys: both cancel in the
    attention ratio. Padded keys (``key_mask (B, L)`` False) get exactly 0.
    """
    logits = torch.matmul(x, w.to(x.dtype).T) - 0.5 * (x * x).sum(-1, keepdim=True)
    if is_query:
        c = logits.detach().amax(-1, keepdim=True) if logits.shape[-1] else 0.0
    else:
        if key_mask is not None:  # exp(-inf) = 0: padded keys get exactly 0
            logits = logits.masked_fill(~key_mask[:, None, :, None], float("-inf"))
        flat = logits.detach().flatten(2)
        c = flat.amax(-1) if flat.shape[-1] else flat.new_zeros(flat.shape[:2])
        c = torch.where(torch.isfinite(c), c, torch.zeros_like(c))[:, :, None, None]
    # The 1/sqrt(m) goes into the exponent: one (L, m) tensor is kept for backward, not two.
    phi = torch.exp(logits - (c + 0.5 * math.log(w.shape[0])))
    return phi


class PerformerAttention(VariantAttention):
    """Performer (FAVOR+) attention (see the module docstring).

    Args:
        embed_dim, num_heads, bias, head_dim: as ``MultiHeadAttention``.
        dropout: must be 0.0 (no weights are formed).
        num_features: ``m``, random features per head (default ``round(d * ln d)``, the
            paper's choice, with ``d = head_dim``).
        redraw_interval: redraw ``W`` every this many training forward calls (None: never).
        orthogonal: orthogonal rows (FAVOR+, default) or i.i.d. Gaussian rows.
        seed: seed of the feature draws (None: from torch's global generator).
        chunk_size: positions per chunk of the causal prefix sums (memory/speed knob only).
    """

    method = "Performer"
    supports: ClassVar[dict[str, bool]] = dict(
        mask=False, causal=True, bias=False, context=True, dropout=False, return_weights=True)

    def __init__(self, embed_dim: int, num_heads: int, *, num_features: int | None = None,
                 redraw_interval: int | None = 1000, orthogonal: bool = True,
                 seed: int | None = None, chunk_size: int = 64, dropout: float = 0.0,
                 bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        d = self.head_dim
        if num_features is None:
            num_features = max(1, round(d * math.log(d))) if d > 1 else 1
        if num_features <= 0:
            raise ValueError(f"num_features: expected a positive count, got {num_features}")
        if redraw_interval is not None and redraw_interval <= 0:
            raise ValueError(f"redraw_interval: expected a positive count or None, got {redraw_interval}")
        if chunk_size <= 0:
            raise ValueError(f"chunk_size: expected a positive size, got {chunk_size}")
        self.num_features, self.redraw_interval = num_features, redraw_interval
        self.orthogonal, self.chunk_size = orthogonal, chunk_size
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)
        self.register_buffer("projection", self._draw())
        self.calls_since_redraw = 0

    def _draw(self) -> torch.Tensor:
        m, d = self.num_features, self.head_dim
        if self.orthogonal:
            return orthogonal_gaussian(m, d, generator=self._generator)
        return torch.randn(m, d, generator=self._generator)

    @torch.no_grad()
    def redraw_features(self) -> None:
        """Draw a new ``W`` now (in place, same device and dtype) and reset the counter."""
        self.projection.copy_(self._draw().to(self.projection))
        self.calls_since_redraw = 0

    def _attend(self, q, k, v, call: AttentionCall, x):
        if self.training and self.redraw_interval is not None:
            if self.calls_since_redraw >= self.redraw_interval:
                self.redraw_features()
            self.calls_since_redraw += 1
        s = self.head_dim ** -0.25
        phi_q = favor_features(q * s, self.projection, is_query=True)
        phi_k = favor_features(k * s, self.projection, is_query=False, key_mask=call.key_mask)
        if call.causal:
            out = causal_linear_attention(phi_q, phi_k, v, self.chunk_size)
        else:
            out = linear_attention(phi_q, phi_k, v)
        w = implied_weights(phi_q, phi_k, call.causal) if call.need_weights else None
        return out, w

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, num_features={self.num_features}, "
                f"redraw_interval={self.redraw_interval}, orthogonal={self.orthogonal}")
