"""What every approximate attention variant shares: the call signature of full attention.

``VariantAttention`` is a ``MultiHeadAttention`` look-alike: the same constructor core
``(embed_dim, num_heads, *, dropout=0.0, bias=True, head_dim=None)`` and the same
``forward(x, context=None, *, value=None, mask=None, key_mask=None, key_lengths=None,
causal=False, bias=None, offsets=None, context_offsets=None, return_weights=False)``, so a
model swaps ``"performer"`` for ``"full"`` by name. It does what is common to every
method and leaves one thing to each subclass, ``_attend``:

* checks ``x (B, Lq, E)`` / ``context (B, Lk, E)`` and every mask with the core's
  ``make_call`` (masks are bool, ``True`` = may attend; ``key_lengths`` become a
  ``key_mask``), and raises a ``ValueError`` naming the argument and the method for any
  argument the method cannot honour (its ``supports`` table);
* projects ``q, k, v`` exactly as ``MultiHeadAttention`` does (one ``in_proj`` of shape
  ``(3 * H * head_dim, E)``) into ``(B, H, L, head_dim)``, and mixes the heads with
  ``out_proj`` afterwards;
* packed input (``x (N, E)`` with ``offsets (B + 1,)``) is padded, run with the key
  padding mask, and packed again, so each method is written once, for the padded form.

Subclasses see ``_attend(q, k, v, call, x) -> (out (B, H, Lq, Dv), weights | None)`` where
``call`` is the validated ``AttentionCall`` (``call.key_mask``: ``(B, Lk)`` bool or None)
and ``x`` the un-projected input (for methods that read it: Synthesizer, Sinkhorn).
A query with no key to attend to must get a zero output, never NaN.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..._checks import check_probability, check_vectors
from ...functional import make_call
from ...functional.call import AttentionCall
from ...functional.precision import upcast
from ...varlen import offsets_to_lengths, pack, pad

__all__ = ["VariantAttention", "attend_in_float32", "masked_softmax", "safe_divide"]


def attend_in_float32(attend: Callable) -> Callable:
    """``_attend`` for float16 inputs on float32 copies of ``q, k, v`` (and of a tensor bias),
    its output and weights rounded back to float16: for methods whose sums over keys leave
    float16's range (65504) or whose constants lie below its normal range (6e-5)."""

    @functools.wraps(attend)
    def wrapped(self, q, k, v, call: AttentionCall, x):
        if q.dtype != torch.float16:
            return attend(self, q, k, v, call, x)
        out, w = attend(self, q.float(), k.float(), v.float(), upcast(call), x)
        return out.to(q.dtype), (None if w is None else w.to(q.dtype))

    return wrapped

# Every argument a method may be unable to honour, with the words used in its error.
_ARGUMENTS = ("mask", "causal", "bias", "context", "dropout", "return_weights")


def safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with 0 where ``den == 0`` (a query without keys), gradient-safe."""
    ok = den != 0
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.zeros_like(num))


def masked_softmax(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis restricted to ``allowed`` (bool, broadcastable, ``True`` =
    may attend); a row without an allowed entry gets all zeros, never NaN.

    For finite scores (no ``-inf`` bias) it equals ``functional.normalize_scores`` with
    ``"softmax"`` but keeps only its output for backward (one ``(..., Lq, Lk)`` tensor
    instead of several), which is what the memory of the long-sequence variants needs.
    """
    if allowed is None:
        return torch.softmax(scores, -1)
    row_ok = allowed.any(-1, keepdim=True)
    # Rows without any allowed entry stay unmasked (a finite softmax) and are zeroed after.
    w = torch.softmax(scores.masked_fill(~allowed & row_ok, float("-inf")), -1)
    return w if bool(row_ok.all()) else w * row_ok


