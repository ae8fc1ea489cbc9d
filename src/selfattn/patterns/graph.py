"""Graph attention: attend only along edges.

``edge_index`` follows PyTorch Geometric: a ``(2, E)`` int64 tensor whose column ``e`` is
an edge ``(source, target) = (edge_index[0, e], edge_index[1, e])``; messages flow from
source to target. So node ``i`` (a query) attends over the nodes ``j`` with an edge
``j -> i`` (its incoming edges), and the weights of node ``i`` are a normalisation over
its incoming edges only (a segment softmax). A node without incoming edges gets a zero
output. Self-loops are ordinary edges (add them if a node should see itself).

For a batch of graphs packed together (PyG's ``Batch``: node features concatenated, edge
indices offset by each graph's first node) nothing changes: no edge crosses two graphs,
so attention never does either. Bipartite graphs (queries and keys from different node
sets) give ``num_nodes=(num_sources, num_targets)``.

Duplicate edges: ``duplicates="error"`` (default) rejects them; ``"merge"`` keeps one copy
(a pair of nodes is allowed or not, as in the dense mask). Either way the kernel never
counts a pair twice.
"""

from __future__ import annotations

import torch

from .._checks import check_tensor
from ._common import check_int
from .base import Pattern

__all__ = ["GraphPattern", "check_edge_index"]


def check_edge_index(edge_index: object, num_sources: int, num_targets: int,
                     name: str = "edge_index") -> torch.Tensor:
    """Validate a PyG ``edge_index``: int64 ``(2, E)``, sources < num_sources, targets < num_targets."""
    check_tensor(name, edge_index)
    assert isinstance(edge_index, torch.Tensor)
    if edge_index.dtype != torch.long:
        raise TypeError(f"{name}: expected a torch.int64 tensor (PyG convention), got {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"{name}: expected shape (2, num_edges) with rows (source, target), "
                         f"got {tuple(edge_index.shape)}")
    if edge_index.shape[1]:
        for row, what, n in ((0, "source", num_sources), (1, "target", num_targets)):
            lo, hi = int(edge_index[row].min()), int(edge_index[row].max())
            if lo < 0 or hi >= n:
                bad = lo if lo < 0 else hi
                raise ValueError(f"{name}: expected {what} nodes (row {row}) in [0, {n}), got {bad}")
    return edge_index


class GraphPattern(Pattern):
    """Node ``i`` attends over ``{j : (j, i) in edges}`` (PyG ``[source, target]`` order).

    Args:
        edge_index: int64 ``(2, E)``, rows ``(source, target)``.
        num_nodes: the number of nodes ``N`` (``Lq == Lk == N``), or ``(num_sources,
            num_targets)`` for a bipartite graph (``Lk = num_sources``, ``Lq = num_targets``).
        duplicates: ``"error"`` (reject repeated edges) or ``"merge"`` (keep one copy).

    Attributes: ``edge_index`` (after merging duplicates; weights returned per edge
    follow this order), ``num_sources``, ``num_targets``, ``num_edges``.
    """

    name = "graph"
    kernel = "graph"
    min_dense_pairs = 176 * 176
    max_density = 0.2
    self_attention = False  # bipartite graphs: Lq = targets, Lk = sources

    def __init__(self, edge_index: torch.Tensor, num_nodes: int | tuple[int, int],
                 duplicates: str = "error") -> None:
        if isinstance(num_nodes, tuple | list):
            if len(num_nodes) != 2:
                raise ValueError("num_nodes: expected an int or (num_sources, num_targets), "
                                 f"got {num_nodes!r}")
            ns = check_int("num_nodes[0]", num_nodes[0], 0)
            nt = check_int("num_nodes[1]", num_nodes[1], 0)
        else:
            ns = nt = check_int("num_nodes", num_nodes, 0)
        if duplicates not in ("error", "merge"):
            raise ValueError(f"duplicates: expected 'error' or 'merge', got {duplicates!r}")
        check_edge_index(edge_index, ns, nt)
        self.num_sources, self.num_targets = ns, nt
        # CSR by target: edges sorted by (target, source); `order` maps CSR slot -> input edge.
        key = edge_index[1] * max(ns, 1) + edge_index[0]
        key_sorted, order = torch.sort(key, stable=True)
        dup = key_sorted[1:] == key_sorted[:-1]
        if bool(dup.any()):
            if duplicates == "error":
                e = int(order[1:][dup][0])
                s, t = int(edge_index[0, e]), int(edge_index[1, e])
                raise ValueError(f"edge_index: expected no duplicate edges, got ({s}, {t}) more than "
                                 "once (pass duplicates='merge' to keep one copy)")
            keep = torch.ones_like(key_sorted, dtype=torch.bool)
            keep[1:] = ~dup
            first = order[keep]  # the first copy of each pair, in input order
            edge_index = edge_index[:, first.sort().values]
            key = edge_index[1] * max(ns, 1) + edge_index[0]
            key_sorted, order = torch.sort(key, stable=True)
        self.edge_index = edge_index
        self._csr: dict[torch.device, tuple[torch.Tensor, ...]] = {}
        self._order = order

    def __repr__(self) -> str:
        nodes = (self.num_sources if self.num_sources == self.num_targets
                 else (self.num_sources, self.num_targets))
        return f"GraphPattern(num_nodes={nodes}, num_edges={self.num_edges})"

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def keys_per_query(self, n: int) -> float:
        return self.num_edges / max(self.num_targets, 1)

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Whether the edge ``k_pos -> q_pos`` exists (positions are node indices)."""
        return self.dense_mask(self.num_targets, self.num_sources, q_pos.device)[q_pos, k_pos]

    def check_lengths(self, lq: int, lk: int) -> None:
        if lq != self.num_targets or lk != self.num_sources:
            raise ValueError(
                f"pattern: {self!r} needs Lq = {self.num_targets} (targets) and Lk = "
                f"{self.num_sources} (sources), got Lq={lq}, Lk={lk}")

    def csr(self, device: torch.device | None = None) -> tuple[torch.Tensor, ...]:
        """Edges grouped by target: ``(crow (Nt+1,), col (E,) sources, order (E,), crow_t
        (Ns+1,), col_t (E,) targets, order_t (E,))``; ``order`` maps CSR slots to edges of
        ``edge_index``, ``order_t`` maps slots of the transposed CSR (by source) to CSR slots."""
        device = torch.device("cpu") if device is None else torch.device(device)
        if device not in self._csr:
            ei = self.edge_index.to(device)
            order = self._order.to(device)
            src, tgt = ei[0, order], ei[1, order]
            crow = _crow(tgt, self.num_targets)
            order_t = torch.sort(src, stable=True).indices
            crow_t = _crow(src[order_t], self.num_sources)
            self._csr[device] = (crow, src, order, crow_t, tgt[order_t], order_t)
        return self._csr[device]

    def dense_mask(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(Lq, Lk)`` bool: ``mask[i, j]`` iff the edge ``j -> i`` exists."""
        self.check_lengths(lq, lk)
        mask = torch.zeros(lq, lk, dtype=torch.bool, device=device)
        ei = self.edge_index.to(device)
        mask[ei[1], ei[0]] = True
        return mask


def _crow(sorted_rows: torch.Tensor, n: int) -> torch.Tensor:
    crow = torch.zeros(n + 1, dtype=torch.long, device=sorted_rows.device)
    crow[1:] = torch.cumsum(torch.bincount(sorted_rows, minlength=n), 0)
    return crow
