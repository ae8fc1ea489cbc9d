"""Nystromformer: softmax attention through ``m`` landmarks (Xiong et al. 2021).

"Nystromformer: A Nystrom-Based Algorithm for Approximating Self-Attention"
(arXiv:2102.03902), Section 3 ("Linearized self-attention via Nystrom method"): with
landmark queries ``Q~`` and keys ``K~`` (``m`` each), the softmax matrix ``S`` is
approximated as::

    S ~ softmax(Q K~^T / sqrt(d)) * pinv(softmax(Q~ K~^T / sqrt(d))) * softmax(Q~ K^T / sqrt(d))
          F1 (L, m)                    Z = A^+ (m, m)                      F3 (m, L)

and ``out = F1 (Z (F3 V))``, evaluated right to left in O(L m d).

* Landmarks (Section 3, "Selection of landmarks"): segment means. The ``n`` real tokens
  of a set are split, in order, into ``m`` segments (token of rank ``r`` goes to segment
  ``floor(r * m / n)``); a landmark is the mean of its segment's queries (keys). Only
  real tokens count (the key padding mask is the query mask too: self-attention), so
  padding never moves a landmark. A set with ``n < m`` leaves some segments empty; those
  landmarks are masked out of all three softmaxes (and of ``A``'s pseudoinverse).
* Pseudoinverse (Section 3, "Approximating the Moore-Penrose inverse", Eq. 14; Razavi et
  al. 2014): ``Z_0 = A^T / (||A||_1 ||A||_inf)``, then
  ``Z_{j+1} = Z_j (13 I - A Z_j (15 I - A Z_j (7 I - A Z_j))) / 4`` for ``pinv_iters``
  (6 in the paper) steps. The norms are taken per set and head, so one set never
  changes another's result. ``pinv="exact"`` uses ``torch.linalg.pinv`` instead.
* The paper's optional depthwise convolution skip on ``V`` is ``conv_kernel`` (odd size,
  default None = off); padded values are zero, so it keeps padding invisible.

Shapes: ``x (B, L, E)`` -> ``(B, L, E)``; weights on request: the implied
``(B, H, L, L)`` matrix ``F1 Z F3`` (O(L^2), for inspection; rows need not sum to 1).
Complexity: O(L m d + m^3) time, O(L m + m^2) memory per head.
Supports: key padding. Not: ``causal`` (segment means mix future tokens; the paper gives
no causal form), an arbitrary ``mask`` or ``bias`` (no ``(L, L)`` score matrix),
cross-attention (the landmarks need the queries' padding, which cross-attention does not
carry), ``dropout`` (raises; no weights are formed).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from ...functional.call import AttentionCall
from ._base import VariantAttention, attend_in_float32, masked_softmax

__all__ = ["NystromAttention", "iterative_pinv", "segment_means"]


def segment_means(x: torch.Tensor, key_mask: torch.Tensor | None, m: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmarks: ``x (B, H, L, d)`` -> means of ``m`` in-order segments of the real
    tokens ``(B, H, m, d)`` and which segments are non-empty ``(B, m)`` bool."""
    b, _, length, _ = x.shape
    real = (torch.ones(b, length, dtype=torch.bool, device=x.device) if key_mask is None
            else key_mask)
    n = real.sum(-1, keepdim=True)  # (B, 1)
    rank = real.long().cumsum(-1) - 1
    seg = torch.div(rank.clamp_min(0) * m, n.clamp_min(1), rounding_mode="floor")
    seg = torch.where(real, seg, torch.full_like(seg, m))  # padding goes to a dropped slot m
    counts = torch.zeros(b, m + 1, dtype=x.dtype, device=x.device)
    counts.scatter_add_(1, seg, torch.ones_like(seg, dtype=x.dtype))
    sums = x.new_zeros(b, x.shape[1], m + 1, x.shape[-1])
    idx = seg[:, None, :, None].expand(-1, x.shape[1], -1, x.shape[-1])
    sums = sums.scatter_add(2, idx, x)
    counts = counts[:, :m]
    means = sums[:, :, :m] / counts.clamp_min(1)[:, None, :, None]
    return means, counts > 0