class VariantAttention(nn.Module):
    """Base class of the approximate attention modules (see the module docstring).

    Args:
        embed_dim: ``E``, the size of the input vectors and of the output.
        num_heads: ``H``; ``E`` must divide by it unless ``head_dim`` is given.
        dropout: dropout on the attention weights, in training mode only; methods that
            never form weights raise for ``dropout > 0`` instead of ignoring it.
        bias: biases in the input and output projections.
        head_dim: size per head (default ``E // H``).
    """

    #: The paper's name, used in every error message.
    method: ClassVar[str] = "variant"
    #: Which optional arguments the method honours; each ``False`` raises when used.
    supports: ClassVar[dict[str, bool]] = dict.fromkeys(_ARGUMENTS, False)
    #: Why an argument is not honoured, one line per argument (default: a generic line).
    reasons: ClassVar[dict[str, str]] = {}
    #: Whether the weights' last axis is the key axis (False: Linformer's k projected keys).
    weights_over_keys: ClassVar[bool] = True
    #: Whether ``in_proj`` makes q, k and v (3 parts) or a shared qk and v (2 parts).
    projections: ClassVar[int] = 3

    def __init__(self, embed_dim: int, num_heads: int, *, dropout: float = 0.0, bias: bool = True,
                 head_dim: int | None = None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim, num_heads: expected positive sizes, got "
                             f"{embed_dim} and {num_heads}")
        if head_dim is None:
            if embed_dim % num_heads:
                raise ValueError(f"num_heads: expected a divisor of embed_dim={embed_dim} "
                                 f"(or pass head_dim=), got {num_heads}")
            head_dim = embed_dim // num_heads
        dropout = check_probability("dropout", dropout)
        if dropout > 0 and not self.supports["dropout"]:
            raise ValueError(self._why("dropout", got=dropout))
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, head_dim
        self.dropout = dropout
        inner = num_heads * head_dim
        self.in_proj = nn.Linear(embed_dim, self.projections * inner, bias=bias)
        self.out_proj = nn.Linear(inner, embed_dim, bias=bias)
        for lin in (self.in_proj, self.out_proj):
            nn.init.xavier_uniform_(lin.weight)
            if lin.bias is not None:
                nn.init.zeros_(lin.bias)

    # -- errors -----------------------------------------------------------------------
    def _why(self, argument: str, got: Any = None) -> str:
        default = {
            "mask": "it never forms the (Lq, Lk) score matrix, so an arbitrary mask cannot be "
                    "applied; use key_mask= / key_lengths= for padding",
            "causal": "its formulation has no causal (autoregressive) form",
            "bias": "it never forms the (Lq, Lk) score matrix, so an additive bias cannot be added",
            "context": "it is defined for self-attention only (no cross-attention)",
            "dropout": "it never forms attention weights, so there is nothing to drop; "
                       "expected 0.0 (put dropout after the attention layer instead)",
            "return_weights": "it has no attention weights to return",
        }[argument]
        reason = self.reasons.get(argument, default)
        shown = "" if got is None else f" (got {got!r})"
        return f"{argument}: not supported by {self.method}{shown}: {reason}"

    def _refuse(self, argument: str, used: bool) -> None:
        if used and not self.supports[argument]:
            raise ValueError(self._why(argument))

    # -- projections ------------------------------------------------------------------
    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, L, H * D) -> (B, H, L, D)."""
        b, l, _ = t.shape
        return t.view(b, l, self.num_heads, self.head_dim).transpose(1, 2)

    def _project(self, x: torch.Tensor, context: torch.Tensor | None, value: torch.Tensor | None):
        """q, k, v as ``(B, H, L, head_dim)``; the same weights layout as MultiHeadAttention."""
        inner = self.num_heads * self.head_dim
        w, b = self.in_proj.weight, self.in_proj.bias
        if context is None and value is None:
            parts = F.linear(x, w, b).split(inner, dim=-1)
            return tuple(self._heads(p) for p in parts)
        ws = w.split(inner)
        bs = (None,) * self.projections if b is None else b.split(inner)
        context = x if context is None else context
        value = context if value is None else value
        q = F.linear(x, ws[0], bs[0])
        k = F.linear(context, ws[1], bs[1])
        v = F.linear(value, ws[2], bs[2])
        return self._heads(q), self._heads(k), self._heads(v)

    def _check_input(self, name: str, t: torch.Tensor, packed: bool, batch: int | None = None) -> None:
        check_vectors(name, t, self.embed_dim, packed, dtype=self.out_proj.weight.dtype, batch=batch)

    # -- forward ----------------------------------------------------------------------
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
        offsets: torch.Tensor | None = None,
        context_offsets: torch.Tensor | None = None,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        """``x (B, Lq, E)`` -> ``(B, Lq, E)`` (and weights with ``return_weights``).

        Same arguments as ``MultiHeadAttention.forward``; masks are bool, ``True`` = may
        attend; ``key_mask (B, Lk)`` ``True`` = a real key. Arguments the method cannot
        honour raise a ``ValueError`` that names the argument and the method.
        """
        packed = offsets is not None
        self._check_input("x", x, packed)
        for name, t in (("context", context), ("value", value)):
            if t is not None:
                self._check_input(name, t, packed, batch=x.shape[0])
        self._refuse("context", context is not None or value is not None)
        self._refuse("causal", bool(causal))
        self._refuse("mask", mask is not None)
        self._refuse("bias", bias is not None)
        self._refuse("return_weights", return_weights)
        if packed:
            return self._forward_packed(x, context, value, offsets, context_offsets, causal,
                                        mask, key_mask, key_lengths, bias, return_weights)
        if context_offsets is not None:
            raise ValueError("context_offsets: only with packed input (offsets=)")
        if context is not None and value is not None and value.shape[:2] != context.shape[:2]:
            raise ValueError(f"value: expected batch and length {tuple(context.shape[:2])} "
                             f"(those of context), got shape {tuple(value.shape)}")
        if context is None and value is not None and value.shape[:2] != x.shape[:2]:
            raise ValueError(f"value: expected batch and length {tuple(x.shape[:2])} "
                             f"(those of x), got shape {tuple(value.shape)}")
        q, k, v = self._project(x, context, value)
        call = make_call(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                         causal=causal, bias=bias, need_weights=return_weights)
        out, w = self._attend(q, k, v, call, x)
        b, h, lq, d = out.shape
        out = self.out_proj(out.transpose(1, 2).reshape(b, lq, h * d))
        return (out, w) if return_weights else out

    def _forward_packed(self, x, context, value, offsets, context_offsets, causal, mask,
                        key_mask, key_lengths, bias, return_weights):
        for name, val in (("mask", mask), ("key_mask", key_mask), ("key_lengths", key_lengths),
                          ("bias", bias)):
            if val is not None:
                raise ValueError(f"{name}: not used with packed input (offsets=): the offsets "
                                 "already say which vectors belong together")
        xp, qmask = pad(x, offsets)
        key_offsets = offsets if context_offsets is None else context_offsets
        cp = None if context is None else pad(context, key_offsets)[0]
        vp = None if value is None else pad(value, key_offsets)[0]
        klen = offsets_to_lengths(key_offsets)
        if klen.numel() != xp.shape[0]:
            raise ValueError(f"context_offsets: expected {xp.shape[0] + 1} entries (as offsets), "
                             f"got {klen.numel() + 1}")
        res = self.forward(xp, cp, value=vp, key_lengths=klen, causal=causal,
                           return_weights=return_weights)
        out, w = res if return_weights else (res, None)
        packed_out = pack(out, mask=qmask)[0]
        if not return_weights:
            return packed_out
        qlen = offsets_to_lengths(offsets).tolist()
        kl = klen.tolist()
        # Weights over keys are cut to each set's keys; a fixed-size last axis (Linformer's
        # k projected keys) is kept whole.
        ws = [w[i, :, :n, :m] if self.weights_over_keys else w[i, :, :n]
              for i, (n, m) in enumerate(zip(qlen, kl, strict=True))]
        return packed_out, ws

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, call: AttentionCall,
                x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H, Lk, Dv)``, the validated
        ``call`` and the un-projected input ``x (B, Lq, E)`` -> ``(B, H, Lq, Dv)``, weights."""
        raise NotImplementedError

    def _drop(self, w: torch.Tensor) -> torch.Tensor:
        """Dropout on weights, in training mode only."""
        return F.dropout(w, self.dropout) if (self.training and self.dropout > 0) else w

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"
