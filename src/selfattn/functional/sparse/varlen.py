"""Sparse patterns on packed variable-length sets: ``values (N, H, D)`` + ``offsets (B + 1,)``.

The pattern applies inside each set, with positions restarting at 0 in every set. The route
is a ``functools.singledispatch`` on the pattern's type (``packed_route``):

* ``WindowPattern``: one pass over all ``N`` rows (``window_attention(..., offsets=)``);
  pairs across sets are masked, so no padding is ever built.
* ``GraphPattern``: the packed batch of graphs *is* one graph (PyG ``Batch``): its
  ``edge_index`` is global; edges must stay inside their set.
* every other pattern (the default route; block-sparse and 2-D patterns depend on the
  set's length: global blocks at the end, random blocks, the grid): sets of equal length
  are batched together and each batch goes through ``attention`` (which picks the sparse
  or a dense kernel by size).
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

import torch

from ...patterns.graph import GraphPattern
from ...patterns.window import WindowPattern
from ...varlen import segment_ids
from ..dispatch import attention
from .graph import graph_attention
from .packed import packed_inputs
from .window import window_attention

__all__ = ["packed_route", "pattern_varlen_attention"]

Packed = torch.Tensor | tuple[torch.Tensor, Any]


def pattern_varlen_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    offsets: torch.Tensor,
    pattern: Any,
    *,
    return_weights: bool = False,
    **options: Any,
) -> torch.Tensor | tuple[torch.Tensor, Any]:
    """Attention with ``pattern`` inside each packed set.

    Args:
        q, k, v: ``(N, H, D)``, ``(N, H, D)``, ``(N, H, Dv)``: all sets concatenated.
        offsets: ``(B + 1,)`` int64 set boundaries (``selfattn.varlen``).
        pattern: any pattern of ``selfattn.patterns``; block-sparse and grid patterns see
            each set as a sequence of its own length (a grid pattern needs every set to
            have ``height * width`` vectors).
        return_weights: also return weights: band form ``(N, H, width)`` for a window,
            ``(E, H)`` per edge for a graph, else one ``(H, n_b, n_b)`` tensor per set.
        options: ``bias`` (a ``ScoreBias``), ``score``, ``normalize``, ``scale``,
            ``dropout_p``, ``causal``, ``kernel`` (grouped patterns only), as in ``attention``.

    Returns:
        ``(N, H, Dv)``, and the weights if asked.
    """
    return packed_route(pattern, q, k, v, offsets, return_weights=return_weights, **options)


@singledispatch
def packed_route(pattern: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                 offsets: torch.Tensor, *, return_weights: bool = False, **options: Any) -> Packed:
    """Default: sets of equal length batched together through ``attention`` (any pattern)."""
    packed_inputs(q, k, v, offsets, options)  # validates shapes, offsets and options
    lengths = (offsets[1:] - offsets[:-1]).tolist()
    out = q.new_zeros(q.shape[0], q.shape[1], v.shape[2])
    weights: list[torch.Tensor | None] = [None] * len(lengths)
    by_length: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_length.setdefault(n, []).append(i)
    for n, sets in by_length.items():
        if n == 0:
            for s in sets:
                weights[s] = q.new_zeros(q.shape[1], 0, 0)
            continue
        starts = offsets[sets]
        rows = starts[:, None] + torch.arange(n, device=q.device)[None, :]  # (G, n)
        res = attention(q[rows].transpose(1, 2), k[rows].transpose(1, 2), v[rows].transpose(1, 2),
                        pattern=pattern, return_weights=return_weights, **options)
        o, w = res if return_weights else (res, None)
        out = out.index_put((rows.reshape(-1),), o.transpose(1, 2).reshape(-1, o.shape[1], o.shape[-1]))
        if w is not None:
            for g, s in enumerate(sets):
                weights[s] = w[g]
    return (out, weights) if return_weights else out


@packed_route.register
def _window(pattern: WindowPattern, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
            offsets: torch.Tensor, *, return_weights: bool = False, **options: Any) -> Packed:
    """One pass over all rows (the band never needs more than its own set)."""
    options.pop("kernel", None)
    return window_attention(q, k, v, pattern, offsets=offsets, return_weights=return_weights, **options)


@packed_route.register
def _graph(pattern: GraphPattern, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           offsets: torch.Tensor, *, return_weights: bool = False, **options: Any) -> Packed:
    """The packed batch of graphs is one graph; its edges must stay inside their sets."""
    packed_inputs(q, k, v, offsets, options)
    seg = segment_ids(offsets, q.shape[0])
    ei = pattern.edge_index.to(seg.device)
    cross = seg[ei[0]] != seg[ei[1]]
    if bool(cross.any()):
        e = int(torch.nonzero(cross)[0, 0])
        raise ValueError(f"edge_index: edge {e} ({int(ei[0, e])} -> {int(ei[1, e])}) joins two "
                         "different sets of offsets; packed graphs never share edges")
    for name in ("causal", "kernel"):
        if options.pop(name, None):
            raise ValueError(f"{name}: not supported for packed graphs")
    return graph_attention(q, k, v, pattern, return_weights=return_weights, **options)
