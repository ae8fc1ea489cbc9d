"""A word's vector from its characters: embed, convolve, max-pool over the characters.

The lecture turns each word into a vector before attention sees it (one-hot, or a learned
embedding). A word never seen in training has no learned vector of its own; its spelling
still says much ("-ly", "un-", a capital, digits). ``CharWordEncoder`` reads the spelling:

    e_c = E[c]                                  (each character id -> a ``char_dim`` vector)
    g_t = W * [e_(t-k//2), ..., e_(t+k//2)] + b (a 1-D convolution of width ``k`` over the word)
    v   = max_t g_t                             (over the word's real characters only)

Shapes: ``chars (B, L, C)`` int64 character ids (0 = padding, after the word's last
character; a padded word slot is all zeros) -> ``(B, L, dim)``; a slot with no characters
gives a zero vector. The slow, obvious twin is ``char_word_vectors_loop`` (one word at a
time), which the tests compare against.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["CharWordEncoder", "char_word_vectors_loop"]


class CharWordEncoder(nn.Module):
    """``chars (B, L, C)`` character ids -> ``(B, L, dim)`` word vectors (module doc)."""

    def __init__(self, num_chars: int, dim: int, char_dim: int = 32, kernel: int = 3) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel: expected an odd width >= 1 (centred), got {kernel}")
        self.embed = nn.Embedding(num_chars, char_dim, padding_idx=0)
        self.conv = nn.Conv1d(char_dim, dim, kernel, padding=kernel // 2)
        self.dim = dim

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        if chars.dim() != 3 or chars.is_floating_point():
            raise ValueError(f"chars: expected int ids (B, L, C), got {chars.dtype} {tuple(chars.shape)}")
        b, n, c = chars.shape
        flat = chars.reshape(b * n, c)
        real = flat > 0
        e = self.embed(flat).masked_fill(~real[..., None], 0.0)  # padding adds nothing to a neighbour
        g = self.conv(e.transpose(1, 2)).transpose(1, 2)  # (B*L, C, dim)
        g = g.masked_fill(~real[..., None], float("-inf"))
        v = g.amax(1)
        v = torch.where(real.any(1, keepdim=True), v, torch.zeros_like(v))  # no characters: zeros
        return v.reshape(b, n, self.dim)


def char_word_vectors_loop(encoder: CharWordEncoder, chars: torch.Tensor) -> torch.Tensor:
    """The twin: each word alone, its characters cut out, convolved with zero padding, and
    the maximum taken over its positions (zeros for a word without characters)."""
    b, n, _ = chars.shape
    out = torch.zeros(b, n, encoder.dim, dtype=encoder.conv.weight.dtype)
    k = encoder.conv.kernel_size[0]
    for i in range(b):
        for j in range(n):
            ids = chars[i, j][chars[i, j] > 0]
            if len(ids) == 0:
                continue
            e = encoder.embed.weight[ids]  # (m, char_dim)
            e = torch.cat([e.new_zeros(k // 2, e.shape[1]), e, e.new_zeros(k // 2, e.shape[1])])
            rows = [torch.einsum("ck,kc->", encoder.conv.weight[o], e[t:t + k])
                    for t in range(len(ids)) for o in range(encoder.dim)]
            g = torch.stack(rows).reshape(len(ids), encoder.dim) + encoder.conv.bias
            out[i, j] = g.max(0).values
    return out
