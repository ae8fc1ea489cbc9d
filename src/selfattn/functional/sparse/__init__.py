"""Exact sparse attention kernels: windows, block-sparse patterns, 2-D neighbourhoods, graphs.

A pattern names the kernel that computes it (``pattern.kernel``); a planner registered for
its type (``functools.singledispatch``) turns it into work for one of two engines:

* **tiles** (``tile_plan.plan_tiles`` -> ``tiles.py``, fused path ``tiles_flash.py``): the
  ``window``, ``block_sparse`` and ``neighborhood2d`` kernels; planners in ``window.py``,
  ``blocks.py``, ``grid.py``;
* **edges** (``graph.plan_edges`` -> ``graph.py``: CSR products + segment softmax): the
  ``graph`` kernel.

``KERNELS`` below is the one list of sparse kernels; importing ``selfattn.functional``
registers them with the dispatcher ahead of the dense ones. A kernel takes a call when the
pattern names it and its engine has a planner for the pattern's type; in auto mode it
also waits for the pattern's measured crossover (``select.py``), so ``attention(...,
pattern=p)`` runs the fastest exact kernel and ``choose_kernel`` says why.
``sparse_attention`` runs the pattern's sparse kernel whatever the size.

The tile engine's two paths are kernels too (``"tiles_fused"``, ``"tiles_explicit"``:
``tiles.TILE_PATHS``): ``auto`` never picks them (the pattern's kernel chooses the path),
but ``kernel=`` can name them to force one, e.g. to test both against the oracle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..call import AttentionCall, make_call
from ..dispatch import Kernel, register_kernel
from . import blocks as _blocks  # noqa: F401  (registers the block-sparse planners)
from . import grid as _grid  # noqa: F401  (registers the 2-D neighbourhood planner)
from . import tile_sizes
from .blocks import block_parts
from .graph import edge_kernel, graph_attention, has_edge_plan, plan_edges, segment_softmax
from .grid import grid_parts
from .packed import packed_inputs
from .select import speed_reason
from .tile_plan import TileContext, TilePart, clear_plan_cache, has_tile_plan, plan_tiles, tile_parts
from .tiles import EXPLICIT, FUSED, TILE_PATHS, TilePath, run_tiles, tile_kernel, tile_path
from .varlen import pattern_varlen_attention
from .window import window_attention, window_parts

__all__ = [
    "EXPLICIT",
    "FUSED",
    "KERNELS",
    "TILE_PATHS",
    "SparseKernel",
    "TileContext",
    "TilePart",
    "TilePath",
    "block_parts",
    "clear_plan_cache",
    "graph_attention",
    "grid_parts",
    "packed_inputs",
    "pattern_varlen_attention",
    "plan_edges",
    "plan_tiles",
    "run_tiles",
    "segment_softmax",
    "sparse_attention",
    "sparse_kernel_for",
    "tile_parts",
    "tile_path",
    "tile_sizes",
    "window_attention",
    "window_parts",
]

Run = Callable[[AttentionCall], tuple[torch.Tensor, torch.Tensor | None]]
ENGINES: dict[str, tuple[Run, Callable[[object], bool]]] = {
    "tiles": (tile_kernel, has_tile_plan),
    "edges": (edge_kernel, has_edge_plan),
}


@dataclass(frozen=True)
class SparseKernel:
    name: str
    engine: str
    description: str

    def exact_reason(self, call: AttentionCall) -> str | None:
        pattern = call.pattern
        if pattern is None or getattr(pattern, "kernel", None) != self.name:
            return f"the pattern is not one the {self.name!r} kernel computes" if pattern is not None \
                else "no sparse pattern"
        if not ENGINES[self.engine][1](pattern):
            return f"no {self.engine} planner is registered for {type(pattern).__name__}"
        pattern.check_lengths(call.shape[2], call.shape[3])  # wrong lengths are an error, not a reason
        return None

    def unsupported(self, call: AttentionCall) -> str | None:
        why = self.exact_reason(call)
        if why is None and (min(call.shape) == 0 or call.q.shape[-1] == 0):
            why = "an empty input (a zero-size axis): the dense kernels handle it"
        return why

    def run(self, call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
        return ENGINES[self.engine][0](call)


KERNELS = (
    SparseKernel("window", "tiles", "blocked sliding-window tiles, O(L * width)"),
    SparseKernel("block_sparse", "tiles", "tiles over the blocks (or gathered key lists) of the pattern"),
    SparseKernel("neighborhood2d", "tiles", "tiles of grid cells over their neighbourhood regions"),
    SparseKernel("graph", "edges", "sparse products along the edges + segment softmax, O(E)"),
)

for _k in KERNELS:
    register_kernel(Kernel(_k.name, _k.run, _k.unsupported, _k.description,
                           slower=speed_reason), before="sdpa")


def _path_kernel(path: TilePath) -> Kernel:
    """A tile path as a kernel of its own, so that ``kernel="tiles_explicit"`` (or
    ``"tiles_fused"``) forces it on any pattern with a tile plan; ``auto`` never picks it
    (the pattern's own kernel already chooses the path)."""

    def unsupported(call: AttentionCall) -> str | None:
        pattern = call.pattern
        if pattern is None or not has_tile_plan(pattern):
            return "no sparse pattern with a tile planner"
        pattern.check_lengths(call.shape[2], call.shape[3])  # wrong lengths are an error
        if min(call.shape) == 0 or call.q.shape[-1] == 0:
            return "an empty input (a zero-size axis): the dense kernels handle it"
        return path.unsupported(call)

    def slower(call: AttentionCall) -> str:
        return (f"the {path.name!r} tile path runs only when named; the pattern's own kernel picks "
                "the fused or explicit path")

    return Kernel(path.name, lambda call: tile_kernel(call, path), unsupported, path.description,
                  slower=slower)


for _p in (FUSED, EXPLICIT):
    register_kernel(_path_kernel(_p), before="sdpa")


def sparse_kernel_for(pattern: Any) -> SparseKernel:
    """The sparse kernel that computes ``pattern``."""
    for kern in KERNELS:
        if kern.name == getattr(pattern, "kernel", None):
            return kern
    raise ValueError(f"pattern: no sparse kernel computes {pattern!r} (its kernel: "
                     f"{getattr(pattern, 'kernel', None)!r}; sparse kernels: {[k.name for k in KERNELS]})")


def sparse_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pattern: Any, *,
                     return_weights: bool = False, kernel: str | None = None, **options: Any
                     ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``attention(q, k, v, pattern=pattern, ...)`` on the pattern's sparse kernel, whatever
    the size (``attention`` itself prefers dense kernels where they are faster). Same
    arguments and shapes as ``selfattn.functional.attention``; weights are dense
    ``(B, H, Lq, Lk)``. ``kernel``: None (the pattern's kernel), or for a tile pattern
    ``"tiles_fused"`` / ``"tiles_explicit"`` to force one tile path."""
    call = make_call(q, k, v, pattern=pattern, need_weights=return_weights, **options)
    kern = sparse_kernel_for(pattern)
    why = kern.exact_reason(call)
    if why is not None:
        raise ValueError(f"pattern: the {kern.name!r} kernel cannot compute {pattern!r}: {why}")
    path = None
    if kernel is not None and kernel != kern.name:
        if kern.engine != "tiles" or kernel not in TILE_PATHS:
            names = [kern.name, *(TILE_PATHS if kern.engine == "tiles" else ())]
            raise ValueError(f"kernel: expected None or one of {names} for {pattern!r}, got {kernel!r}")
        path = TILE_PATHS[kernel]
        why = path.unsupported(call)
        if why is not None:
            raise ValueError(f"kernel: {kernel!r} cannot compute this call exactly: {why}")
    if min(call.shape) == 0 or call.q.shape[-1] == 0:
        b, h, lq, lk = call.shape
        anchor = (q.sum() + k.sum() + v.sum()) * 0  # keeps zero gradients flowing
        out = q.new_zeros(b, h, lq, v.shape[-1]) + anchor
        weights = q.new_zeros(b, h, lq, lk) + anchor
    else:
        out, weights = kern.run(call) if path is None else tile_kernel(call, path)
    return (out, weights) if return_weights else out
