"""Self-attention modules: one head as on the slides, and multi-head attention.

``SelfAttention`` is the lecture's single head [11-25]: three learned matrices Wq, Wk,
Wv; every output b_i is a weighted sum of all v_j, weighted by the normalised relevance
of a_j to a_i. ``MultiHeadAttention`` splits q, k, v into heads that attend on their own,
concatenates the heads' outputs and mixes them with Wo [26-28].

Shapes are batch-first: ``x (B, L, E)``; or the packed form ``x (N, E)`` with ``offsets``
``(B + 1,)`` (see ``selfattn.varlen``). Masks: bool, ``True`` = may attend.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_finite_positive, check_probability, check_vectors
from ..functional import ScoreBias, attention, varlen_attention
from ..varlen import positions as packed_positions

__all__ = ["MultiHeadAttention", "SelfAttention"]


class MultiHeadAttention(nn.Module):
    """Multi-head self- or cross-attention.

    Args:
        embed_dim: ``E``, the size of the queries' input vectors and of the output.
        num_heads: ``H``; ``E`` must divide by it unless ``head_dim`` is given.
        kdim, vdim: sizes of the key and value inputs (cross-attention); default ``E``.
        head_dim: size per head (default ``E // H``); inner width is ``H * head_dim``.
        bias: biases in the input and output projections.
        dropout: dropout on the attention weights (only in training mode), in [0, 1).
        score: ``"dot"`` or ``"additive"`` (an ``AdditiveScore`` per head is created).
        normalize: ``"softmax"``, ``"relu"`` or ``"sigmoid"``.
        kernel: kernel name passed to ``attention`` (``"auto"`` picks the fastest exact one).
        position_bias: a ``ScoreBias`` added to every score (ALiBi, relative buckets, ...).
        rotary: a module ``rotary(x, positions) -> x`` applied to q and k, with ``x
            (..., L, head_dim)`` and ``positions (L,)`` (RoPE).
        pattern: a sparse pattern (``selfattn.patterns``: a window, Longformer, BigBird,
            Sparse Transformer, 2-D neighbourhood or graph) every call attends under; the
            dispatcher runs its exact O(L * w) / O(E) kernel where that is faster than
            dense attention with the pattern's mask, and says which (``choose_kernel``).
            A call's own ``pattern=`` replaces it. Packed input applies it inside each set.

    Forward: ``mha(x, context=None, *, mask=None, key_mask=None, key_lengths=None,
    causal=False, bias=None, pattern=None, offsets=None, context_offsets=None,
    return_weights=False)``.
    ``x (B, Lq, E)``, ``context (B, Lk, kdim)`` (default ``x``; values come from
    ``value=`` if given, else from ``context``). Returns ``(B, Lq, E)``, and with
    ``return_weights`` also ``(B, H, Lq, Lk)`` weights (a list of ``(H, n, m)`` for packed
    input).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        kdim: int | None = None,
        vdim: int | None = None,
        head_dim: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        score: str = "dot",
        normalize: str = "softmax",
        kernel: str = "auto",
        position_bias: ScoreBias | None = None,
        rotary: nn.Module | None = None,
        pattern: Any = None,
    ) -> None:
        super().__init__()
        _check_pattern(pattern)
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim, num_heads: expected positive sizes, got "
                             f"{embed_dim} and {num_heads}")
        if head_dim is None:
            if embed_dim % num_heads:
                raise ValueError(f"num_heads: expected a divisor of embed_dim={embed_dim} "
                                 f"(or pass head_dim=), got {num_heads}")
            head_dim = embed_dim // num_heads
        if score not in ("dot", "additive"):
            raise ValueError(f"score: expected 'dot' or 'additive', got {score!r}")
        dropout = check_probability("dropout", dropout)
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.dropout, self.normalize, self.kernel = dropout, normalize, kernel
        inner = num_heads * head_dim
        self.same_dims = self.kdim == embed_dim and self.vdim == embed_dim
        if self.same_dims:
            # One (3 * inner, E) matrix: self-attention projects q, k, v in one matmul.
            self.in_proj = nn.Linear(embed_dim, 3 * inner, bias=bias)
        else:
            self.q_proj = nn.Linear(embed_dim, inner, bias=bias)
            self.k_proj = nn.Linear(self.kdim, inner, bias=bias)
            self.v_proj = nn.Linear(self.vdim, inner, bias=bias)
        self.out_proj = nn.Linear(inner, embed_dim, bias=bias)
        self.score = "dot"
        if score == "additive":
            from .scores import AdditiveScore

            self.score = AdditiveScore(head_dim, num_heads=num_heads)
        self.position_bias = position_bias
        self.rotary = rotary
        self.pattern = pattern
        self._reset()

    def _reset(self) -> None:
        for lin in [m for m in self.modules() if isinstance(m, nn.Linear)]:
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    # -- projections ------------------------------------------------------------------
    def _project(self, x: torch.Tensor, context: torch.Tensor | None,
                 value: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(..., L, E) inputs -> q, k, v of shape (..., L, inner)."""
        inner = self.num_heads * self.head_dim
        if self.same_dims:
            w, b = self.in_proj.weight, self.in_proj.bias
            if context is None and value is None:
                return F.linear(x, w, b).split(inner, dim=-1)
            bs = (None, None, None) if b is None else b.split(inner)
            ws = w.split(inner)
            context = x if context is None else context
            value = context if value is None else value
            q = F.linear(x, ws[0], bs[0])
            if value is context:
                k, v = F.linear(context, w[inner:], None if b is None else b[inner:]).split(
                    inner, dim=-1)
            else:
                k, v = F.linear(context, ws[1], bs[1]), F.linear(value, ws[2], bs[2])
            return q, k, v
        context = x if context is None else context
        value = context if value is None else value
        return self.q_proj(x), self.k_proj(context), self.v_proj(value)

    def _check_input(self, name: str, t: torch.Tensor, dim: int, packed: bool,
                     batch: int | None = None) -> None:
        check_vectors(name, t, dim, packed, dtype=self.out_proj.weight.dtype, batch=batch)

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
        key_lengths: torch.Tensor | None = None,
        causal: bool = False,
        bias: torch.Tensor | None = None,
        pattern: Any = None,
        offsets: torch.Tensor | None = None,
        context_offsets: torch.Tensor | None = None,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        packed = offsets is not None
        _check_pattern(pattern)
        pattern = self.pattern if pattern is None else pattern
        # only passed on when there is one, so subclasses' attend need not know patterns
        extra = {} if pattern is None else {"pattern": pattern}
        self._check_input("x", x, self.embed_dim, packed)
        if context is not None:
            self._check_input("context", context, self.kdim, packed, batch=x.shape[0])
        if value is not None:
            self._check_input("value", value, self.vdim, packed, batch=x.shape[0])
        if context is None and self.kdim != self.embed_dim:
            raise ValueError(f"context: required, since kdim={self.kdim} differs from "
                             f"embed_dim={self.embed_dim}")
        q, k, v = self._project(x, context, value)
        dropout_p = self.dropout if self.training else 0.0
        h, d = self.num_heads, self.head_dim
        if packed:
            for name, val in (("mask", mask), ("key_mask", key_mask),
                              ("key_lengths", key_lengths), ("bias", bias)):
                if val is not None:
                    raise ValueError(f"{name}: not used with packed input (offsets=): the offsets "
                                     "already say which vectors belong together")
            q, k, v = (t.view(t.shape[0], h, d) for t in (q, k, v))
            o, w = self.attend_packed(q, k, v, offsets, context_offsets, causal=causal,
                                      dropout_p=dropout_p, return_weights=return_weights, **extra)
            o = o.reshape(o.shape[0], h * d)
        else:
            if context_offsets is not None:
                raise ValueError("context_offsets: only with packed input (offsets=)")
            b, lq, lk = x.shape[0], q.shape[1], k.shape[1]
            q = q.view(b, lq, h, d).transpose(1, 2)
            k = k.view(b, lk, h, d).transpose(1, 2)
            v = v.view(b, lk, h, d).transpose(1, 2)
            o, w = self.attend(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                               causal=causal, bias=bias, dropout_p=dropout_p,
                               return_weights=return_weights, **extra)
            o = o.transpose(1, 2).reshape(b, lq, h * d)
        o = self.out_proj(o)
        return (o, w) if return_weights else o

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
        mask: torch.Tensor | None = None, key_mask: torch.Tensor | None = None,
        key_lengths: torch.Tensor | None = None, causal: bool = False,
        bias: torch.Tensor | None = None, dropout_p: float = 0.0, return_weights: bool = False,
        pattern: Any = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The attention step on heads: ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H,
        Lk, D)`` -> ``(B, H, Lq, D)`` and the weights (or None). Subclasses that change how
        heads attend (e.g. Shaw's relative positions) override this and ``attend_packed``;
        projections, checks and the output projection stay in ``forward``."""
        q, k = self._rotate(q, k)
        res = attention(
            q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths, causal=causal,
            bias=self._bias(bias), score=self.score, normalize=self.normalize,
            dropout_p=dropout_p, pattern=pattern, kernel=self.kernel, return_weights=return_weights)
        return res if return_weights else (res, None)

    def attend_packed(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offsets: torch.Tensor,
        context_offsets: torch.Tensor | None = None, *, causal: bool = False,
        dropout_p: float = 0.0, return_weights: bool = False, pattern: Any = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """The attention step on packed heads: ``q (Nq, H, D)``, ``k, v (Nk, H, D)`` with set
        ``offsets`` -> ``(Nq, H, D)`` and per-set weights (or None). A ``pattern`` applies
        inside each set (self-attention only)."""
        if self.rotary is not None:
            key_offs = offsets if context_offsets is None else context_offsets
            q = self.rotary(q.transpose(0, 1), packed_positions(offsets, q.shape[0])).transpose(0, 1)
            k = self.rotary(k.transpose(0, 1), packed_positions(key_offs, k.shape[0])).transpose(0, 1)
        if pattern is not None:
            return self._attend_packed_pattern(q, k, v, offsets, context_offsets, pattern, causal,
                                               dropout_p, return_weights)
        res = varlen_attention(
            q, k, v, offsets, context_offsets, causal=causal, bias=self.position_bias,
            score=self.score, normalize=self.normalize, dropout_p=dropout_p,
            kernel=self.kernel, return_weights=return_weights)
        return res if return_weights else (res, None)

    def _attend_packed_pattern(self, q, k, v, offsets, context_offsets, pattern, causal, dropout_p,
                               return_weights):
        from ..functional.sparse import pattern_varlen_attention

        if context_offsets is not None:
            raise ValueError("context_offsets: a pattern applies inside each set, so packed input with "
                             "a pattern is self-attention only; expected context_offsets=None")
        res = pattern_varlen_attention(q, k, v, offsets, pattern, causal=causal, dropout_p=dropout_p,
                                       bias=self.position_bias, score=self.score, normalize=self.normalize,
                                       return_weights=return_weights)
        return res if return_weights else (res, None)

    def _rotate(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE on padded heads, queries at ``i + Lk - Lq`` (lower-right aligned)."""
        if self.rotary is None:
            return q, k
        lq, lk = q.shape[2], k.shape[2]
        return (self.rotary(q, torch.arange(lq, device=q.device) + (lk - lq)),
                self.rotary(k, torch.arange(lk, device=k.device)))

    def _bias(self, bias: torch.Tensor | None) -> torch.Tensor | ScoreBias | None:
        """The call's bias plus the module's position bias (either may be absent)."""
        if self.position_bias is None or bias is None:
            return self.position_bias if bias is None else bias
        pb = self.position_bias.dense(bias.shape[-2], bias.shape[-1], device=bias.device)
        return (bias if bias.dim() == 4 else bias[None, None]) + pb.to(bias.dtype)[None]

    # -- migration --------------------------------------------------------------------
    @classmethod
    def from_torch(cls, m: nn.MultiheadAttention) -> MultiHeadAttention:
        """Build an equivalent module from a ``torch.nn.MultiheadAttention``.

        Ours is always batch-first. Mask conventions differ: torch's ``key_padding_mask``
        and boolean ``attn_mask`` mark what may *not* be attended (True = masked); ours mark
        what *may* be (pass ``key_mask=~key_padding_mask``, ``mask=~attn_mask``; a float
        ``attn_mask`` becomes ``bias=``). ``add_bias_kv`` and ``add_zero_attn`` have no
        counterpart and raise.
        """
        if not isinstance(m, nn.MultiheadAttention):
            raise TypeError(f"m: expected a torch.nn.MultiheadAttention, got {type(m).__name__}")
        if m.bias_k is not None or m.add_zero_attn:
            raise ValueError("m: add_bias_kv / add_zero_attn are not supported by "
                             "selfattn.nn.MultiHeadAttention")
        has_bias = m.in_proj_bias is not None
        ours = cls(m.embed_dim, m.num_heads, kdim=m.kdim, vdim=m.vdim, bias=has_bias,
                   dropout=m.dropout)
        ours = ours.to(device=m.out_proj.weight.device, dtype=m.out_proj.weight.dtype)
        with torch.no_grad():
            if m._qkv_same_embed_dim:
                ours.in_proj.weight.copy_(m.in_proj_weight)
                if has_bias:
                    ours.in_proj.bias.copy_(m.in_proj_bias)
            else:
                e = m.embed_dim
                for i, (lin, w) in enumerate(((ours.q_proj, m.q_proj_weight),
                                              (ours.k_proj, m.k_proj_weight),
                                              (ours.v_proj, m.v_proj_weight))):
                    lin.weight.copy_(w)
                    if has_bias:
                        lin.bias.copy_(m.in_proj_bias[i * e:(i + 1) * e])
            ours.out_proj.weight.copy_(m.out_proj.weight)
            if has_bias:
                ours.out_proj.bias.copy_(m.out_proj.bias)
        return ours


def _check_pattern(pattern: Any) -> None:
    if pattern is not None and not callable(getattr(pattern, "dense_mask", None)):
        raise TypeError(f"pattern: expected a selfattn.patterns pattern (with dense_mask), got "
                        f"{type(pattern).__name__}")


class SelfAttention(nn.Module):
    """One head of self-attention with exactly the lecture's three matrices.

    ``q_i = Wq a_i``, ``k_i = Wk a_i``, ``v_i = Wv a_i`` (no biases, no output projection);
    ``b_i = sum_j alpha'_{i,j} v_j``. Scores are scaled by ``1/sqrt(d_k)`` unless
    ``scale=`` (a finite number > 0) is given; ``scale=1.0`` is the slides' unscaled form.

    Args:
        in_dim: size of each input vector a_i.
        qk_dim: size of q and k.
        v_dim: size of v and of each output b_i (default ``qk_dim``).

    Forward: ``x (B, L, in_dim)`` -> ``(B, L, v_dim)``; same mask arguments as ``attention``.
    """

    def __init__(self, in_dim: int, qk_dim: int, v_dim: int | None = None, *,
                 normalize: str = "softmax", scale: float | None = None,
                 kernel: str = "auto") -> None:
        super().__init__()
        v_dim = v_dim or qk_dim
        if scale is not None:
            scale = check_finite_positive("scale", scale)
        self.Wq = nn.Parameter(torch.empty(qk_dim, in_dim))
        self.Wk = nn.Parameter(torch.empty(qk_dim, in_dim))
        self.Wv = nn.Parameter(torch.empty(v_dim, in_dim))
        for w in (self.Wq, self.Wk, self.Wv):
            nn.init.xavier_uniform_(w)
        self.in_dim, self.normalize, self.scale, self.kernel = in_dim, normalize, scale, kernel

    def forward(self, x: torch.Tensor, *, return_weights: bool = False, **masks: Any):
        check_vectors("x", x, self.in_dim, False, dtype=self.Wq.dtype)
        q = (x @ self.Wq.T)[:, None]
        k = (x @ self.Wk.T)[:, None]
        v = (x @ self.Wv.T)[:, None]
        res = attention(q, k, v, normalize=self.normalize, scale=self.scale,
                        kernel=self.kernel, return_weights=return_weights, **masks)
        if return_weights:
            return res[0][:, 0], res[1][:, 0]
        return res[:, 0]
