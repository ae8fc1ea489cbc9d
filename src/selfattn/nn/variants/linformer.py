"""Linformer: keys and values projected along the length to ``k`` rows (Wang et al. 2020).

"Linformer: Self-Attention with Linear Complexity" (arXiv:2006.04768), Section 4
("Model"): two learned matrices ``E, F`` of shape ``(k, n)`` project the ``n`` keys and
values along the *length* axis before the usual softmax attention, per head::

    head = softmax( Q (E K)^T / sqrt(d) ) (F V)        Q (L, d), E K (k, d), F V (k, d)

so the weights are ``(L, k)`` instead of ``(L, n)``. Section 4, "Additional efficiency
techniques": the projections may be shared across heads (*headwise*, the default here)
and between keys and values (*key-value*, ``share_kv=True``).

Shapes: ``x (B, Lq, E)``, ``context (B, Lk, E)`` (cross-attention is supported: the keys
and values of the context are projected), output ``(B, Lq, E)``; weights on request are
``(B, H, Lq, k)``: each query's weights over the ``k`` projected keys.

Lengths and padding (how this module reads the paper, which trains at one fixed ``n``):

* ``max_len`` is the paper's ``n``, the longest key sequence. A key sequence of length
  ``Lk < max_len`` uses the first ``Lk`` columns of ``E`` and ``F``, which is exactly the
  paper's model on the sequence zero-padded to ``n``. ``Lk > max_len`` raises.
* Padded keys (``key_mask`` False / beyond ``key_lengths``) are zeroed before the
  projection, so they contribute nothing to ``E K`` and ``F V``: adding padding never
  changes a real output. A projected key ``j`` whose row of ``E`` puts no weight on any
  real key is not a key at all and is masked. With dense learned ``E`` that happens only
  for an empty set (whose queries then get a zero output); with ``E = F = I`` (``k = n``)
  it masks exactly the padded keys, so the identity projection equals full attention.
* ``k`` may exceed the length of a (short) set: ``E K`` then has rank at most ``Lk``;
  nothing special is needed.

Complexity: O(Lq * k * d) time and O((Lq + Lk) * k) memory per head (linear in length).
Supports: key padding, cross-attention, dropout on the ``(Lq, k)`` weights, weights.
Not: ``causal`` (row ``j`` of ``E K`` mixes every position, future ones included),
an arbitrary ``mask`` or ``bias`` (there is no ``(Lq, Lk)`` score matrix).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ...functional.call import AttentionCall
from ._base import VariantAttention, masked_softmax

__all__ = ["LinformerAttention"]


class LinformerAttention(VariantAttention):
    """Linformer self- or cross-attention (see the module docstring).

    Args:
        embed_dim, num_heads, dropout, bias, head_dim: as ``MultiHeadAttention``.
        max_len: ``n``, the longest key sequence (columns of ``E`` and ``F``).
        k: the projected length (rows of ``E`` and ``F``); default ``min(256, max_len)``.
        share_kv: one matrix for keys and values (``F = E``).
        share_heads: one ``E`` (and ``F``) for all heads (default), else one per head.
    """

    method = "Linformer"
    weights_over_keys = False
    supports: ClassVar[dict[str, bool]] = dict(
        mask=False, causal=False, bias=False, context=True, dropout=True, return_weights=True)
    reasons: ClassVar[dict[str, str]] = {
        "causal": "each projected key E K mixes every position, future ones included "
                  "(the paper defines no causal form)"}

    def __init__(self, embed_dim: int, num_heads: int, *, max_len: int, k: int | None = None,
                 share_kv: bool = False, share_heads: bool = True, dropout: float = 0.0,
                 bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        if max_len <= 0:
            raise ValueError(f"max_len: expected a positive length, got {max_len}")
        k = min(256, max_len) if k is None else k
        if k <= 0:
            raise ValueError(f"k: expected a positive projected length, got {k}")
        self.max_len, self.k, self.share_kv, self.share_heads = max_len, k, share_kv, share_heads
        shape = (k, max_len) if share_heads else (num_heads, k, max_len)
        # N(0, 1/k): each projected key is a sum of n keys with weights of variance 1/k.
        self.E = nn.Parameter(torch.randn(shape) / math.sqrt(k))
        self.F = None if share_kv else nn.Parameter(torch.randn(shape) / math.sqrt(k))

    def _projections(self, lk: int) -> tuple[torch.Tensor, torch.Tensor]:
        """E, F cut to the first ``lk`` columns, as ``(1|H, k, lk)``."""
        if lk > self.max_len:
            raise ValueError(f"context: expected a key length of at most max_len={self.max_len} "
                             f"(the Linformer projection's n), got {lk}")
        E = self.E[..., :lk]
        F = E if self.F is None else self.F[..., :lk]
        if self.share_heads:
            E, F = E[None], F[None]
        return E, F

    def _attend(self, q, k, v, call: AttentionCall, x):
        lk = k.shape[2]
        E, F = self._projections(lk)
        km = call.key_mask
        if km is not None:
            m = km[:, None, :, None].to(k.dtype)
            k, v = k * m, v * m
        kp = torch.matmul(E, k)  # (B, H, k, D)
        vp = torch.matmul(F, v)
        # A projected key is real iff its row of E weights at least one real key.
        real = torch.ones(k.shape[0], lk, dtype=k.dtype, device=k.device) if km is None else km.to(k.dtype)
        slot_ok = torch.matmul(E.detach().abs(), real[:, None, :, None]).squeeze(-1) > 0  # (B, 1|H, k)
        scores = torch.matmul(q, kp.transpose(-1, -2)) * call.scale
        w = masked_softmax(scores, slot_ok[:, :, None, :])
        out = torch.matmul(self._drop(w), vp)
        return out, (w if call.need_weights else None)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, max_len={self.max_len}, k={self.k}, "
                f"share_kv={self.share_kv}, share_heads={self.share_heads}")
