"""Shaw relative positions: the learned tables of one attention layer.

``ShawRelativePositions`` holds the two learned ``(2K + 1, D)`` tables ``a^K`` and ``a^V``
(one row per clipped relative distance ``-K .. K``). The attention module that uses them,
``selfattn.nn.ShawMultiHeadAttention``, lives with the other modules in ``selfattn.nn``
(``attention_module(mha)`` builds one once ``selfattn.nn`` is imported).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .base import PositionalScheme

__all__ = ["ShawRelativePositions"]


class ShawRelativePositions(nn.Module, PositionalScheme):
    """The learned relative key and value vectors of one attention layer.

    Args:
        head_dim: ``D`` of the keys (and of the values unless ``value_dim`` is given).
        max_distance: ``K``; distances beyond ``+-K`` share the end rows (the paper's clip).
        init_std: both tables start as ``N(0, init_std^2)``.
    """

    name: ClassVar[str] = "shaw"
    where: ClassVar[str] = "attention"

    def __init__(self, head_dim: int, max_distance: int = 16, value_dim: int | None = None,
                 init_std: float = 0.1) -> None:
        super().__init__()
        if head_dim < 1:
            raise ValueError(f"head_dim: expected at least 1, got {head_dim}")
        if max_distance < 1:
            raise ValueError(f"max_distance: expected at least 1, got {max_distance}")
        self.head_dim, self.max_distance = head_dim, max_distance
        rows = 2 * max_distance + 1
        self.keys = nn.Parameter(torch.randn(rows, head_dim) * init_std)
        self.values = nn.Parameter(torch.randn(rows, value_dim or head_dim) * init_std)

    def attention_kwargs(self, num_heads: int, head_dim: int) -> dict[str, Any]:
        if head_dim != self.head_dim:
            raise ValueError(f"head_dim: these Shaw tables have rows of size {self.head_dim}, "
                             f"the attention's heads have size {head_dim}")
        return {}

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, max_distance={self.max_distance}"
