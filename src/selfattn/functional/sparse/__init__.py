"""Exact sparse attention kernels: windows, block-sparse patterns, 2-D neighbourhoods, graphs.

Importing this package registers four kernels with ``selfattn.functional.attention``'s
dispatcher, ahead of the dense ones (``import selfattn.patterns`` imports it):

* ``window``: ``WindowPattern`` (blocked band tiles, ``window.py``);
* ``block_sparse``: Longformer, BigBird, block layouts, Sparse Transformer (``blocks.py``);
* ``neighborhood2d``: ``Neighborhood2DPattern`` (``grid.py``);
* ``graph``: ``GraphPattern`` (CSR products + segment softmax, ``graph.py``).

Each takes only its patterns, and its ``unsupported`` reason also says when dense
attention with the pattern's mask is faster (small or dense inputs; ``select.py``), so
``attention(..., pattern=p)`` runs the fastest exact kernel and ``choose_kernel`` says
why. ``sparse_attention`` runs the pattern's sparse kernel whatever the size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..call import AttentionCall, make_call
from ..dispatch import Kernel, register_kernel
from .blocks import block_parts, block_sparse_exact_reason, block_sparse_kernel
from .graph import graph_attention, graph_exact_reason, graph_kernel, segment_softmax
from .grid import grid_parts, neighborhood_exact_reason, neighborhood_kernel
from .packed import packed_inputs
from .select import speed_reason
from .tiles import TileContext, TilePart, run_tiles
from .varlen import pattern_varlen_attention
from .window import window_attention, window_exact_reason, window_kernel, window_parts

__all__ = [
    "SPARSE_KERNELS",
    "TileContext",
    "TilePart",
    "block_parts",
    "graph_attention",
    "grid_parts",
    "packed_inputs",
    "pattern_varlen_attention",
    "run_tiles",
    "segment_softmax",
    "sparse_attention",
    "window_attention",
    "window_parts",
]

Run = Callable[[AttentionCall], tuple[torch.Tensor, torch.Tensor | None]]


@dataclass(frozen=True)
class SparseKernel:
    name: str
    run: Run
    exact_reason: Callable[[AttentionCall], str | None]
    description: str

    def unsupported(self, call: AttentionCall) -> str | None:
        why = self.exact_reason(call)
        if why is None and (min(call.shape) == 0 or call.q.shape[-1] == 0):
            why = "an empty input (a zero-size axis): the dense kernels handle it"
        return why

    def slower(self, call: AttentionCall) -> str | None:
        """Auto mode only: below the measured crossover a dense kernel is faster."""
        return speed_reason(self.name, call)


SPARSE_KERNELS = (
    SparseKernel("window", window_kernel, window_exact_reason,
                 "blocked sliding-window tiles, O(L * width)"),
    SparseKernel("block_sparse", block_sparse_kernel, block_sparse_exact_reason,
                 "tiles over the blocks of a block-sparse pattern"),
    SparseKernel("neighborhood2d", neighborhood_kernel, neighborhood_exact_reason,
                 "tiles of grid cells over their neighbourhood regions"),
    SparseKernel("graph", graph_kernel, graph_exact_reason,
                 "sparse products along the edges + segment softmax, O(E)"),
)

for _k in SPARSE_KERNELS:
    register_kernel(Kernel(_k.name, _k.run, _k.unsupported, _k.description, slower=_k.slower),
                    before="sdpa")


def sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pattern: Any, *,
                     return_weights: bool = False, **options: Any
                     ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``attention(q, k, v, pattern=pattern, ...)`` on the pattern's sparse kernel, whatever
    the size (``attention`` itself prefers dense kernels where they are faster). Same
    arguments and shapes as ``selfattn.functional.attention``; weights are dense
    ``(B, H, Lq, Lk)``."""
    call = make_call(q, k, v, pattern=pattern, need_weights=return_weights, **options)
    reasons = {}
    for kern in SPARSE_KERNELS:
        why = kern.exact_reason(call)
        if why is None:
            break
        reasons[kern.name] = why
    else:
        raise ValueError(f"pattern: no sparse kernel computes {pattern!r}: {reasons}")
    if min(call.shape) == 0 or call.q.shape[-1] == 0:
        b, h, lq, lk = call.shape
        anchor = (q.sum() + k.sum() + v.sum()) * 0  # keeps zero gradients flowing
        out = q.new_zeros(b, h, lq, v.shape[-1]) + anchor
        weights = q.new_zeros(b, h, lq, lk) + anchor
    else:
        out, weights = kern.run(call)
    return (out, weights) if return_weights else out
