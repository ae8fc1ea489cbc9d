"""Graphs as sets of node vectors plus ``edge_index``: attention restricted to edges.

A graph of ``N`` nodes is the set ``x`` ``(N, d)`` of node vectors, and its edges are the
attention pattern: ``edge_index`` ``(2, E)`` int64, row 0 the source, row 1 the target,
values in ``[0, N)`` (PyG's convention). Undirected graphs store both directions.
Many graphs are batched by :func:`~selfattn.data.collate`, which renumbers the edges.

Sources: edge-list text files (``u v`` per line), ``networkx`` graphs, and the graph-tool
``.gt`` files of the Debian package ``python3-graph-tool`` (read by
:mod:`selfattn.data.graph_tool_format`): polblogs (1,490 blogs, 2 leanings), polbooks
(105 books, 3 leanings), football (115 teams, 12 conferences); and Zachary's karate club
(34 members, 2 clubs) from ``networkx``. Node classification on one graph: a seeded split
of the *nodes* into train / validation / test.

Node features: ``"identity"`` (one-hot node number, ``(N, N)``: the model learns a vector
per node), ``"degree"`` (``(N, 1)`` log(1 + degree)) or ``"position"`` (the 2-D layout
stored in the ``.gt`` file, ``(N, 2)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .graph_tool_format import read_gt
from .registry import fetch
from .sets import VectorSet, check_edge_index, split_indices

__all__ = [
    "NodeClassification",
    "from_networkx",
    "load_node_classification",
    "node_features",
    "read_edge_list",
    "to_undirected",
]

Features = Literal["identity", "degree", "position"]


def read_edge_list(path: str | Path, num_nodes: int | None = None) -> tuple[torch.Tensor, int]:
    """``(edge_index (2, E), num_nodes)`` from a text file of ``source target`` lines
    (``#`` comments and blank lines skipped). With ``num_nodes`` given, an edge pointing
    past it raises naming the file and line; else ``num_nodes = 1 + max id``."""
    path = Path(path)
    pairs, lines = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            if len(fields) < 2:
                raise ValueError
            u, v = int(fields[0]), int(fields[1])
        except ValueError:
            raise ValueError(f"{path}:{number}: expected 'source target' node numbers, "
                             f"got {line.strip()!r}") from None
        for node in (u, v):
            if node < 0 or (num_nodes is not None and node >= num_nodes):
                raise ValueError(f"{path}:{number}: edge {u} -> {v} points to node {node}, "
                                 f"expected 0 <= node < {num_nodes} (num_nodes)")
        pairs.append((u, v))
        lines.append(number)
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    if num_nodes is None:
        num_nodes = int(edge_index.max()) + 1 if pairs else 0
    return edge_index, num_nodes


def to_undirected(edge_index: torch.Tensor, num_nodes: int, self_loops: bool = False
                  ) -> tuple[torch.Tensor, dict[str, int]]:
    """Both directions of every edge, each pair once, sorted; ``report`` counts the
    directed entries merged (reciprocal or repeated edges) and self-loops removed (unless
    ``self_loops``)."""
    check_edge_index(edge_index, num_nodes)
    both = torch.cat([edge_index, edge_index.flip(0)], dim=1)
    loops = both[0] == both[1]
    removed_loops = 0 if self_loops else int(loops.sum()) // 2
    if not self_loops:
        both = both[:, ~loops]
    keys = torch.unique(both[0] * num_nodes + both[1])
    out = torch.stack([keys // num_nodes, keys % num_nodes])
    merged = both.shape[1] - out.shape[1] - (int(loops.sum()) // 2 if self_loops else 0)
    return out, {"self_loops_removed": removed_loops, "duplicates_merged": merged}


def node_features(kind: Features, num_nodes: int, edge_index: torch.Tensor,
                  positions: list | None = None) -> torch.Tensor:
    """``(N, d)`` float32 node features of the given kind (module doc)."""
    if kind == "identity":
        return torch.eye(num_nodes)
    if kind == "degree":
        degree = torch.bincount(edge_index[0], minlength=num_nodes).float()
        return torch.log1p(degree)[:, None]
    if kind == "position":
        if positions is None:
            raise ValueError("features: 'position' needs a layout, this graph has none")
        return torch.tensor(np.stack(positions), dtype=torch.float32)
    raise ValueError(f"features: expected 'identity', 'degree' or 'position', got {kind!r}")


def from_networkx(graph, label: str | None = None, features: Features = "identity"
                  ) -> tuple[VectorSet, list]:
    """A ``networkx`` graph -> ``(VectorSet, classes)``; nodes numbered in ``graph.nodes``
    order, ``y`` the class index of node attribute ``label`` (if given)."""
    nodes = list(graph.nodes)
    number = {node: i for i, node in enumerate(nodes)}
    pairs = [(number[u], number[v]) for u, v in graph.edges]
    edge_index = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).T.contiguous()
    if not graph.is_directed():
        edge_index, _ = to_undirected(edge_index, len(nodes))
    y, classes = None, []
    if label is not None:
        values = [graph.nodes[node].get(label) for node in nodes]
        missing = [nodes[i] for i, v in enumerate(values) if v is None]
        if missing:
            raise ValueError(f"label: node {missing[0]!r} has no attribute {label!r}")
        classes = _sorted_classes(values)
        y = torch.tensor([classes.index(v) for v in values], dtype=torch.long)
    x = node_features(features, len(nodes), edge_index)
    return VectorSet(x=x, y=y, edge_index=edge_index, source=f"networkx {graph}"), classes


def _sorted_classes(values: list) -> list:
    try:
        return sorted(set(values))
    except TypeError:  # mixed types: order by text
        return sorted(set(values), key=str)


@dataclass
class NodeClassification:
    """One graph with a class per node and seeded node splits (int64 node numbers)."""

    graph: VectorSet
    classes: list
    train_nodes: torch.Tensor
    validation_nodes: torch.Tensor
    test_nodes: torch.Tensor
    info: dict = field(default_factory=dict)


def load_node_classification(name: Literal["polblogs", "polbooks", "football", "karate"],
                             path: str | Path | None = None, features: Features = "identity",
                             fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                             seed: int = 0) -> NodeClassification:
    """One of the node-classification graphs (cached from its package, or ``path`` to a
    ``.gt``/``.gt.gz`` file whose vertex property ``value`` holds the classes), made
    undirected. ``info`` reports merged duplicates, removed self-loops, isolated nodes."""
    if name == "karate" and path is None:
        import networkx

        graph, classes = from_networkx(networkx.karate_club_graph(), "club", features)
        info: dict = {"source": "networkx.karate_club_graph"}
    else:
        if name not in ("polblogs", "polbooks", "football", "karate"):
            raise ValueError(f"name: expected polblogs, polbooks, football or karate, got {name!r}")
        file = Path(path) if path is not None else fetch(name) / f"{name}.gt.gz"
        gt = read_gt(file)
        if "value" not in gt.vertex_properties:
            raise ValueError(f"{file}: expected a vertex property 'value' holding the classes, "
                             f"found {sorted(gt.vertex_properties)}")
        values = [v.item() if hasattr(v, "item") else v for v in gt.vertex_properties["value"]]
        classes = _sorted_classes(values)
        y = torch.tensor([classes.index(v) for v in values], dtype=torch.long)
        edge_index, info = to_undirected(gt.edge_index, gt.num_nodes)
        info.update(source=str(file), directed_in_file=gt.directed,
                    edges_in_file=int(gt.edge_index.shape[1]))
        x = node_features(features, gt.num_nodes, edge_index, gt.vertex_properties.get("pos"))
        graph = VectorSet(x=x, y=y, edge_index=edge_index, source=str(file))
    degree = torch.bincount(graph.edge_index[0], minlength=len(graph))
    info.update(nodes=len(graph), undirected_edges=int(graph.edge_index.shape[1]) // 2,
                isolated_nodes=int((degree == 0).sum()),
                class_counts=torch.bincount(graph.y, minlength=len(classes)).tolist())
    parts = split_indices(len(graph), fractions, seed)
    return NodeClassification(graph, classes, *parts, info=info)
