"""Graph attention drawn on the graph: the weights on the edges, one panel per (layer, head).

The lecture's self-attention on a graph [40]: node ``i`` attends only to the nodes its
edges connect it to (and to itself), so the weights live on the edges. Each drawn edge
``j -> i`` (``i`` may attend to ``j``) is the half segment from node ``i`` to the edge's
midpoint, coloured and thickened by ``alpha'_{i,j}``: the half touching a node shows how
much that node takes from the other end. With both directions present the two halves
meet in the middle. A node's own colour is its weight on itself, ``alpha'_{i,i}``.

Positions: ``molecule_positions`` gives RDKit 2-D depiction coordinates rebuilt from the
atom vectors and bonds (networkx's Kamada-Kawai layout if RDKit is missing);
``spring_positions`` networkx's spring layout (seeded). ``neighbourhood`` picks a node
and its neighbours from a large graph (polblogs: 1,222 nodes).

Shapes: ``weights`` a list over layers of ``(heads, n, n)`` (rows: queries); ``edge_index``
``(2, E)`` rows (source = key, target = query), as ``selfattn.nn.model.pattern_mask``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .maps import PANEL_LABEL, TICK_FONT, check_weights, wrap_title
from .plain_text import PLAIN, plain_legend

__all__ = ["CLASS_COLOURS", "EDGE_LABEL", "NODE_LABEL", "PREDICTED_LABEL", "graph_attention_figure",
           "molecule_positions", "neighbourhood", "spring_positions"]

EDGE_LABEL = "attention-edges"        # the LineCollection of each panel: array = drawn weights
NODE_LABEL = "attention-nodes"        # the node scatter of each panel: array = self weights
PREDICTED_LABEL = "predicted-class"   # the ring scatter of each panel: edge colour = predicted class
CLASS_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def neighbourhood(edge_index: torch.Tensor, num_nodes: int, centre: int, max_nodes: int = 25,
                  score: torch.Tensor | None = None) -> list[int]:
    """``centre`` first, then its neighbours (either edge direction), at most ``max_nodes``
    in all: those with the highest ``score`` (``(num_nodes,)``, e.g. the centre's mean
    attention to each node), else the lowest numbers."""
    if not 0 <= centre < num_nodes:
        raise ValueError(f"node: expected 0 <= node < {num_nodes} (the graph's nodes), got {centre}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes: expected at least 1, got {max_nodes}")
    src, dst = edge_index
    near = torch.unique(torch.cat([src[dst == centre], dst[src == centre]]))
    near = near[near != centre]
    if score is not None and len(near) > max_nodes - 1:
        near = near[torch.argsort(score[near], descending=True, stable=True)]
    return [centre, *near[: max_nodes - 1].tolist()]


def spring_positions(edge_index: torch.Tensor, nodes: Sequence[int], seed: int = 0) -> np.ndarray:
    """``(len(nodes), 2)`` networkx spring-layout positions of the subgraph on ``nodes``."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(nodes)
    g.add_edges_from(_sub_edges(edge_index, nodes))
    pos = nx.spring_layout(g, seed=seed)
    return np.array([pos[n] for n in nodes], dtype=float)


def molecule_positions(atoms: torch.Tensor, edge_index: torch.Tensor,
                       symbols: Sequence[str] | None = None) -> np.ndarray:
    """``(n, 2)`` 2-D coordinates of a molecule's atoms: RDKit's depiction of the bond graph
    (no SMILES needed), or networkx's Kamada-Kawai layout where RDKit is unavailable."""
    n = int(atoms.shape[0])
    pairs = sorted({(min(a, b), max(a, b)) for a, b in edge_index.T.tolist() if a != b})
    try:
        from rdkit import Chem
        from rdkit.Chem import rdDepictor
    except ImportError:
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(n))
        g.add_edges_from(pairs)
        pos = nx.kamada_kawai_layout(g) if n > 1 else {0: (0.0, 0.0)}
        return np.array([pos[i] for i in range(n)], dtype=float)
    mol = Chem.RWMol()
    for i in range(n):
        symbol = symbols[i] if symbols is not None else "C"
        mol.AddAtom(Chem.Atom(symbol if symbol in _RDKIT_SYMBOLS else "C"))
    for a, b in pairs:
        mol.AddBond(a, b, Chem.BondType.SINGLE)  # the depiction needs the graph, not the bond orders
    mol = mol.GetMol()
    mol.UpdatePropertyCache(strict=False)
    Chem.FastFindRings(mol)
    rdDepictor.Compute2DCoords(mol)
    return np.array(mol.GetConformer().GetPositions()[:, :2], dtype=float)


