"""Plots of a run: learning curves, and attention maps of a few examples.

``learning_curves_figure(rows)``: the loss (train and validation) and every other
validation metric against the epoch, one point per epoch recorded in ``metrics.csv``;
the epoch axis ticks at whole epochs only (a run of one epoch has one tick, "1", not
0.96 ... 1.04). ``learning_curves(rows, path)`` writes it as a PNG.

An attention map is the lecture's matrix of weights ``alpha'_{i,j}`` [21]: row ``i`` is
one query (output vector ``b_i``), column ``j`` one key, each row summing to 1 over the
keys it may see. ``attention_figure`` draws one panel per (layer, head) for one set, with
``selfattn.viz.maps`` (a pure drawing module: it imports nothing from ``train``).

What a picture of one example says about it (``describe``): its text (the sentence, the
SMILES as the user or the data file wrote it, read back from the ``FILE:ROW`` source and
checked against the atoms, else the source such as an image's name) and the model's
labels with the true ones: one per vector for a labelling task (``None`` where a truth is
unknown) or one for the set; a regression value with 3 significant digits. The labels
come from ``Predictor``, exactly what ``selfattn predict`` prints. ``indexed_atoms``
numbers atoms by their place in the SMILES from 1 (``C1, C2, O3``), like layers and heads.
``example_figure`` draws one example of a run this way (the run's ``attention.png``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["Described", "attention_figure", "describe", "example_figure", "indexed_atoms", "learning_curves",
           "learning_curves_figure", "smiles_of"]

_TICK_FONT = 9


def learning_curves_figure(rows: Sequence[dict[str, Any]], title: str = "") -> Figure:
    """Loss (train and validation) and every other validation metric per epoch -> Figure.

    ``rows``: one dict per epoch with ``epoch`` (from 0) and the logged values; epochs are
    drawn from 1. Each Axes' x axis ticks at whole epochs.
    """
    metrics = sorted({k for r in rows for k in r if k.startswith("val_") and k != "val_loss"})
    fig = Figure(figsize=(5 + 5 * bool(metrics), 3.6), layout="constrained")
    axes = fig.subplots(1, 1 + bool(metrics), squeeze=False)[0]
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for key, style in (("train_loss", "-o"), ("val_loss", "-s")):
        pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if r.get(key) is not None]
        if pts:
            axes[0].plot(*zip(*pts, strict=True), style, ms=3, label=key)
    axes[0].set(ylabel="loss", title=title or "loss")
    if metrics:
        for key in metrics:
            pts = [(e, r[key]) for e, r in zip(epochs, rows, strict=True) if r.get(key) is not None]
            if pts:
                axes[1].plot(*zip(*pts, strict=True), "-o", ms=3, label=key)
        axes[1].set(title="validation")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if epochs:
            ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        ax.tick_params(labelsize=_TICK_FONT)
        if ax.get_lines():
            ax.legend(fontsize=_TICK_FONT)
    return fig


def learning_curves(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """:func:`learning_curves_figure` -> PNG at ``path`` (None when there are no rows)."""
    if not rows:
        return None
    learning_curves_figure(rows, title).savefig(path, dpi=110)
    return path


def attention_figure(weights: Sequence[torch.Tensor], path: Path, tokens: Sequence[str] | None = None,
                     title: str = "", max_heads: int = 8, predicted: Sequence[str] | str | None = None,
                     truth: Sequence[str | None] | str | None = None) -> Path:
    """``weights``: one ``(H, n, n)`` tensor per layer for one set -> a layers x heads grid (PNG).

    ``predicted`` / ``truth``: the model's and the true label of each vector (or of the set).
    The drawing is ``selfattn.viz.maps.attention_heatmaps`` (also behind ``selfattn viz attention``).
    """
    from ..viz.maps import attention_heatmaps

    attention_heatmaps(weights, tokens, title=title, max_heads=max_heads, predicted=predicted, truth=truth,
                       path=path)
    return Path(path)


# -- what a picture says about its example ---------------------------------------------
@dataclass
class Described:
    """See the module docstring."""

    text: str
    predicted: list[str] | str | None = None
    truth: list[str | None] | str | None = None
    score: float | None = None   # the probability of a set's predicted class
    note: str = ""               # why there are no predicted labels, if there are none


def indexed_atoms(symbols: list[str]) -> list[str]:
    """Element symbols numbered by their place, from 1: ``C1, C2, O3``."""
    return [f"{s}{i + 1}" for i, s in enumerate(symbols)]


def smiles_of(source: str, symbols: list[str] | None) -> str | None:
    """The SMILES in row ``ROW`` of ``FILE`` for a source ``FILE:ROW``: the field RDKit reads
    as a molecule with these atoms, in this order (None when no field does)."""
    path, _, row = str(source).rpartition(":")
    if not row.isdigit() or not Path(path).is_file() or symbols is None:
        return None
    try:
        from rdkit import Chem, rdBase
    except ImportError:
        return None
    with open(path, encoding="utf-8", errors="replace") as handle:
        line = next((text for number, text in enumerate(handle, start=1) if number == int(row)), None)
    if line is None:
        return None
    fields = [f.strip() for part in line.split("\t") for f in part.split(",")]
    block = rdBase.BlockLogs()  # the other fields (ids, labels) are not SMILES: no warnings
    try:
        for field in fields:
            mol = Chem.MolFromSmiles(field) if field else None
            if mol is not None and [a.GetSymbol() for a in mol.GetAtoms()] == list(symbols):
                return field
    finally:
        del block
    return None


def describe(cfg: dict, task, spec: dict, state: dict, model, example, tokens: list[str] | None,
             shown: Any = None) -> Described:
    """``Described`` of ``example`` (tokens without any ``[CLS]``; ``shown``: what the task's
    ``read_input`` gave for a user's file, e.g. the words or the SMILES)."""
    text = _text(cfg, example, tokens, shown)
    out = Described(text)
    if spec.get("task") in ("seq2seq", "ctc"):
        return out
    from .predictor import Predictor

    # what the task's own formatter expects beside a prediction: the words, every node, a name
    display = (list(range(len(example))) if cfg["task"] == "nodes" else shown if shown is not None
               else tokens if tokens is not None and cfg["task"] == "pos" else example.source)
    try:
        (p,) = Predictor(cfg, task, spec, state, model).predict_sets([example], [display])
    except (TypeError, ValueError, KeyError, IndexError, NotImplementedError) as error:
        out.note = f"no predicted labels ({type(error).__name__}: {error})"
        return out
    names = task.class_names(state)
    y = example.y
    if p.value is not None:
        out.predicted = f"{p.value:.3g}"
        out.truth = None if y is None or y.numel() != 1 else f"{float(y):.3g}"
    elif isinstance(p.labels, str):
        out.predicted, out.score = p.labels, float(p.score)
        if y is not None and y.numel() == 1 and names and 0 <= int(y) < len(names):
            out.truth = names[int(y)]
    elif isinstance(p.labels, list) and len(p.labels) == len(example):
        out.predicted = list(p.labels)
        if y is not None and y.dim() == 1 and len(y) == len(example) and names:
            out.truth = [names[int(v)] if 0 <= int(v) < len(names) else None for v in y]
    return out


def _text(cfg: dict, example, tokens: list[str] | None, shown: Any) -> str:
    if isinstance(shown, str):
        return shown                         # a user's SMILES or sentence, as written
    if cfg["task"] == "molecule":
        symbols = [t.rstrip("0123456789") for t in tokens] if tokens else None
        return smiles_of(example.source, symbols) or str(example.source)
    if tokens and cfg["task"] in ("pos", "sentiment"):
        return " ".join(tokens)
    if isinstance(shown, list) and shown and all(isinstance(s, str) for s in shown):
        return " ".join(shown)
    return str(example.source)


def example_figure(cfg: dict, task, spec: dict, state: dict, model, example, path: Path, max_heads: int = 8):
    """One example's attention heat maps, titled ``preset: sentence`` (or SMILES) with the
    model's labels beside the tokens (or of the set, in the title) -> PNG at ``path``."""
    from ..data import collate
    from ..viz.maps import attention_heatmaps

    batch = collate([example], "padded", "none")
    model.eval()
    with torch.no_grad():
        _, weights = model(batch.x, batch.mask, edge_index=batch.edge_index, grids=batch.grids,
                           return_weights=True)
    if not weights:  # a model without attention weights: nothing to draw
        return None
    tokens = task.tokens(example, state)
    if tokens is not None and cfg["task"] == "molecule":
        tokens = indexed_atoms(tokens)
    said = describe(cfg, task, spec, state, model, example, tokens)
    offset = int(getattr(model, "cls", None) is not None)
    if tokens is not None and offset:
        tokens = ["[CLS]", *tokens]
    weights = [w[0] for w in weights]
    if tokens is not None and len(tokens) != weights[0].shape[-1]:
        tokens = None
    title = f"{cfg.get('preset', cfg['task'])}: {said.text}"
    if isinstance(said.predicted, list):
        predicted = [""] * offset + said.predicted
        truth = None if said.truth is None else [None] * offset + list(said.truth)
    else:
        predicted, truth = said.predicted, said.truth
    return attention_heatmaps(weights, tokens, title=title, max_heads=max_heads, predicted=predicted,
                              truth=truth, path=path)
