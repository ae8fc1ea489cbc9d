"""The LRA classifier: token embedding + learned positions + encoder layers + mean pool.

LRA (Tay et al. 2021, Section 2) compares attention methods inside one fixed model, an
encoder with pooling and a classifier, changing only the attention. Each layer here is
pre-norm: ``x + attn(norm(x))`` then ``x + ff(norm(x))``, with the attention built by
name from ``selfattn.nn.variants.build_attention`` (``"full"`` = MultiHeadAttention).
Padding (token id 0 after the batch is padded) is passed as ``key_lengths``; the pooled
vector is the mean over real positions only.

Shapes: ``ids (B, L)`` int64, ``lengths (B,)`` -> logits ``(B, num_classes)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...nn.variants import build_attention

__all__ = ["LRAClassifier", "attention_options"]


def attention_options(name: str, max_len: int) -> dict[str, Any]:
    """Method options sized for sequences up to ``max_len`` (the usual choices, small)."""
    return {
        "linformer": {"max_len": max_len, "k": min(64, max_len)},
        "performer": {"num_features": 64},
        "reformer": {"n_buckets": max(2, 2 * ((max_len // 32) // 2)), "n_hashes": 2, "chunk_size": 32},
        "synthesizer_dense": {"max_len": max_len},
        "synthesizer_random": {"max_len": max_len},
        "sinkhorn": {"max_len": max_len, "block_size": 32},
        "nystrom": {"num_landmarks": 32},
    }.get(name, {})


class _Layer(nn.Module):
    def __init__(self, d_model: int, heads: int, attention: str, max_len: int, dropout: float,
                 attention_kwargs: dict[str, Any]) -> None:
        super().__init__()
        kw = {**attention_options(attention, max_len), **attention_kwargs}
        self.attn = build_attention(attention, d_model, heads, **kw)
        self.ff = nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.GELU(), nn.Dropout(dropout),
                                nn.Linear(2 * d_model, d_model))
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.norm1(x), key_lengths=lengths))
        return x + self.drop(self.ff(self.norm2(x)))


class LRAClassifier(nn.Module):
    """Encoder classifier whose attention is chosen by name.

    Args:
        vocab_size, num_classes: token ids ``[0, vocab_size)`` (0 may be padding), classes.
        attention: a name for ``build_attention`` (``"full"``, ``"performer"``, ...).
        max_len: longest sequence (positions; sizes Linformer / Synthesizer / Sinkhorn).
        d_model, heads, layers, dropout: model size (dropout outside the attention).
        attention_kwargs: overrides of ``attention_options``.
    """

    def __init__(self, vocab_size: int, num_classes: int, *, attention: str = "full",
                 max_len: int = 1024, d_model: int = 64, heads: int = 4, layers: int = 2,
                 dropout: float = 0.1, attention_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        self.layers = nn.ModuleList(
            _Layer(d_model, heads, attention, max_len, dropout, attention_kwargs or {})
            for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)
        self.max_len = max_len

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"ids: expected a 2-D tensor (batch, length), got shape {tuple(ids.shape)}")
        if ids.shape[1] > self.max_len:
            raise ValueError(f"ids: expected a length of at most max_len={self.max_len}, "
                             f"got {ids.shape[1]}")
        x = self.embed(ids) + self.pos[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x, lengths)
        x = self.norm(x)
        real = (torch.arange(ids.shape[1], device=ids.device)[None] < lengths[:, None]).to(x.dtype)
        pooled = (x * real[..., None]).sum(1) / real.sum(1, keepdim=True).clamp_min(1)
        return self.head(pooled)
