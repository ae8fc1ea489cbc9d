"""``PositionedEncoder``: an ``Encoder`` with any positional scheme of ``selfattn.positional`` wired in.

The one place that knows where each scheme goes: an encoding added to the inputs is
applied once, before the first layer (``a_i + e_i``, the lecture's picture); a scheme
inside attention is given to every layer's ``MultiHeadAttention`` (``position_bias=``,
``rotary=``, or Shaw's attention module), each layer with its own copy of any learned
parameters (T5 biases, Shaw tables), as in the papers.

Shapes: ``x (B, L, d_model)`` with ``key_lengths (B,)`` / ``key_mask`` / ``mask``, or
packed ``x (N, d_model)`` with ``offsets (B + 1,)``; returns the same shape. Masks: bool,
``True`` = may attend.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ..positional.base import AbsoluteEncoding
from ..positional.registry import build_positional
from .encoder import Encoder, EncoderLayer

__all__ = ["PositionedEncoder"]


class PositionedEncoder(nn.Module):
    """Positions + ``num_layers`` encoder layers.

    Args:
        positional: a scheme name (see ``build_positional``) or a built scheme.
        d_model, num_heads, num_layers: sizes of the encoder.
        positional_options: options for ``build_positional`` when ``positional`` is a name.
        **layer_kwargs: passed to ``EncoderLayer`` (``dropout``, ``kernel``, ...).

    Forward: ``enc(x, *, offsets=None, key_lengths=None, key_mask=None, mask=None,
    causal=False, return_weights=False)``; ``key_lengths`` also tells an input encoding
    which slots are padding.
    """

    def __init__(self, positional: str | nn.Module, d_model: int, num_heads: int, num_layers: int,
                 positional_options: dict[str, Any] | None = None, **layer_kwargs: Any) -> None:
        super().__init__()
        if isinstance(positional, str):
            positional = build_positional(positional, d_model=d_model, num_heads=num_heads,
                                          **(positional_options or {}))
        elif positional_options:
            raise ValueError("positional_options: only with a scheme name, not a built scheme")
        where = getattr(positional, "where", None)
        if where not in ("inputs", "attention"):
            raise TypeError(f"positional: expected a scheme from selfattn.positional, got "
                            f"{type(positional).__name__}")
        head_dim = layer_kwargs.get("head_dim") or d_model // num_heads
        extra = positional.attention_kwargs(num_heads, head_dim)
        clash = sorted(set(extra) & set(layer_kwargs))
        if clash:
            raise ValueError(f"layer_kwargs: {clash} are set by the {positional.name!r} scheme")
        self.scheme = positional.name
        self.where = where
        self.encoder = Encoder(EncoderLayer(d_model, num_heads, **layer_kwargs, **extra), num_layers)
        if where == "attention":
            for layer in self.encoder.layers:
                layer.self_attn = copy.deepcopy(positional).attention_module(layer.self_attn)
        if where == "inputs" and (not isinstance(positional, AbsoluteEncoding)
                                  or positional.dim != d_model):
            raise ValueError(f"positional: expected an encoding of width d_model={d_model}, "
                                 f"got {positional!r}")
        self.inputs = positional if where == "inputs" else None

    def forward(self, x: torch.Tensor, *, offsets: torch.Tensor | None = None,
                key_lengths: torch.Tensor | None = None, key_mask: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, causal: bool = False,
                return_weights: bool = False):
        if self.inputs is not None:
            x = self.inputs(x, offsets, lengths=key_lengths)
        attn = {k: v for k, v in (("offsets", offsets), ("key_lengths", key_lengths),
                                  ("key_mask", key_mask), ("mask", mask)) if v is not None}
        return self.encoder(x, causal=causal, return_weights=return_weights, **attn)
