"""Approximate attention variants with the call signature of full attention, by name.

One file per method, each a module built as ``Variant(embed_dim, num_heads, *,
dropout=0.0, bias=True, ...)`` and called exactly like ``selfattn.nn.MultiHeadAttention``
(``x (B, L, E)``, masks bool with ``True`` = may attend, ``key_mask (B, Lk)`` ``True`` = a
real key, or packed input with ``offsets``). An argument a method cannot honour raises
a ``ValueError`` naming the argument and the method. ``build_attention`` makes any of
them, or full attention, from a name, so a model swaps ``"performer"`` for ``"full"``.

=====================  ======  ====  =====  ======  =======  ==================
name                   causal  mask  bias   cross   weights  needs
=====================  ======  ====  =====  ======  =======  ==================
full                   yes     yes   yes    yes     yes
linformer              no      no    no     yes     (L, k)   max_len
performer              yes     no    no     yes     implied
linear                 yes     no    no     yes     implied
reformer               yes     yes   yes    no      yes
synthesizer_dense      yes     yes   yes    no      yes      max_len
synthesizer_random     yes     yes   yes    no      yes      max_len
sinkhorn               yes     no    no     no      implied  max_len
nystrom                no      no    no     no      implied
=====================  ======  ====  =====  ======  =======  ==================

Every variant supports key padding (``key_mask`` / ``key_lengths``) and packed input.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from ..attention import MultiHeadAttention
from ._base import VariantAttention
from .linear_transformer import LinearAttentionState, LinearTransformerAttention
from .linformer import LinformerAttention
from .nystrom import NystromAttention
from .performer import PerformerAttention
from .reformer import ReformerAttention
from .sinkhorn import SinkhornAttention
from .synthesizer import SynthesizerDenseAttention, SynthesizerRandomAttention

__all__ = [
    "ATTENTION_VARIANTS",
    "LinearAttentionState",
    "LinearTransformerAttention",
    "LinformerAttention",
    "NystromAttention",
    "PerformerAttention",
    "ReformerAttention",
    "SinkhornAttention",
    "SynthesizerDenseAttention",
    "SynthesizerRandomAttention",
    "VariantAttention",
    "attention_names",
    "build_attention",
    "needs_max_len",
]

#: name -> module class; "full" is exact softmax attention.
ATTENTION_VARIANTS: dict[str, type[nn.Module]] = {
    "full": MultiHeadAttention,
    "linformer": LinformerAttention,
    "performer": PerformerAttention,
    "linear": LinearTransformerAttention,
    "reformer": ReformerAttention,
    "synthesizer_dense": SynthesizerDenseAttention,
    "synthesizer_random": SynthesizerRandomAttention,
    "sinkhorn": SinkhornAttention,
    "nystrom": NystromAttention,
}

_ALIASES = {
    "mha": "full",
    "linear_transformer": "linear",
    "synthesizer": "synthesizer_dense",
    "nystromformer": "nystrom",
}


def attention_names() -> list[str]:
    """Every name ``build_attention`` accepts (canonical names, then aliases)."""
    return [*ATTENTION_VARIANTS, *_ALIASES]


def needs_max_len(name: str) -> bool:
    """Whether the variant called ``name`` sizes its parameters by the longest sequence
    (its constructor takes a required ``max_len``); unknown names give False."""
    key = _ALIASES.get(name.lower().replace("-", "_"), name.lower().replace("-", "_"))
    return key in ATTENTION_VARIANTS and _needs_max_len(ATTENTION_VARIANTS[key])


def build_attention(name: str, embed_dim: int, num_heads: int, **kwargs: Any) -> nn.Module:
    """The attention module called ``name``, built as ``cls(embed_dim, num_heads, **kwargs)``.

    ``"full"`` gives ``selfattn.nn.MultiHeadAttention``; the other names are in
    ``ATTENTION_VARIANTS`` (aliases: ``"mha"``, ``"linear_transformer"``,
    ``"synthesizer"``, ``"nystromformer"``). Method options (``max_len``, ``k``,
    ``num_features``, ``n_buckets``, ...) pass through ``kwargs``.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a string, got {type(name).__name__}")
    key = name.lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in ATTENTION_VARIANTS:
        raise ValueError(f"name: expected one of {', '.join(map(repr, attention_names()))}, "
                         f"got {name!r}")
    cls = ATTENTION_VARIANTS[key]
    if _needs_max_len(cls) and "max_len" not in kwargs:
        raise ValueError(f"max_len: required for {name!r} (its parameters are sized by the "
                         "longest sequence)")
    return cls(embed_dim, num_heads, **kwargs)


def _needs_max_len(cls: type) -> bool:
    p = inspect.signature(cls.__init__).parameters.get("max_len")
    return p is not None and p.default is inspect.Parameter.empty
