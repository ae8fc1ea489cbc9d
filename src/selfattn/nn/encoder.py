"""Transformer encoder layers: self-attention alternated with a per-vector network [13].

The lecture stacks self-attention layers and fully-connected layers: each
``EncoderLayer`` is multi-head self-attention followed by a position-wise feed-forward
network, each wrapped in a residual connection and a layer norm, either before the
sub-layer (``norm_first=True``, pre-norm, stable for deep stacks) or after it (post-norm,
the original Transformer). ``Encoder`` stacks ``num_layers`` of them.

Shapes: ``x (B, L, d_model)`` with masks as in ``attention``, or packed ``x (N, d_model)``
with ``offsets (B + 1,)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .._checks import check_probability
from .attention import MultiHeadAttention

__all__ = ["Encoder", "EncoderLayer", "make_attention"]

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def make_attention(attention: str | Callable[..., nn.Module], d_model: int, num_heads: int,
                   **kwargs: Any) -> nn.Module:
    """An attention module by name (``"full"`` or a variant) or from a factory callable."""
    if callable(attention):
        return attention(d_model, num_heads, **kwargs)
    if attention in ("full", "mha"):
        return MultiHeadAttention(d_model, num_heads, **kwargs)
    from .variants import build_attention  # imported here: variants import this package

    return build_attention(attention, d_model, num_heads, **kwargs)


class EncoderLayer(nn.Module):
    """Self-attention + feed-forward, each with a residual and a layer norm.

    Args:
        d_model: width of the vectors. num_heads: attention heads.
        dim_feedforward: hidden width of the feed-forward network (default ``4 * d_model``).
        dropout: after each sub-layer and inside the feed-forward; also on the attention
            weights unless ``attention_dropout`` is given (variants that never form weights,
            such as Performer, need ``attention_dropout=0``).
        activation: ``"gelu"`` or ``"relu"``.
        norm_first: pre-norm (True) or post-norm (False).
        attention: ``"full"`` (``MultiHeadAttention``), the name of an efficient variant
            (``selfattn.nn.variants.attention_names()``), or a callable
            ``(d_model, num_heads, dropout=..., **attention_kwargs) -> module`` (any class with
            ``MultiHeadAttention``'s call signature).
        **attention_kwargs: passed to the attention module (``normalize``, ``kernel``,
            ``score``, ``position_bias``, ``rotary``, a variant's options, ...).
    """

    def __init__(self, d_model: int, num_heads: int, dim_feedforward: int | None = None,
                 dropout: float = 0.1, activation: str = "gelu", norm_first: bool = True,
                 attention: str | Callable[..., nn.Module] = "full",
                 attention_dropout: float | None = None, **attention_kwargs: Any) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(_ACTIVATIONS)}, "
                             f"got {activation!r}")
        dropout = check_probability("dropout", dropout)
        if attention_dropout is not None:
            attention_dropout = check_probability("attention_dropout", attention_dropout)
        dim_feedforward = dim_feedforward or 4 * d_model
        self.self_attn = make_attention(
            attention, d_model, num_heads,
            dropout=dropout if attention_dropout is None else attention_dropout, **attention_kwargs)
        self.ff = nn.Sequential(
            nn.Linear(d_model, dim_feedforward), _ACTIVATIONS[activation](), nn.Dropout(dropout),
            nn.Linear(dim_feedforward, d_model),
        )
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        self.norm_first = norm_first

    def _attend(self, x: torch.Tensor, return_weights: bool, kw: dict):
        res = self.self_attn(x, return_weights=return_weights, **kw)
        return res if return_weights else (res, None)

    def forward(self, x: torch.Tensor, *, return_weights: bool = False, **attn: Any):
        """``attn``: ``mask``, ``key_mask``, ``key_lengths``, ``causal``, ``bias``, ``offsets``."""
        if self.norm_first:
            a, w = self._attend(self.norm1(x), return_weights, attn)
            x = x + self.drop1(a)
            x = x + self.drop2(self.ff(self.norm2(x)))
        else:
            a, w = self._attend(x, return_weights, attn)
            x = self.norm1(x + self.drop1(a))
            x = self.norm2(x + self.drop2(self.ff(x)))
        return (x, w) if return_weights else x


class Encoder(nn.Module):
    """``num_layers`` copies of an ``EncoderLayer`` (a final norm after pre-norm stacks).

    Forward returns ``(B, L, d_model)`` (or ``(N, d_model)`` packed) and, with
    ``return_weights=True``, also the list of each layer's weights.
    """

    def __init__(self, layer: EncoderLayer, num_layers: int) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers: expected at least 1, got {num_layers}")
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        d_model = layer.norm1.normalized_shape[0]
        self.norm = nn.LayerNorm(d_model) if layer.norm_first else nn.Identity()

    def forward(self, x: torch.Tensor, *, return_weights: bool = False, packed: bool = False, **attn: Any):
        """``packed=True`` with padded ``x (B, L, d)`` and a padding ``key_mask`` (real vectors
        first): the padding is removed once, every layer runs on the ``(N, d)`` real vectors
        (attention per set through ``varlen_attention``) and the result is padded once at the
        end, zeros at padded slots; the same values on real vectors as ``packed=False``."""
        if packed:
            if x.dim() != 3 or set(attn) != {"key_mask"} or return_weights:
                raise ValueError(f"packed: expected padded x (batch, length, d) with key_mask= only and no "
                                 f"return_weights, got x of shape {tuple(x.shape)} and {sorted(attn)}")
            from ..varlen import pack, pad

            values, offsets = pack(x, mask=attn["key_mask"])
            out, _ = pad(self(values, offsets=offsets), offsets, max_len=x.shape[1])
            return out
        x, weights = run_layers(self.layers, x, return_weights, **attn)
        x = self.norm(x)
        return (x, weights) if return_weights else x


def run_layers(layers: nn.ModuleList, x: torch.Tensor, return_weights: bool = False,
               **attn: Any) -> tuple[torch.Tensor, list]:
    """Every layer in turn on ``x`` with the same attention arguments; also each layer's
    attention weights when ``return_weights`` (else an empty list)."""
    weights = []
    for layer in layers:
        if return_weights:
            x, w = layer(x, return_weights=True, **attn)
            weights.append(w)
        else:
            x = layer(x, **attn)
    return x, weights
