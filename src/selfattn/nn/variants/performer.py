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

For numerical range (as the paper's code does, with a stop-gradient maximum and
``eps = 1e-4``), every feature row is computed relative to its own maximum ``r``:
``phi(x) = exp(r) (exp(W x - |x|^2/2 - r) + eps) / sqrt(m)``. For a query ``exp(r)`` is a
per-query factor and is dropped (it cancels in the ratio); for keys it is carried in log
space (``key_log_weight`` of ``_linear``), which rescales each query's visible keys to their
strongest one. So no feature overflows, the strongest key keeps weight 1, and with
``eps`` every denominator is at least ``eps^2``: outputs and gradients stay finite for
logits of any size (at ``|q . k| ~ 1e4`` a plain ``exp`` leaves denominators of 1e-318,
whose gradient ``num / den^2`` overflows). ``eps`` biases the estimate by about ``eps``
relative to each row's largest feature.

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
from ._base import VariantAttention, attend_in_float32
from ._linear import causal_linear_attention, implied_weights, linear_attention

__all__ = ["FEATURE_EPS", "PerformerAttention", "favor_features", "orthogonal_gaussian"]


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


#: Added to every feature relative to its row's largest (the paper's code uses 1e-4).
FEATURE_EPS = 1e-4


def favor_features(x: torch.Tensor, w: torch.Tensor, *, key_mask: torch.Tensor | None = None,
                   eps: float = FEATURE_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Positive random features (Lemma 1), row-normalised: ``(phi, log_scale)``.

    ``x (B, H, L, d)`` already scaled by ``d^-1/4``; ``w (m, d)``. With ``l = W x - |x|^2/2``
    and ``r`` its (detached) row maximum, ``phi = (exp(l - r) + eps) / sqrt(m)`` is in
    ``[eps, 1 + eps] / sqrt(m)`` and ``log_scale = r (B, H, L)``: ``exp(log_scale) * phi`` is
    the paper's feature (plus ``eps``). Rows of ``key_mask (B, L)`` False (padded keys) get
    ``phi = 0`` and the smallest real ``log_scale`` (0 when there is none).
    """
    logits = torch.matmul(x, w.to(x.dtype).T) - 0.5 * (x * x).sum(-1, keepdim=True)
    r = logits.detach().amax(-1) if logits.shape[-1] else logits.new_zeros(logits.shape[:-1])
    # The 1/sqrt(m) goes into the exponent: one (L, m) tensor is kept for backward, not two.
    half_log_m = 0.5 * math.log(w.shape[0])
    # l - r first: exact near the maximum even where |l| ~ 1e4 has a float32 ulp of 1e-3.
    phi = torch.exp(logits - r[..., None] - half_log_m) + eps * math.exp(-half_log_m)
    if key_mask is not None:
        real = key_mask[:, None, :].expand_as(r)
        phi = phi * real[..., None].to(phi.dtype)
        low = r.masked_fill(~real, float("inf")).amin(-1, keepdim=True) if r.shape[-1] else r
        r = torch.where(real, r, torch.where(torch.isfinite(low), low, torch.zeros_like(low)))
    return phi, r


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

    @attend_in_float32  # float16: its sums over keys (and performer's eps) leave the float16 range
    def _attend(self, q, k, v, call: AttentionCall, x):
        if self.training and self.redraw_interval is not None:
            if self.calls_since_redraw >= self.redraw_interval:
                self.redraw_features()
            self.calls_since_redraw += 1
        s = self.head_dim ** -0.25
        phi_q, _ = favor_features(q * s, self.projection)  # a per-query factor cancels
        phi_k, r = favor_features(k * s, self.projection, key_mask=call.key_mask)
        if call.causal:
            out = causal_linear_attention(phi_q, phi_k, v, self.chunk_size, key_log_weight=r)
        else:
            out = linear_attention(phi_q, phi_k, v, key_log_weight=r)
        w = implied_weights(phi_q, phi_k, call.causal, r) if call.need_weights else None
        return out, w

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, num_features={self.num_features}, "
                f"redraw_interval={self.redraw_interval}, orthogonal={self.orthogonal}")
