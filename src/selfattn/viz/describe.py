"""What a picture of one example says about it: its text, the model's labels, the true ones.

A reader of an attention map wants the sentence (or the molecule's SMILES) above it, not
the file it came from, and the model's answer beside the tokens. ``describe`` gives, for
one ``VectorSet`` of a trained run:

* ``text``: the sentence (the tokens joined), the SMILES (as the user or the data file
  wrote it, read back from the ``FILE:ROW`` source and checked against the atoms), else
  the source (an image's or a graph's name);
* ``predicted`` / ``truth``: one label per vector for a labelling task (``n`` of them,
  ``None`` where a truth is unknown) or one for the whole set; a regression value is
  written with 3 significant digits. The labels come from ``selfattn.train.Predictor``,
  exactly what ``selfattn predict`` prints.

``indexed_atoms(["C", "C", "O"])`` is ``["C1", "C2", "O3"]``: the atom's place in the
SMILES, counted from 1 like the layers and heads, so that repeated elements stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Described", "describe", "indexed_atoms", "smiles_of"]


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
    from ..train.predictor import Predictor

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