def iterative_pinv(a: torch.Tensor, iters: int = 6) -> torch.Tensor:
    """Moore-Penrose pseudoinverse of ``a (..., m, m)`` by the paper's iteration (Eq. 14)."""
    norm1 = a.abs().sum(-2).amax(-1)  # max column sum
    norm_inf = a.abs().sum(-1).amax(-1)  # max row sum
    denom = (norm1 * norm_inf)[..., None, None]
    z = a.transpose(-1, -2) / torch.where(denom > 0, denom, torch.ones_like(denom))
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    for _ in range(iters):
        az = a @ z
        z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
    return z


class NystromAttention(VariantAttention):
    """Nystromformer self-attention (see the module docstring).

    Args:
        embed_dim, num_heads, bias, head_dim: as ``MultiHeadAttention``.
        dropout: must be 0.0.
        num_landmarks: ``m`` (the paper uses 32 or 64).
        pinv_iters: iterations of the pseudoinverse (paper: 6).
        pinv: ``"iterative"`` (the paper's) or ``"exact"`` (``torch.linalg.pinv``).
        conv_kernel: size of the depthwise convolution skip on ``V`` (odd), or None.
    """

    method = "Nystromformer"
    supports: ClassVar[dict[str, bool]] = dict(
        mask=False, causal=False, bias=False, context=False, dropout=False, return_weights=True)
    reasons: ClassVar[dict[str, str]] = {
        "causal": "segment-mean landmarks mix future tokens into every query's weights "
                  "(the paper gives no causal form)",
        "context": "the landmarks are segment means of the queries, which need the "
                   "queries' own padding; only self-attention is supported",
        "dropout": "its weights are a product of three matrices, never formed; expected 0.0",
    }

    def __init__(self, embed_dim: int, num_heads: int, *, num_landmarks: int = 64,
                 pinv_iters: int = 6, pinv: str = "iterative", conv_kernel: int | None = None,
                 dropout: float = 0.0, bias: bool = True, head_dim: int | None = None) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        if num_landmarks <= 0:
            raise ValueError(f"num_landmarks: expected a positive count, got {num_landmarks}")
        if pinv not in ("iterative", "exact"):
            raise ValueError(f"pinv: expected 'iterative' or 'exact', got {pinv!r}")
        if pinv_iters < 0:
            raise ValueError(f"pinv_iters: expected a non-negative count, got {pinv_iters}")
        if conv_kernel is not None and (conv_kernel <= 0 or conv_kernel % 2 == 0):
            raise ValueError(f"conv_kernel: expected an odd positive size or None, got {conv_kernel}")
        self.num_landmarks, self.pinv_iters, self.pinv = num_landmarks, pinv_iters, pinv
        self.conv = None
        if conv_kernel is not None:
            self.conv = nn.Conv2d(num_heads, num_heads, (conv_kernel, 1), padding=(conv_kernel // 2, 0),
                                  groups=num_heads, bias=False)

    @attend_in_float32  # float16: its sums over keys leave the float16 range
    def _attend(self, q, k, v, call: AttentionCall, x):
        km = call.key_mask
        if km is not None:
            v = v * km[:, None, :, None].to(v.dtype)
        m = self.num_landmarks
        q = q * call.scale
        ql, ok = segment_means(q, km, m)
        kl, _ = segment_means(k, km, m)
        lm_ok = ok[:, None, None, :]  # landmark j usable as a key
        f1 = masked_softmax(q @ kl.transpose(-1, -2), lm_ok)  # (B, H, L, m)
        a = masked_softmax(ql @ kl.transpose(-1, -2), lm_ok)  # (B, H, m, m)
        f3 = masked_softmax(ql @ k.transpose(-1, -2), None if km is None else km[:, None, None, :])
        rows = ok[:, None, :, None].to(a.dtype)  # empty landmarks are no queries either
        a, f3 = a * rows, f3 * rows
        z = torch.linalg.pinv(a) if self.pinv == "exact" else iterative_pinv(a, self.pinv_iters)
        out = f1 @ (z @ (f3 @ v))
        if self.conv is not None:
            out = out + self.conv(v.to(self.conv.weight.dtype)).to(out.dtype)
        w = (f1 @ z @ f3) if call.need_weights else None
        return out, w

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, num_landmarks={self.num_landmarks}, "
                f"pinv={self.pinv!r}, pinv_iters={self.pinv_iters}")

