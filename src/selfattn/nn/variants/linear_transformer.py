"""Linear Transformer: attention with the feature map ``elu(x) + 1`` (Katharopoulos et al. 2020).

"Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
(arXiv:2006.16236). Section 3.2 (Eq. 4-6) writes attention with a kernel
``sim(q, k) = phi(q)^T phi(k)`` and evaluates it right to left; Section 3.2.1 (Eq. 7)
picks ``phi(x) = elu(x) + 1`` (positive, so every weight is positive). Per head::

    out_i = phi(q_i)^T S / phi(q_i)^T z,   S = sum_j phi(k_j) v_j^T (D, Dv),  z = sum_j phi(k_j)

Causal (Section 3.3, Eq. 8-10): the sums run over ``j <= i``. Section 3.4 (Eq. 16-20),
"Transformers are RNNs": the same causal layer is a recurrent network whose state is
``(S_i, z_i)``::

    S_i = S_{i-1} + phi(k_i) v_i^T,   z_i = z_{i-1} + phi(k_i),   out_i = phi(q_i)^T S_i / phi(q_i)^T z_i

``forward(..., causal=True)`` computes it in parallel (chunked prefix sums, see
``_linear``); ``step(x_t, state)`` runs it one position at a time for generation with a
``LinearAttentionState``; both give the same outputs.

Shapes: ``x (B, Lq, E)``, ``context (B, Lk, E)`` (non-causal cross-attention is
supported), output ``(B, Lq, E)``; ``step``: ``x_t (B, E)`` -> ``(B, E)``.
Complexity: O(L * D * Dv) time, O(L * D + D * Dv) memory per head (causal: plus the
chunk's ``(C, C)`` block). Supports: key padding (padded keys get ``phi(k) = 0``),
causal (``Lq == Lk``), cross-attention, the implied ``(B, H, Lq, Lk)`` weights on request
(O(L^2), for inspection). Not: an arbitrary ``mask`` or ``bias`` (no score matrix is
formed), ``dropout`` on weights (none are formed; raises).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from ...functional.call import AttentionCall
from ._base import VariantAttention, attend_in_float32, safe_divide
from ._linear import causal_linear_attention, implied_weights, linear_attention

__all__ = ["LinearAttentionState", "LinearTransformerAttention", "elu_feature_map"]


def elu_feature_map(x: torch.Tensor) -> torch.Tensor:
    """``phi(x) = elu(x) + 1`` (Eq. 7): positive, smooth, cheap."""
    return F.elu(x) + 1.0


@dataclass
class LinearAttentionState:
    """The recurrent state after ``t`` steps: ``s (B, H, D, Dv)`` = sum of ``phi(k) v^T``,
    ``z (B, H, D)`` = sum of ``phi(k)``, ``t`` = positions consumed."""

    s: torch.Tensor
    z: torch.Tensor
    t: int = 0


class LinearTransformerAttention(VariantAttention):
    """Linear Transformer attention (see the module docstring).

    Args:
        embed_dim, num_heads, bias, head_dim: as ``MultiHeadAttention``.
        dropout: must be 0.0 (no weights are formed).
        chunk_size: positions per chunk of the parallel causal form (memory/speed knob only).
    """

    method = "Linear Transformer"
    supports: ClassVar[dict[str, bool]] = dict(
        mask=False, causal=True, bias=False, context=True, dropout=False, return_weights=True)

    def __init__(self, embed_dim: int, num_heads: int, *, dropout: float = 0.0, bias: bool = True,
                 head_dim: int | None = None, chunk_size: int = 64) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, head_dim=head_dim)
        if chunk_size <= 0:
            raise ValueError(f"chunk_size: expected a positive size, got {chunk_size}")
        self.chunk_size = chunk_size

    @attend_in_float32  # float16: its sums over keys leave the float16 range
    def _attend(self, q, k, v, call: AttentionCall, x):
        phi_q, phi_k = elu_feature_map(q), elu_feature_map(k)
        if call.key_mask is not None:
            phi_k = phi_k * call.key_mask[:, None, :, None].to(phi_k.dtype)
        if call.causal:
            out = causal_linear_attention(phi_q, phi_k, v, self.chunk_size)
        else:
            out = linear_attention(phi_q, phi_k, v)
        w = implied_weights(phi_q, phi_k, call.causal) if call.need_weights else None
        return out, w

    # -- recurrent form ---------------------------------------------------------------
    def init_state(self, batch: int, *, dtype: torch.dtype | None = None,
                   device: torch.device | None = None) -> LinearAttentionState:
        """The empty state (no position consumed yet)."""
        dtype = dtype or self.out_proj.weight.dtype
        device = device or self.out_proj.weight.device
        h, d = self.num_heads, self.head_dim
        return LinearAttentionState(torch.zeros(batch, h, d, d, dtype=dtype, device=device),
                                    torch.zeros(batch, h, d, dtype=dtype, device=device))

    def step(self, x_t: torch.Tensor, state: LinearAttentionState | None = None
             ) -> tuple[torch.Tensor, LinearAttentionState]:
        """One causal step (Section 3.4): ``x_t (B, E)`` -> ``(y_t (B, E), new state)``.

        Feeding ``x[:, 0], x[:, 1], ...`` gives ``forward(x, causal=True)`` position by
        position, in O(1) time and memory per step. The state passed in is not modified.
        """
        if x_t.dim() != 2 or x_t.shape[-1] != self.embed_dim:
            raise ValueError(f"x_t: expected a 2-D tensor (batch, {self.embed_dim}), "
                             f"got shape {tuple(x_t.shape)}")
        if state is None:
            state = self.init_state(x_t.shape[0], dtype=x_t.dtype, device=x_t.device)
        elif state.s.shape[0] != x_t.shape[0]:
            raise ValueError(f"state: expected batch size {x_t.shape[0]} (that of x_t), "
                             f"got {state.s.shape[0]}")
        q, k, v = self._project(x_t[:, None], None, None)  # (B, H, 1, D)
        phi_q, phi_k = elu_feature_map(q[:, :, 0]), elu_feature_map(k[:, :, 0])
        s = state.s + phi_k[..., :, None] * v[:, :, 0, None, :]
        z = state.z + phi_k
        num = torch.einsum("bhd,bhde->bhe", phi_q, s)
        den = (phi_q * z).sum(-1, keepdim=True)
        y = safe_divide(num, den).reshape(x_t.shape[0], -1)
        return self.out_proj(y), LinearAttentionState(s, z, state.t + 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, chunk_size={self.chunk_size}"
