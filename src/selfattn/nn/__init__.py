"""Modules: self-attention, multi-head attention, additive scores and encoder stacks.

Shapes are batch-first ``(batch, length, dim)``; masks are bool with ``True`` = may attend.
"""

from .attention import MultiHeadAttention, SelfAttention
from .attention2d import SelfAttention2d
from .encoder import Encoder, EncoderLayer, make_attention
from .positioned_encoder import PositionedEncoder
from .scores import AdditiveScore
from .shaw_attention import ShawMultiHeadAttention
from .variants import (
    ATTENTION_VARIANTS,
    LinearAttentionState,
    LinearTransformerAttention,
    LinformerAttention,
    NystromAttention,
    PerformerAttention,
    ReformerAttention,
    SinkhornAttention,
    SynthesizerDenseAttention,
    SynthesizerRandomAttention,
    attention_names,
    build_attention,
)

__all__ = [
    "ATTENTION_VARIANTS", "AdditiveScore", "Encoder", "EncoderLayer", "LinearAttentionState",
    "LinearTransformerAttention", "LinformerAttention", "MultiHeadAttention", "NystromAttention",
    "PerformerAttention", "PositionedEncoder", "ReformerAttention", "SelfAttention", "SelfAttention2d",
    "ShawMultiHeadAttention", "SinkhornAttention",
    "SynthesizerDenseAttention", "SynthesizerRandomAttention", "attention_names", "build_attention",
    "make_attention",
]
