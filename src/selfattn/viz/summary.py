"""Numbers behind the attention pictures, over many sets: how far each head looks, and whom.

A heat map shows one set; these summarise a run's test split per (layer, head):

* ``attention_distance``: the mean distance between a query and the keys it attends to,
  ``sum_j alpha'_{i,j} |c_i - c_j|`` averaged over queries (positions for sequences,
  pixel coordinates of the cells for images: the "mean attention distance" of the
  Vision Transformer paper). ``uniform`` is the same with equal weights on the keys each
  query may see: a head well below it looks locally, like a CNN's small receptive field
  [36]; one near it looks everywhere.
* ``self_share`` (molecules, whose atoms see only themselves and their bonded atoms): the
  mean weight of an atom on itself, against ``1 / (degree + 1)`` for uniform attention;
* ``same_class_share`` (node classification): the share of a node's attention to its
  neighbours that goes to neighbours of its own class, against the share of such
  neighbours (what uniform attention over the edges would give).

``run_attention_stats(run, count)`` computes them over the first ``count`` test sets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["attention_distance", "run_attention_stats", "same_class_share"]


def attention_distance(weights: list[torch.Tensor], coords: torch.Tensor) -> tuple[np.ndarray, float, int]:
    """``(per (layer, head) sums of the weighted distance, uniform sum, queries)`` for one set.

    ``weights``: per layer ``(heads, n, n)``; ``coords`` ``(n, k)``. The keys a query may see
    are those with a non-zero weight in some layer and head (the pattern's mask). Sums, so
    that sets of different sizes add up; divide by the queries for the means.
    """
    c = coords.double().reshape(len(coords), -1)
    dist = torch.cdist(c, c)
    allowed = torch.stack([w > 0 for w in weights]).flatten(0, 1).any(0)
    per = np.array([[float((w[h].double() * dist).sum()) for h in range(w.shape[0])] for w in weights])
    uniform = float(((dist * allowed).sum(1) / allowed.sum(1).clamp_min(1)).sum())
    return per, uniform, len(c)


def same_class_share(weights: list[torch.Tensor], edge_index: torch.Tensor, labels: torch.Tensor
                     ) -> tuple[np.ndarray, float]:
    """``(per (layer, head) mean share of neighbour attention to the same class, uniform share)``,
    over labelled nodes with at least one labelled neighbour (``labels < 0``: unknown)."""
    src, dst = edge_index
    keep = (src != dst) & (labels[src] >= 0) & (labels[dst] >= 0)
    src, dst = src[keep], dst[keep]
    same = (labels[src] == labels[dst]).double()
    n = len(labels)
    count = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, torch.ones_like(same))
    nodes = count > 0
    same_count = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, same)
    uniform = float((same_count[nodes] / count[nodes]).mean())
    per = []
    for w in weights:
        row = []
        for h in range(w.shape[0]):
            a = w[h, dst, src].double()  # query dst attends key src
            total = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, a)
            mine = torch.zeros(n, dtype=torch.float64).index_add_(0, dst, a * same)
            row.append(float((mine[nodes] / total[nodes].clamp_min(1e-12)).mean()))
        per.append(row)
    return np.array(per), uniform


def run_attention_stats(run: str | Path, count: int = 100) -> dict:
    """The numbers of the module docstring over the first ``count`` test sets of ``run``."""
    from .runs import example_weights, read_run

    if count < 1:
        raise ValueError(f"count: expected at least one set, got {count}")
    cfg, task, _, _, model = read_run(run)
    data = task.build(cfg)
    offset = int(getattr(model, "cls", None) is not None)
    sets = data.test.examples[:count]
    if cfg["task"] == "nodes":
        graph = sets[0]
        # each split labels its own nodes (-100 elsewhere): together, every labelled node
        labels = torch.stack([s.examples[0].y for s in (data.train, data.validation, data.test)]).amax(0)
        weights = [w[:, offset:, offset:] for w in example_weights(model, graph)]
        per, uniform = same_class_share(weights, graph.edge_index, labels)
        return {"measure": "same_class_share", "per_layer_head": per.round(4).tolist(),
                "uniform": round(uniform, 4), "labelled_nodes": int((labels >= 0).sum())}
    if cfg["task"] == "molecule":  # graph pattern: an atom sees itself and its bonded atoms only
        per, uniform = np.zeros(0), 0.0
        atoms = 0
        for ex in sets:
            weights = [w[:, offset:, offset:] for w in example_weights(model, ex)]
            own = np.array([[float(w[h].diagonal().double().sum()) for h in range(w.shape[0])]
                            for w in weights])
            per = own if per.size == 0 else per + own
            degree = torch.bincount(ex.edge_index[1][ex.edge_index[0] != ex.edge_index[1]], minlength=len(ex))
            uniform += float((1.0 / (degree.double() + 1)).sum())
            atoms += len(ex)
        return {"measure": "self_share", "sets": len(sets), "per_layer_head": (per / atoms).round(4).tolist(),
                "uniform": round(uniform / atoms, 4)}
    total, uniform, queries = None, 0.0, 0
    unit = "positions"
    for ex in sets:
        weights = [w[:, offset:, offset:] for w in example_weights(model, ex)]
        if ex.grid is not None:
            from .image import image_from_vectors

            rows, cols = (int(v) for v in ex.grid)
            side = image_from_vectors(ex.x, ex.grid).shape[0] // rows  # pixels per cell
            cell = torch.arange(rows * cols)
            coords, unit = torch.stack([cell // cols, cell % cols], 1) * side, "pixels"
        else:
            coords = torch.arange(len(ex))[:, None]
        per, uni, q = attention_distance(weights, coords)
        total = per if total is None else total + per
        uniform, queries = uniform + uni, queries + q
    return {"measure": "mean_attention_distance", "unit": unit, "sets": len(sets),
            "per_layer_head": (total / queries).round(3).tolist(), "uniform": round(uniform / queries, 3)}
