"""One attention call, checked and normalised: the four axes of DESIGN.md in one object.

``AttentionCall`` holds the query/key/value tensors and every option of an attention call
after validation (pattern: masks, causal, key padding, a sparse pattern; score: dot or a
callable, plus an additive bias; normalisation; scale and dropout). Kernels read it;
``dense_allowed`` and ``dense_bias`` give the dense forms that the reference and the
dense kernels need, built once and cached.

Mask convention everywhere: boolean, ``True`` = this query may attend to this key (as in
``torch.nn.functional.scaled_dot_product_attention``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .._checks import (
    check_dtype,
    check_finite_positive,
    check_ndim,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from ..varlen import lengths_to_mask
from .bias import ScoreBias
from .normalize import check_normalize

__all__ = ["AttentionCall", "causal_mask", "make_call"]

LAYOUT = "(batch, heads, length, head_dim)"


def causal_mask(lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
    """``(lq, lk)`` bool, lower-right aligned: query ``i`` may see key ``j`` iff
    ``j <= i + lk - lq``. For ``lq == lk`` this is the usual lower triangle; for a decoder
    step with a cache (``lq < lk``) each query sees every cached key and itself."""
    i = torch.arange(lq, device=device)[:, None]
    j = torch.arange(lk, device=device)[None, :]
    return j <= i + (lk - lq)


def _check_broadcast4(name: str, t: torch.Tensor, full: tuple[int, int, int, int]) -> None:
    """A mask or bias is 2-D ``(Lq, Lk)`` or 4-D with each axis equal to ``full`` or 1."""
    b, h, lq, lk = full
    if t.dim() == 2:
        if tuple(t.shape) != (lq, lk):
            raise ValueError(
                f"{name}: expected a 2-D tensor of shape ({lq}, {lk}) (query length, key "
                f"length), got shape {tuple(t.shape)}"
            )
        return
    if t.dim() != 4:
        raise ValueError(
            f"{name}: expected a 2-D (Lq, Lk) or 4-D (batch|1, heads|1, Lq, Lk) tensor, got "
            f"shape {tuple(t.shape)} (a 3-D mask is ambiguous between (batch, Lq, Lk) and "
            "(batch*heads, Lq, Lk); reshape it to 4-D)"
        )
    for axis, (got, want, what) in enumerate(
        zip(t.shape, full, ("batch", "heads", "query length", "key length"), strict=True)
    ):
        allowed = (want, 1) if axis < 2 else (want,)
        if got not in allowed:
            raise ValueError(
                f"{name}: expected size {' or '.join(map(str, allowed))} on axis {axis} "
                f"({what}), got shape {tuple(t.shape)} for a call of shape "
                f"(batch={b}, heads={h}, Lq={lq}, Lk={lk})"
            )


@dataclass
class AttentionCall:
    """A validated attention call. Build with ``make_call``; kernels only read it."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor | None = None  # bool, 2-D or 4-D
    key_mask: torch.Tensor | None = None  # bool (B, Lk), True = real key
    causal: bool = False
    bias: torch.Tensor | ScoreBias | None = None
    score: Any = "dot"  # "dot" or a callable (q, k) -> (B, H, Lq, Lk)
    normalize: str = "softmax"
    scale: float = 1.0
    dropout_p: float = 0.0
    pattern: Any = None
    need_weights: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(batch, heads, Lq, Lk)."""
        return (self.q.shape[0], self.q.shape[1], self.q.shape[2], self.k.shape[2])

    def dense_allowed(self) -> torch.Tensor | None:
        """Every mask combined: bool ``(B|1, H|1, Lq, Lk)``, or None if all pairs allowed."""
        if "allowed" in self._cache:
            return self._cache["allowed"]
        _, _, lq, lk = self.shape
        dev = self.q.device
        allowed = None

        def both(a: torch.Tensor | None, m: torch.Tensor) -> torch.Tensor:
            return m if a is None else a & m

        if self.mask is not None:
            allowed = self.mask if self.mask.dim() == 4 else self.mask[None, None]
        if self.causal:
            allowed = both(allowed, causal_mask(lq, lk, dev)[None, None])
        if self.pattern is not None:
            pm = self.pattern.dense_mask(lq, lk, device=dev)
            allowed = both(allowed, pm if pm.dim() == 4 else pm[None, None])
        if self.key_mask is not None:
            allowed = both(allowed, self.key_mask[:, None, None, :])
        self._cache["allowed"] = allowed
        return allowed

    def dense_bias(self) -> torch.Tensor | None:
        """The additive bias as a float tensor ``(B|1, H|1, Lq, Lk)`` or None."""
        if "bias" in self._cache:
            return self._cache["bias"]
        bias = self.bias
        if isinstance(bias, ScoreBias):
            _, _, lq, lk = self.shape
            bias = bias.dense(lq, lk, device=self.q.device).to(self.q.dtype)
            _check_broadcast4("bias", bias[None], self.shape)
            bias = bias[None]
        elif bias is not None and bias.dim() == 2:
            bias = bias[None, None]
        self._cache["bias"] = bias
        return bias


def make_call(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
    key_lengths: torch.Tensor | None = None,
    causal: bool = False,
    bias: torch.Tensor | ScoreBias | None = None,
    score: Any = "dot",
    normalize: str = "softmax",
    scale: float | None = None,
    dropout_p: float = 0.0,
    pattern: Any = None,
    need_weights: bool = False,
) -> AttentionCall:
    """Validate every argument of an attention call; see ``selfattn.functional.attention``."""
    check_ndim("q", q, 4, LAYOUT)
    check_ndim("k", k, 4, LAYOUT)
    check_ndim("v", v, 4, LAYOUT)
    check_dtype("q", q, "float")
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                      bias=bias if isinstance(bias, torch.Tensor) else None)
    b, h, lq, d = q.shape
    for name, t in (("k", k), ("v", v)):
        if t.shape[0] != b:
            raise ValueError(f"{name}: expected batch size {b} (from q) on axis 0, "
                             f"got shape {tuple(t.shape)}")
        if t.shape[1] != h:
            raise ValueError(f"{name}: expected {h} heads (from q) on axis 1, "
                             f"got shape {tuple(t.shape)}")
    if score == "dot" and k.shape[3] != d:
        raise ValueError(f"k: expected head_dim {d} (from q) on axis 3 for dot-product "
                         f"scores, got shape {tuple(k.shape)}")
    if v.shape[2] != k.shape[2]:
        raise ValueError(f"v: expected length {k.shape[2]} (the key length) on axis 2, "
                         f"got shape {tuple(v.shape)}")
    lk = k.shape[2]
    full = (b, h, lq, lk)
    if mask is not None:
        check_tensor("mask", mask)
        if mask.dtype != torch.bool:
            raise TypeError(
                f"mask: expected a torch.bool tensor (True = may attend), got {mask.dtype}; "
                "pass additive float scores as bias="
            )
        _check_broadcast4("mask", mask, full)
    if key_mask is not None and key_lengths is not None:
        raise ValueError("key_mask and key_lengths: give at most one of them")
    if key_lengths is not None:
        check_ndim("key_lengths", key_lengths, 1, "(batch,)")
        check_dtype("key_lengths", key_lengths, "integer")
        if key_lengths.shape[0] != b:
            raise ValueError(f"key_lengths: expected {b} entries (the batch size), "
                             f"got shape {tuple(key_lengths.shape)}")
        if b and (int(key_lengths.max()) > lk or int(key_lengths.min()) < 0):
            raise ValueError(f"key_lengths: expected values in [0, {lk}] (the key length), "
                             f"got {key_lengths.tolist()}")
        key_mask = lengths_to_mask(key_lengths, lk)
    if key_mask is not None:
        check_ndim("key_mask", key_mask, 2, "(batch, key_length)")
        check_dtype("key_mask", key_mask, "bool")
        if tuple(key_mask.shape) != (b, lk):
            raise ValueError(f"key_mask: expected shape ({b}, {lk}) (batch, key length), "
                             f"got {tuple(key_mask.shape)}")
    if bias is not None and not isinstance(bias, ScoreBias):
        check_tensor("bias", bias)
        check_dtype("bias", bias, "float")
        _check_broadcast4("bias", bias, full)
    if score != "dot" and not callable(score):
        raise ValueError(f"score: expected 'dot' or a callable (q, k) -> scores such as "
                         f"selfattn.nn.AdditiveScore, got {score!r}")
    check_normalize(normalize)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p: expected a probability in [0, 1), got {dropout_p}")
    if scale is None:
        scale = 1.0 / math.sqrt(d) if score == "dot" else 1.0
    scale = check_finite_positive("scale", scale)  # NaN was accepted and kernels disagreed
    return AttentionCall(
        q=q, k=k, v=v, mask=mask, key_mask=key_mask, causal=bool(causal), bias=bias,
        score=score, normalize=normalize, scale=scale, dropout_p=float(dropout_p),
        pattern=pattern, need_weights=need_weights,
    )
