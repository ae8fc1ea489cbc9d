"""Batching variable-length sets: one ``collate`` for every modality, in either layout.

``B`` sets of lengths ``n_b`` become one :class:`Batch` in one of the core's two forms
(see :mod:`selfattn.varlen`):

* ``layout="padded"``: ``x`` ``(B, L, *feature)`` with ``L = max n_b`` and ``mask``
  ``(B, L)`` bool, ``True`` = a real vector (the same "True = present / may attend"
  convention as every mask in selfattn);
* ``layout="packed"``: ``x`` ``(N, *feature)``, ``N = sum n_b``, set after set.

Both layouts also carry ``offsets`` ``(B + 1,)`` int64 and ``lengths`` ``(B,)``.

Labels (``labels=``):

* ``"set"``: one label per set, ``y`` ``(B, *label)`` stacked;
* ``"vector"``: one label per vector; padded: ``y`` ``(B, L, *label)`` with padded slots
  set to ``label_pad`` (default ``-100``, the ``ignore_index`` of ``cross_entropy``) and
  ``mask`` telling them apart; packed: ``y`` ``(N, *label)`` aligned with ``x``;
* ``"sequence"``: a target sequence of its own length ``m_b`` (translation); padded: ``y``
  ``(B, M)`` + ``y_mask``; packed: ``y`` ``(sum m_b,)`` + ``y_offsets`` ``(B + 1,)``;
* ``"none"``: labels, if present, are ignored.

Graph edges are renumbered into the batch's flat node numbering, PyG style: packed, node
``i`` of set ``b`` is row ``offsets[b] + i`` of ``x``; padded, it is row ``b * L + i`` of
``x.reshape(B * L, ...)``. ``edge_batch`` ``(E,)`` says which set each edge belongs to.
Images carry ``grids`` ``(B, 2)`` (height, width) per set.

PyTorch Geometric: ``examples`` may also be a list of PyG ``Data`` or one PyG ``Batch``
(each graph read by :func:`selfattn.data.pyg.from_pyg`), and :func:`to_pyg` turns a
:class:`Batch` back into the PyG ``Batch`` of the same graphs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch

from ..varlen import lengths_to_offsets, pad
from .pyg import from_pyg, is_pyg, is_pyg_batch, set_to_data
from .sets import VectorSet

__all__ = ["Batch", "Collate", "collate", "to_pyg"]

Layout = Literal["padded", "packed"]
LabelKind = Literal["set", "vector", "sequence", "none"]


@dataclass
class Batch:
    """A batch of sets; which fields are set depends on the layout and labels (module doc).

    ``labels`` records the kind ``y`` was collated as (``"set"``, ``"vector"``,
    ``"sequence"`` or ``"none"``), so :func:`to_pyg` can split it back per set.
    """

    layout: str
    x: torch.Tensor
    offsets: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor | None = None
    y: torch.Tensor | None = None
    y_mask: torch.Tensor | None = None
    y_offsets: torch.Tensor | None = None
    edge_index: torch.Tensor | None = None
    edge_attr: torch.Tensor | None = None
    edge_batch: torch.Tensor | None = None
    grids: torch.Tensor | None = None
    labels: str = "none"

    def __len__(self) -> int:
        return int(self.lengths.numel())

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """Every tensor moved to ``device``."""
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                value = value.to(device, non_blocking=non_blocking)
            moved[f.name] = value
        return Batch(**moved)


def _pad_values(items: list[torch.Tensor], value: float) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([t.shape[0] for t in items], dtype=torch.long)
    return pad(torch.cat(items), lengths_to_offsets(lengths), padding_value=value)


def collate(
    examples: Sequence[VectorSet] | Any,
    layout: Layout = "padded",
    labels: LabelKind = "none",
    label_pad: float = -100,
    padding_value: float = 0.0,
) -> Batch:
    """Stack ``B`` :class:`VectorSet` into one :class:`Batch` (shapes in the module doc).

    Args:
        examples: the sets; all ``x`` must share dtype and feature shape. PyG ``Data``
            graphs (or one PyG ``Batch``) are accepted too (module doc).
        layout: ``"padded"`` (``x`` ``(B, L, *f)`` + ``mask``) or ``"packed"`` (``x`` ``(N, *f)``).
        labels: ``"set"``, ``"vector"``, ``"sequence"`` or ``"none"``.
        label_pad: written into padded label slots (padded layout).
        padding_value: written into padded slots of ``x``.
    """
    if layout not in ("padded", "packed"):
        raise ValueError(f"layout: expected 'padded' or 'packed', got {layout!r}")
    if labels not in ("set", "vector", "sequence", "none"):
        raise ValueError(f"labels: expected 'set', 'vector', 'sequence' or 'none', got {labels!r}")
    if is_pyg_batch(examples):
        examples = examples.to_data_list()
    if len(examples) == 0:
        raise ValueError("examples: expected at least one set, got an empty list")
    examples = [from_pyg(e, labels, f"examples[{i}]") if is_pyg(e) else e for i, e in enumerate(examples)]
    for i, e in enumerate(examples):
        if not isinstance(e, VectorSet):
            raise TypeError(f"examples[{i}]: expected a VectorSet or a torch_geometric Data, "
                            f"got {type(e).__name__}")
    first = examples[0].x
    for i, e in enumerate(examples):
        if e.x.dtype != first.dtype or e.x.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"examples[{i}].x: expected dtype {first.dtype} and feature shape "
                f"{tuple(first.shape[1:])} (those of examples[0]), got {e.x.dtype} "
                f"{tuple(e.x.shape[1:])}"
            )
    xs = [e.x for e in examples]
    lengths = torch.tensor([t.shape[0] for t in xs], dtype=torch.long)
    offsets = lengths_to_offsets(lengths)
    if layout == "padded":
        x, mask = pad(torch.cat(xs), offsets, padding_value=padding_value)
    else:
        x, mask = torch.cat(xs), None
    batch = Batch(layout=layout, x=x, offsets=offsets, lengths=lengths, mask=mask, labels=labels)
    if labels != "none":
        _collate_labels(batch, examples, labels, label_pad)
    if any(e.edge_index is not None for e in examples):
        _collate_edges(batch, examples)
    if any(e.grid is not None for e in examples):
        missing = [i for i, e in enumerate(examples) if e.grid is None]
        if missing:
            raise ValueError(f"examples[{missing[0]}].grid: expected a (height, width) like the "
                             "other sets of the batch, got None")
        batch.grids = torch.tensor([e.grid for e in examples], dtype=torch.long)
    return batch


def _collate_labels(batch: Batch, examples: Sequence[VectorSet], kind: str, label_pad: float):
    ys = []
    for i, e in enumerate(examples):
        if e.y is None:
            raise ValueError(f"examples[{i}].y: labels={kind!r} needs a label on every set, got None")
        ys.append(e.y)
    if kind == "set":
        shapes = {tuple(y.shape) for y in ys}
        if len(shapes) != 1:
            raise ValueError(f"y: labels='set' needs one label shape for every set, got {shapes}")
        batch.y = torch.stack(ys)
        return
    if kind == "vector":
        for i, (e, y) in enumerate(zip(examples, ys, strict=True)):
            if y.dim() == 0 or y.shape[0] != len(e):
                raise ValueError(
                    f"examples[{i}].y: labels='vector' needs one label per vector, shape "
                    f"({len(e)}, ...), got {tuple(y.shape)}"
                )
        if batch.layout == "packed":
            batch.y = torch.cat(ys)
        else:
            batch.y, _ = _pad_values(ys, label_pad)
        return
    for i, y in enumerate(ys):
        if y.dim() == 0:
            raise ValueError(f"examples[{i}].y: labels='sequence' needs a (m,) sequence, got a scalar")
    target_lengths = torch.tensor([y.shape[0] for y in ys], dtype=torch.long)
    if batch.layout == "packed":
        batch.y, batch.y_offsets = torch.cat(ys), lengths_to_offsets(target_lengths)
    else:
        batch.y, batch.y_mask = _pad_values(ys, label_pad)


def _collate_edges(batch: Batch, examples: Sequence[VectorSet]) -> None:
    width = batch.x.shape[1] if batch.layout == "padded" else None
    parts, attrs, owners = [], [], []
    for b, e in enumerate(examples):
        if e.edge_index is None:
            raise ValueError(f"examples[{b}].edge_index: the batch has graphs, this set has none "
                             "(give an empty (2, 0) edge_index for a set without edges)")
        shift = b * width if width is not None else int(batch.offsets[b])
        parts.append(e.edge_index.long() + shift)
        owners.append(torch.full((e.edge_index.shape[1],), b, dtype=torch.long))
        attrs.append(e.edge_attr)
    batch.edge_index = torch.cat(parts, dim=1)
    batch.edge_batch = torch.cat(owners)
    if any(a is not None for a in attrs):
        if any(a is None for a in attrs):
            raise ValueError("edge_attr: some sets of the batch have edge features and some not")
        batch.edge_attr = torch.cat(attrs)


class Collate:
    """``collate`` with fixed options, to pass as a ``DataLoader``'s ``collate_fn``."""

    def __init__(self, layout: Layout = "padded", labels: LabelKind = "none",
                 label_pad: float = -100, padding_value: float = 0.0):
        self.layout, self.labels = layout, labels
        self.label_pad, self.padding_value = label_pad, padding_value

    def __call__(self, examples: Sequence[VectorSet]) -> Batch:
        return collate(examples, self.layout, self.labels, self.label_pad, self.padding_value)


