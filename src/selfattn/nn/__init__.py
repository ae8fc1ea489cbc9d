"""Modules: self-attention, multi-head attention, additive scores and encoder stacks.

Shapes are batch-first ``(batch, length, dim)``; masks are bool with ``True`` = may attend.
"""

from .attention import MultiHeadAttention, SelfAttention
from .encoder import Encoder, EncoderLayer, make_attention
from .scores import AdditiveScore

__all__ = [
    "AdditiveScore", "Encoder", "EncoderLayer", "MultiHeadAttention", "SelfAttention", "make_attention",
]
