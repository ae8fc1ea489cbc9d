"""Task heads: what is read off the encoder's output vectors for each kind of task.

The lecture's three output cases [5-8] for an input set of ``n`` vectors:

* **each vector has a label** (POS tagging, per-frame speaker, per-node class):
  ``VectorHead`` maps every output vector ``(B, L, d)`` to ``(B, L, k)`` scores;
* **the whole set has one label** (sentiment, speaker, molecule property): ``SetHead``
  pools the ``n`` vectors into one ``(B, d)`` vector (``mean`` over the real vectors,
  the ``first`` vector, e.g. a [CLS] token, or ``attention`` pooling: one learned query
  attending over the set) and maps it to ``(B, k)``; ``k = 1`` with a float target is
  regression;
* **the model decides the number of labels** (translation): ``selfattn.nn.seq2seq``.

Masks are bool, ``True`` = a real vector (padding is ``False``), as everywhere in selfattn.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_ndim
from ..functional import attention

__all__ = ["POOLINGS", "AttentionPooling", "SetHead", "VectorHead", "pool"]

POOLINGS = ("mean", "first", "attention", "max")


def _check_mask(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """A ``(B, L)`` bool mask for ``x (B, L, d)`` (all True when ``mask`` is None)."""
    check_ndim("x", x, 3, "(batch, length, dim)")
    if mask is None:
        return torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(f"mask: expected a bool tensor of shape {tuple(x.shape[:2])} (True = "
                         f"real vector), got {mask.dtype} {tuple(mask.shape)}")
    return mask


def pool(x: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """``(B, L, d)`` -> ``(B, d)`` by ``mean`` / ``max`` over real vectors or the ``first``.

    An empty set pools to zeros (never NaN).
    """
    mask = _check_mask(x, mask)
    if how == "first":
        return x[:, 0] * mask[:, :1].to(x.dtype)
    if how == "mean":
        m = mask.to(x.dtype)[..., None]
        return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
    if how == "max":
        filled = x.masked_fill(~mask[..., None], float("-inf")).amax(1)
        return torch.where(mask.any(1, keepdim=True), filled, torch.zeros_like(filled))
    raise ValueError(f"how: expected one of {POOLINGS[:2] + POOLINGS[3:]}, got {how!r}")


class AttentionPooling(nn.Module):
    """One learned query per head attends over the set: ``o = sum_j softmax(q . k_j) v_j``.

    ``x (B, L, d)`` with ``mask (B, L)`` -> ``(B, d)``; with ``return_weights`` also the
    ``(B, H, L)`` pooling weights (which vectors the set label was read from).
    """

    def __init__(self, dim: int, num_heads: int = 1) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"num_heads: expected a divisor of dim={dim}, got {num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.query = nn.Parameter(torch.randn(num_heads, 1, self.head_dim) * self.head_dim ** -0.5)
        self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                return_weights: bool = False):
        mask = _check_mask(x, mask)
        b, length, d = x.shape
        k, v = self.kv(x).view(b, length, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q = self.query[None].expand(b, -1, -1, -1)
        o, w = attention(q, k, v, key_mask=mask, return_weights=True)
        o = self.out(o.reshape(b, d))
        return (o, w[:, :, 0]) if return_weights else o


class VectorHead(nn.Module):
    """Per-vector output: ``(B, L, d)`` (or packed ``(N, d)``) -> ``(..., num_outputs)``.

    ``hidden > 0`` puts one GELU layer of that width before the output layer.
    """

    def __init__(self, dim: int, num_outputs: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if num_outputs < 1:
            raise ValueError(f"num_outputs: expected >= 1, got {num_outputs}")
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or dim, num_outputs))
        self.net = nn.Sequential(*layers)
        self.num_outputs = num_outputs

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x)


class SetHead(nn.Module):
    """One output per set: pool the vectors, then ``(B, d)`` -> ``(B, num_outputs)``.

    Args:
        dim: width of the encoder's output vectors.
        num_outputs: classes (classification) or 1 (regression; squeeze it yourself).
        pooling: ``"mean"``, ``"first"`` (vector 0, e.g. a [CLS] token), ``"attention"``
            (learned query) or ``"max"``.
        hidden: width of a GELU layer after pooling (0 = none).
    """

    def __init__(self, dim: int, num_outputs: int, pooling: str = "mean", hidden: int = 0,
                 dropout: float = 0.0, pool_heads: int = 1) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {list(POOLINGS)}, got {pooling!r}")
        self.pooling = pooling
        self.attn_pool = AttentionPooling(dim, pool_heads) if pooling == "attention" else None
        self.out = VectorHead(dim, num_outputs, hidden, dropout)

    def pooled(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The ``(B, d)`` set vectors."""
        if self.attn_pool is not None:
            return self.attn_pool(x, mask)
        return pool(x, mask, self.pooling)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.pooled(x, mask))
