"""One example = one set of vectors; a data set = a list of them, with seeded splits.

The lecture's first idea: whatever the raw thing is (a sentence, a recording, a graph, a
molecule, an image), turn it into a *set of vectors* ``x`` of shape ``(n, *feature)``,
where ``n`` varies from example to example. Integer ``x`` of shape ``(n,)`` holds token
ids (to be embedded by the model); float ``x`` of shape ``(n, d)`` holds feature vectors.

A :class:`VectorSet` carries, besides ``x``:

* ``y``: a label per set (shape ``()`` or ``(k,)``), per vector (``(n,)`` or ``(n, k)``)
  or a target sequence (``(m,)``, its own length); :func:`~selfattn.data.collate`
  is told which;
* ``edge_index`` ``(2, E)`` int64 (rows: source, target; values in ``[0, n)``) and
  ``edge_attr`` ``(E, *edge_feature)`` for graphs and molecules;
* ``grid`` ``(height, width)`` for images, so 2-D attention patterns know the layout;
* ``source``: where it came from (file and line), used in error messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset

__all__ = ["SetDataset", "VectorSet", "split_indices"]


@dataclass
class VectorSet:
    """One variable-length set of vectors and what goes with it (see the module doc)."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    edge_index: torch.Tensor | None = None
    edge_attr: torch.Tensor | None = None
    grid: tuple[int, int] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        where = f" ({self.source})" if self.source else ""
        if not isinstance(self.x, torch.Tensor) or self.x.dim() < 1:
            shape = tuple(self.x.shape) if isinstance(self.x, torch.Tensor) else type(self.x)
            raise ValueError(f"x{where}: expected a tensor (n, *feature), got {shape}")
        n = self.x.shape[0]
        if self.edge_index is not None:
            check_edge_index(self.edge_index, n, where)
            if self.edge_attr is not None and self.edge_attr.shape[0] != self.edge_index.shape[1]:
                raise ValueError(
                    f"edge_attr{where}: expected {self.edge_index.shape[1]} rows (one per edge), "
                    f"got shape {tuple(self.edge_attr.shape)}"
                )
        elif self.edge_attr is not None:
            raise ValueError(f"edge_attr{where}: given without edge_index")
        if self.grid is not None and self.grid[0] * self.grid[1] != n:
            raise ValueError(
                f"grid{where}: expected height * width == {n} (the number of vectors), "
                f"got {self.grid}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])


def check_edge_index(edge_index: torch.Tensor, num_nodes: int, where: str = "") -> None:
    """``(2, E)`` integer with every entry in ``[0, num_nodes)``; else a ValueError naming
    the first bad edge."""
    if not isinstance(edge_index, torch.Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, torch.Tensor) else edge_index
        raise ValueError(f"edge_index{where}: expected shape (2, num_edges), got {shape}")
    if edge_index.is_floating_point() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index{where}: expected an integer dtype, got {edge_index.dtype}")
    bad = (edge_index < 0) | (edge_index >= num_nodes)
    if bool(bad.any()):
        column = int(torch.nonzero(bad.any(0))[0, 0])
        raise ValueError(
            f"edge_index{where}: edge {column} is {edge_index[:, column].tolist()}, expected "
            f"node numbers in [0, {num_nodes}) (the number of nodes)"
        )


def split_indices(
    n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> list[torch.Tensor]:
    """Deterministic random split of ``range(n)``: one sorted int64 index tensor per part.

    The same ``(n, fractions, seed)`` always gives the same parts, on any machine (a
    ``torch.Generator`` seeded with ``seed`` draws one permutation). Part sizes are
    ``floor(f * n)`` and the remainder goes to the first part, so every index is used once.
    """
    if n < 0:
        raise ValueError(f"n: expected a non-negative count, got {n}")
    if not fractions or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions: expected non-negative numbers summing to 1, got {fractions}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    sizes = [int(f * n) for f in fractions]
    sizes[0] += n - sum(sizes)
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start:start + size].sort().values)
        start += size
    return parts


class SetDataset(Dataset):
    """A list of :class:`VectorSet` plus ``info`` (label names, counts, skipped rows, ...)."""

    def __init__(self, examples: Sequence[VectorSet], info: dict[str, Any] | None = None):
        self.examples = list(examples)
        self.info = dict(info or {})

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> VectorSet:
        return self.examples[index]

    def lengths(self) -> torch.Tensor:
        """``(len(self),)`` int64: the number of vectors of each set (for bucketing)."""
        return torch.tensor([len(e) for e in self.examples], dtype=torch.long)

    def subset(self, indices: Sequence[int] | torch.Tensor) -> SetDataset:
        picked = [self.examples[int(i)] for i in indices]
        return SetDataset(picked, self.info)

    def split(
        self, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
    ) -> list[SetDataset]:
        """Seeded train / validation / test (or any number of) parts; see :func:`split_indices`."""
        return [self.subset(part) for part in split_indices(len(self), fractions, seed)]