_RDKIT_SYMBOLS = frozenset(["C", "N", "O", "F", "P", "S", "Cl", "Br", "I", "B", "Si", "Se", "Na", "K", "H"])


def _sub_edges(edge_index: torch.Tensor, nodes: Sequence[int]) -> list[tuple[int, int]]:
    """The directed edges ``(source, target)`` with both ends in ``nodes``, no self loops."""
    keep = set(int(n) for n in nodes)
    return [(a, b) for a, b in edge_index.T.tolist() if a in keep and b in keep and a != b]


def graph_attention_figure(weights: Sequence[torch.Tensor], edge_index: torch.Tensor,
                           positions: np.ndarray, nodes: Sequence[int] | None = None, *,
                           labels: Sequence[str] | None = None, classes: Sequence[int] | None = None,
                           class_names: Sequence[str] | None = None,
                           predicted: Sequence[int] | None = None, title: str = "",
                           path: str | Path | None = None, dpi: int = 120) -> Figure:
    """Weights on the edges of the subgraph on ``nodes`` (default: all), ``positions``
    ``(len(nodes), 2)``; one panel per (layer, head) -> Figure (PNG at ``path``).

    ``labels``: a text per drawn node (shown up to 40 nodes); ``classes``: a class index
    per drawn node (``-1`` or negative: unknown) for the node outlines; ``predicted``: the
    model's class index per drawn node, drawn as a ring around the node in that class's
    colour (ring and outline differ where the model is wrong). Each panel holds a
    ``LineCollection`` labelled ``EDGE_LABEL`` (array: the weights drawn, one per half
    segment), a node scatter labelled ``NODE_LABEL`` (array: the self weights) and, with
    ``predicted``, a ring scatter labelled ``PREDICTED_LABEL`` (edge colours:
    ``CLASS_COLOURS[predicted % 8]``, one per drawn node).
    """
    weights = check_weights(weights)
    n = weights[0].shape[-1]
    nodes = list(range(n)) if nodes is None else [int(v) for v in nodes]
    if not nodes or any(not 0 <= v < n for v in nodes):
        raise ValueError(f"nodes: expected node numbers in [0, {n}) (the weights' size), got {nodes[:10]}")
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(nodes), 2):
        raise ValueError(f"positions: expected shape ({len(nodes)}, 2) (one point per drawn node), "
                         f"got {positions.shape}")
    for name, seq in (("labels", labels), ("classes", classes), ("predicted", predicted)):
        if seq is not None and len(seq) != len(nodes):
            raise ValueError(f"{name}: expected {len(nodes)} entries (one per drawn node), got {len(seq)}")
    index = {v: i for i, v in enumerate(nodes)}
    edges = _sub_edges(edge_index, nodes)                     # (key, query) pairs
    starts = np.array([positions[index[q]] for _, q in edges]).reshape(-1, 2)
    mids = np.array([(positions[index[q]] + positions[index[k]]) / 2 for k, q in edges]).reshape(-1, 2)
    segments = np.stack([starts, mids], 1) if edges else np.zeros((0, 2, 2))
    q_idx = torch.tensor([q for _, q in edges], dtype=torch.long)
    k_idx = torch.tensor([k for k, _ in edges], dtype=torch.long)
    sel = torch.tensor(nodes, dtype=torch.long)
    panels = [(li, h, w[h, q_idx, k_idx].numpy(), w[h, sel, sel].numpy())
              for li, w in enumerate(weights) for h in range(w.shape[0])]
    vmax = max([float(e.max()) for _, _, e, _ in panels if e.size] + [float(s.max()) for *_, s in panels]
               + [1e-6])
    norm = Normalize(0.0, vmax)
    layers, heads = len(weights), max(w.shape[0] for w in weights)
    # Panels shaped like the drawing, nodes sized to the typical edge length: readable for a
    # long thin molecule and for a round neighbourhood alike.
    span = np.ptp(positions, axis=0) if len(nodes) > 1 else np.ones(2)
    span = np.where(span > 0, span, max(float(span.max()), 1.0))
    panel_w = 3.2
    panel_h = float(np.clip(panel_w * span[1] / span[0], 1.6, 4.0))
    width = panel_w * heads + 1.2
    title = wrap_title(title, width, 10) if title else ""
    head_in = 0.25 + (0.19 * (title.count("\n") + 1) if title else 0.0)  # the title's lines
    height = panel_h * layers + 0.6 + head_in + 0.35 * layers
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.2 / width, right=1 - 1.1 / width, top=1 - head_in / height,
                        bottom=0.55 / height, hspace=0.35 / panel_h, wspace=0.1)
    grid = fig.subplots(layers, heads, squeeze=False)
    outline = ["#999999" if classes is None or classes[i] < 0 else CLASS_COLOURS[classes[i] % 8]
               for i in range(len(nodes))]
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1) * 2 if edges else span[:1]
    points_per_unit = 72 * min(panel_w / span[0], panel_h / span[1]) / 1.2
    diameter = float(np.clip(0.45 * np.median(lengths) * points_per_unit, 4.0, 16.0))
    named = labels is not None and len(nodes) <= 40
    if named:  # a label of TICK_FONT points fits inside its node
        diameter = max(diameter, 0.62 * TICK_FONT * max(len(str(t)) for t in labels) + 6.0)
    size, font = diameter ** 2, TICK_FONT
    for li, h, edge_w, self_w in panels:
        ax = grid[li, h]
        ax.set_label(PANEL_LABEL.format(layer=li + 1, head=h + 1))
        lines = LineCollection(segments, array=edge_w, cmap="viridis", norm=norm,
                               linewidths=0.6 + 4.0 * edge_w / vmax, label=EDGE_LABEL, zorder=1)
        ax.add_collection(lines)
        ax.scatter(positions[:, 0], positions[:, 1], c=self_w, cmap="viridis", norm=norm, s=size,
                   edgecolors=outline, linewidths=1.6, zorder=2, label=NODE_LABEL)
        if predicted is not None:  # a ring just outside the true-class outline
            ax.scatter(positions[:, 0], positions[:, 1], s=(diameter + 6.0) ** 2, facecolors="none",
                       edgecolors=[CLASS_COLOURS[int(c) % len(CLASS_COLOURS)] for c in predicted],
                       linewidths=2.4, zorder=1.5, label=PREDICTED_LABEL)
        if named:
            for (x, y), text in zip(positions, labels, strict=True):
                ax.text(x, y, str(text), fontsize=font, ha="center", va="center", color="white", zorder=3,
                        **PLAIN)
        ax.set_title(f"layer {li + 1} head {h + 1}", fontsize=9)
        ax.set_aspect("equal")
        ax.margins(0.08)
        ax.set_xticks([])
        ax.set_yticks([])
    for li in range(layers):
        for h in range(weights[li].shape[0], heads):
            grid[li, h].axis("off")
    bar = fig.colorbar(grid[0, 0].collections[0], ax=grid.ravel().tolist(), fraction=0.025, pad=0.02)
    bar.set_label("attention weight (edge half at the query node; node: itself)", fontsize=9)
    bar.ax.tick_params(labelsize=TICK_FONT)
    if (classes is not None or predicted is not None) and class_names is not None:
        handles = [Line2D([], [], ls="", marker="o", mfc="white", mec=CLASS_COLOURS[c % len(CLASS_COLOURS)],
                          mew=1.6, label=str(name)) for c, name in enumerate(class_names)]
        says = [*(["outline: true class (grey: unknown)"] if classes is not None else []),
                *(["outer ring: predicted class"] if predicted is not None else [])]
        plain_legend(fig.legend(handles=handles, loc="lower left", fontsize=TICK_FONT, frameon=False,
                                ncols=len(handles) + 1, title="; ".join(says), title_fontsize=TICK_FONT))
    if title:
        fig.suptitle(title, fontsize=10, y=1 - 0.08 / height, va="top", **PLAIN)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi)
    return fig
