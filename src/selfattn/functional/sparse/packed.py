"""Packed variable-length input for the sparse kernels: one long sequence, pairs across sets masked.

Packed sets are ``(N, H, D)`` values with ``offsets (B + 1,)`` (see ``selfattn.varlen``). A
window, graph or tile kernel runs on them as one sequence of ``N`` rows (batch 1): the
kernel masks every pair whose rows lie in different sets, and a ``ScoreBias`` sees each
row's position inside its own set. No padding is ever materialised.
"""

from __future__ import annotations

from typing import Any

import torch

from ..._checks import check_ndim, check_same_device, check_same_dtype
from ...varlen import check_offsets, positions, segment_ids
from ..bias import ScoreBias

__all__ = ["packed_inputs"]


def packed_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offsets: torch.Tensor,
                  options: dict[str, Any]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Check packed ``q, k, v (N, H, *)`` and ``offsets``; return them as ``(1, H, N, *)``
    plus the set of each row ``(N,)`` and its position inside the set ``(N,)``."""
    check_ndim("q", q, 3, "(total, heads, head_dim) with offsets=")
    check_ndim("k", k, 3, "(total, heads, head_dim) with offsets=")
    check_ndim("v", v, 3, "(total, heads, value_dim) with offsets=")
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v, offsets=offsets)
    check_offsets(offsets, q.shape[0], "offsets")
    for name, t in (("k", k), ("v", v)):
        if t.shape[0] != q.shape[0]:
            raise ValueError(f"{name}: expected {q.shape[0]} rows (packed self-attention: the same "
                             f"sets as q), got shape {tuple(t.shape)}")
    for name in ("mask", "key_mask", "key_lengths"):
        if options.get(name) is not None:
            raise ValueError(f"{name}: not used with packed input (offsets=): the offsets already "
                             "say which vectors belong together")
    bias = options.get("bias")
    if bias is not None and not isinstance(bias, ScoreBias):
        raise TypeError(f"bias: packed attention takes a ScoreBias (positions restart in every "
                        f"set), got {type(bias).__name__}")
    n = q.shape[0]
    seg = segment_ids(offsets, n)
    pos = positions(offsets, n)
    return (q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None], seg, pos)
