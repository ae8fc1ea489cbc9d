"""PyTorch Geometric interop: PyG ``Data``/``Batch`` in, PyG ``Batch`` out.

A PyG graph is the lecture's set of vectors with edges: ``Data.x`` ``(n, *feature)`` is the
set, ``Data.edge_index`` ``(2, E)`` (source row, target row) and ``Data.edge_attr``
``(E, *edge_feature)`` are its edges, so one graph maps onto one :class:`VectorSet` with
nothing recomputed:

* :func:`from_pyg` ``Data -> VectorSet`` (``x``, ``y``, ``edge_index``, ``edge_attr``;
  other attributes such as ``pos`` or ``train_mask`` are not carried);
* :func:`~selfattn.data.collate` accepts a list of ``Data`` or a whole PyG ``Batch``
  and converts through :func:`from_pyg`;
* :func:`~selfattn.data.collate.to_pyg` ``VectorSet -> Data`` and ``selfattn Batch -> PyG Batch`` (``x``
  ``(N, *feature)`` packed, ``batch`` ``(N,)``, ``ptr`` ``(B + 1,)`` = our ``offsets``,
  ``edge_index`` in the packed numbering), equal to ``Batch.from_data_list`` of the sets.

Graph-level labels follow PyG's convention: a per-graph ``y`` is stored with a leading
dimension of 1 (``(1,)`` or ``(1, k)``) so that batching concatenates it to ``(B, ...)``;
``from_pyg(..., labels="set")`` drops that dimension and ``to_pyg`` puts it back.

``torch_geometric`` is imported only here, only when these are called (it is optional).
"""

from __future__ import annotations

import sys
from typing import Any

import torch

from .sets import VectorSet

__all__ = ["from_pyg", "is_pyg", "set_to_data"]


def _pyg_data_class():
    """PyG's ``Data`` class if torch_geometric is imported (an object can be PyG's only then)."""
    module = sys.modules.get("torch_geometric.data")
    return None if module is None else module.Data


def is_pyg(obj: Any) -> bool:
    """True for a PyG ``Data`` or ``Batch`` (checked without importing torch_geometric)."""
    data_class = _pyg_data_class()
    return data_class is not None and isinstance(obj, data_class)


def is_pyg_batch(obj: Any) -> bool:
    module = sys.modules.get("torch_geometric.data")
    return module is not None and isinstance(obj, module.Batch)


def from_pyg(data: Any, labels: str = "none", source: str = "") -> VectorSet:
    """One PyG ``Data`` -> :class:`VectorSet` (``x``, ``y``, ``edge_index``, ``edge_attr``).

    Args:
        data: a ``torch_geometric.data.Data`` with ``x`` ``(n, *feature)``.
        labels: how ``y`` will be collated; ``"set"`` drops PyG's leading per-graph
            dimension of 1 (``(1,)`` -> ``()``, ``(1, k)`` -> ``(k,)``).
        source: named in error messages (``collate`` passes ``examples[i]``).
    """
    where = source or "data"
    if not is_pyg(data):
        raise TypeError(f"{where}: expected a torch_geometric Data, got {type(data).__name__}")
    x = data.x
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{where}.x: expected node features (num_nodes, *feature), got "
                         f"{type(x).__name__} (give the graph an x; identity features: torch.eye(num_nodes))")
    y = data.y if isinstance(data.y, torch.Tensor) else None
    if y is not None and labels == "set" and y.dim() >= 1 and y.shape[0] == 1:
        y = y[0]
    return VectorSet(x=x, y=y, edge_index=data.edge_index, edge_attr=data.edge_attr, source=source)


def set_to_data(x: torch.Tensor, y: torch.Tensor | None, edge_index: torch.Tensor | None,
                 edge_attr: torch.Tensor | None, set_label: bool):
    """One set's tensors -> PyG ``Data`` (a per-set ``y`` gets PyG's leading dimension of 1)."""
    from torch_geometric.data import Data

    kwargs: dict[str, Any] = {"x": x}
    if edge_index is not None:
        kwargs["edge_index"] = edge_index
    if edge_attr is not None:
        kwargs["edge_attr"] = edge_attr
    if y is not None:
        kwargs["y"] = y.unsqueeze(0) if set_label else y
    return Data(**kwargs, num_nodes=x.shape[0])