def to_pyg(obj: Any):
    """A :class:`VectorSet` -> PyG ``Data``; a selfattn :class:`~selfattn.data.Batch` -> PyG ``Batch``.

    A batch is split back into its sets (padding dropped, edges renumbered per set, labels
    of the kind it was collated with) and joined by ``Batch.from_data_list``, so the result
    is exactly the PyG batch of the same graphs. A ``VectorSet``'s ``y`` is kept as it is
    (no per-graph dimension is added: the set does not say whether ``y`` is per set).
    """
    if isinstance(obj, VectorSet):
        return set_to_data(obj.x, obj.y, obj.edge_index, obj.edge_attr, set_label=False)
    if not isinstance(obj, Batch):
        raise TypeError(f"to_pyg: expected a selfattn VectorSet or Batch, got {type(obj).__name__}")
    from torch_geometric.data import Batch as PygBatch

    if obj.labels == "sequence":
        raise ValueError("to_pyg: a batch with labels='sequence' (target sequences) has no PyG form; "
                         "collate it with labels='set', 'vector' or 'none'")
    graphs = []
    width = obj.x.shape[1] if obj.layout == "padded" else None
    for b, n in enumerate(obj.lengths.tolist()):
        start = int(obj.offsets[b])
        x = obj.x[b, :n] if width is not None else obj.x[start:start + n]
        y = None
        if obj.y is not None and obj.labels == "set":
            y = obj.y[b]
        elif obj.y is not None and obj.labels == "vector":
            y = obj.y[b, :n] if width is not None else obj.y[start:start + n]
        edge_index = edge_attr = None
        if obj.edge_index is not None:
            mine = obj.edge_batch == b
            shift = b * width if width is not None else start
            edge_index = obj.edge_index[:, mine] - shift
            edge_attr = None if obj.edge_attr is None else obj.edge_attr[mine]
        graphs.append(set_to_data(x, y, edge_index, edge_attr, set_label=obj.labels == "set"))
    return PygBatch.from_data_list(graphs)
