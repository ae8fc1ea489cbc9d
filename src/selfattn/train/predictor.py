"""Predictions with scores, from a trained run, in Python or as text, JSON lines or CSV.

    from selfattn.train import Predictor
    p = Predictor.from_run("runs/pos")
    [r] = p.predict_file("sentences.txt", top_k=3)
    r.labels, r.probabilities            # ['DT', 'NN', ...], tensor (n, 45)

A :class:`Prediction` per input set: ``labels`` (one per vector for a vector task, else
one), the ``probabilities`` of every class (softmax of the model's outputs; a sigmoid per
label for several 0/1 labels), ``score`` (the probability of each chosen label), ``top``
(the ``top_k`` best labels with their probabilities), a ``value`` for regression, or the
decoded ``text`` for sequence-to-sequence and CTC models (no per-class scores there).

Bad input: ``read_input`` of each task names ``FILE:LINE``. With ``skip_bad`` a line-based
input file is read again without each line so named (reported through ``on_skip``), so
one bad SMILES or sentence does not stop the whole file.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import torch

from ..data import collate
from .loading import load_run
from .prediction import Prediction

__all__ = ["Prediction", "Predictor", "format_predictions", "predict"]


class Predictor:
    """A trained run, ready to label new input (``from_run``)."""

    def __init__(self, cfg: dict, task, spec: dict, state: dict, model: torch.nn.Module) -> None:
        self.cfg, self.task, self.spec, self.state, self.model = cfg, task, spec, state, model.eval()
        self.classes: list[str] | None = task.class_names(state)

    @classmethod
    def from_run(cls, folder: str | Path) -> Predictor:
        own = _task_predictor(folder)  # a task with its own loop (detr) has its own predictor
        return own if own is not None else cls(*load_run(folder))

    # -- sets -> predictions -------------------------------------------------------------
    @torch.no_grad()
    def predict_sets(self, sets: list, display: list[Any] | None = None, top_k: int = 1,
                     batch_size: int = 32) -> list[Prediction]:
        """One :class:`Prediction` per set (``display``: what to show as its input)."""
        if top_k < 1:
            raise ValueError(f"top_k: expected >= 1, got {top_k}")
        display = display if display is not None else [s.source for s in sets]
        kind, target = self.spec["task"], self.spec["target"]
        long = self._long_speech(sets)
        if long:
            out = self.predict_sets([s for i, s in enumerate(sets) if i not in long],
                                    [d for i, d in enumerate(display) if i not in long], top_k, batch_size)
            for i in sorted(long):
                out.insert(i, self._chunked(sets[i], display[i], top_k))
            return out
        if kind in ("seq2seq", "ctc"):
            from .decode import predict_sets

            out = []
            for s, d, p in zip(sets, display, predict_sets(self.model, self.spec, sets, self.cfg, batch_size),
                               strict=True):
                line = self.task.format_prediction(d, p, self.state)
                out.append(Prediction(str(s.source), d, text=line.split("\t")[-1], line=line))
            return out
        out: list[Prediction] = []
        for start in range(0, len(sets), batch_size):
            chunk = sets[start:start + batch_size]
            batch = collate(chunk, "padded", "none")
            y = self.model(batch.x, batch.mask, edge_index=batch.edge_index, grids=batch.grids)
            for b, example in enumerate(chunk):
                d = display[start + b]
                scores = y[b, : len(example)] if kind == "vector" else y[b]
                out.append(self._one(example, d, scores, target, top_k))
        return out

    # -- long recordings: chunked encoding (selfattn.nn.chunked) ----------------------------
    def chunk_frames(self) -> int | None:
        """Input frames (10 ms) per chunk of a speech run: ``run.chunk_seconds`` (default 30 s;
        null: whole recordings at once), else None."""
        if getattr(self.task, "name", None) not in ("asr", "phonemes"):
            return None
        seconds = self.cfg.get("run", {}).get("chunk_seconds", 30.0)
        if seconds is None:
            return None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"run.chunk_seconds: expected a positive number of seconds or null, "
                             f"got {seconds!r}")
        return max(int(seconds * 100), 4)

    def _long_speech(self, sets: list) -> set[int]:
        frames = self.chunk_frames()
        long = set() if frames is None else {i for i, s in enumerate(sets) if len(s) > frames}
        if long:
            import warnings

            from ..nn.chunked import chunk_plan

            plan = chunk_plan(self.model)
            if isinstance(plan, str):  # unbounded receptive field: the usual whole-utterance path
                warnings.warn(f"run.chunk_seconds: {plan}; encoding each recording whole "
                              "(memory grows with its length)", stacklevel=3)
                return set()
        return long

    def _chunked(self, example, display, top_k: int) -> Prediction:
        """One recording longer than a chunk, encoded chunk by chunk (exactly the whole-utterance
        outputs where the receptive field is bounded; else the whole at once, with a warning)."""
        from ..nn.chunked import chunked_forward
        from ..nn.ctc import beam_decode, greedy_decode

        stride = 4 if self.spec["task"] == "ctc" else 1
        out = chunked_forward(self.model, example.x, max(self.chunk_frames() // stride, 1))
        if self.spec["task"] == "ctc":
            beam = int(self.cfg["run"]["beam_size"])
            ids = greedy_decode(out)[0] if beam == 1 else beam_decode(out[0], beam)
            line = self.task.format_prediction(display, ids, self.state)
            return Prediction(str(example.source), display, text=line.split("\t")[-1], line=line)
        return self._one(example, display, out[0], self.spec["target"], top_k)

    def _one(self, example, display, scores: torch.Tensor, target: str, top_k: int) -> Prediction:
        source = str(example.source)
        if target == "regression":
            value = float(self.model.denormalize(scores).reshape(-1)[0])
            return Prediction(source, display, value=value,
                              line=self.task.format_prediction(display, value, self.state))
        names = self.classes or [str(i) for i in range(scores.shape[-1])]
        if target == "multilabel":
            probs = torch.sigmoid(scores.float())
            chosen = (probs > 0.5).long()
            return Prediction(source, display, probabilities=probs,
                              line=self.task.format_prediction(display, chosen, self.state))
        probs = scores.float().softmax(-1)
        k = min(top_k, probs.shape[-1])
        best_p, best_i = probs.topk(k, dim=-1)
        ids = best_i[..., 0]
        line = self.task.format_prediction(display, ids if ids.dim() else int(ids), self.state)
        rows = self.task.reported_vectors(display) if probs.dim() == 2 else None
        if rows is not None:
            probs, best_p, best_i, ids = probs[rows], best_p[rows], best_i[rows], ids[rows]
        def ranked(ps, ix):
            return [[names[int(i)], round(float(q), 6)] for q, i in zip(ps, ix, strict=True)]

        if probs.dim() == 1:
            return Prediction(source, display, labels=names[int(ids)], score=round(float(best_p[0]), 6),
                              top=ranked(best_p, best_i), probabilities=probs, line=line)
        return Prediction(source, display, labels=[names[int(i)] for i in ids],
                          score=[round(float(q), 6) for q in best_p[:, 0]],
                          top=[ranked(ps, ix) for ps, ix in zip(best_p, best_i, strict=True)],
                          probabilities=probs, line=line)

    # -- files -> predictions ------------------------------------------------------------
    def read(self, path: str | Path, skip_bad: bool = False, on_skip=None, shown_as: str | None = None):
        """``(sets, display)`` of an input file; with ``skip_bad``, lines that the task names
        as bad (``FILE:LINE: ...``) are reported through ``on_skip(message)`` and left out."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"INPUT: expected a file to predict on, got {shown_as or path} (missing)")
        skipped: set[int] = set()
        current = path
        while True:
            try:
                return self._read(current)
            except UnicodeDecodeError as error:
                line = path.read_bytes()[: error.start].count(b"\n") + 1
                raise ValueError(f"{shown_as or path}: line {line}: not UTF-8 text "
                                 f"(byte {error.object[error.start]:#04x}); save the file as UTF-8") from None
            except ValueError as error:
                message = str(error).replace(str(current), shown_as or str(path))
                number = _bad_line(str(error), current)
                if not skip_bad or number is None or number in skipped:
                    raise ValueError(message) from None
                skipped.add(number)
                if on_skip is not None:
                    on_skip(f"skipped {message}")
                current = _without_lines(path, skipped)

    def _read(self, path: Path):
        return self.task.read_input(path, self.state, self.cfg)

    def predict_file(self, path: str | Path, top_k: int = 1, skip_bad: bool = False, on_skip=None,
                     shown_as: str | None = None) -> list[Prediction]:
        sets, display = self.read(path, skip_bad, on_skip, shown_as)
        out = self.predict_sets(sets, display, top_k)
        if shown_as:
            for p in out:
                p.source = p.source.replace(str(path), shown_as)
        return out


def _task_predictor(folder: str | Path):
    """``task.predictor(folder)`` where the run's task has one (same ``predict_file``), else None."""
    import yaml

    from .tasks import get_task

    path = Path(folder) / "config.yaml"
    if not path.is_file():
        return None
    task = get_task(yaml.safe_load(path.read_text(encoding="utf-8"))["task"])
    return task.predictor(folder) if hasattr(task, "predictor") else None


def _bad_line(message: str, path: Path) -> int | None:
    match = re.search(re.escape(str(path)) + r":(\d+)", message)
    return int(match.group(1)) if match else None


def _without_lines(path: Path, lines: set[int]) -> Path:
    """A copy of ``path`` with ``lines`` blanked (numbering kept), beside a temporary name."""
    import tempfile

    text = path.read_text(encoding="utf-8").split("\n")
    kept = ["" if i + 1 in lines else line for i, line in enumerate(text)]
    folder = Path(tempfile.mkdtemp(prefix="selfattn-predict-"))
    copy = folder / path.name
    copy.write_text("\n".join(kept), encoding="utf-8")
    return copy


def format_predictions(predictions: list[Prediction], fmt: str = "text", top_k: int = 1) -> str:
    """``text``: each task's own lines (``--top-k`` > 1 adds the alternatives); ``jsonl``: one
    JSON object per input set; ``csv``: one row per label (per vector for vector tasks)."""
    if fmt == "jsonl":
        return "".join(json.dumps(p.to_dict()) + "\n" for p in predictions)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["source", "index", "input", "label", "probability", "top"])
        for p in predictions:
            for row in _csv_rows(p):
                writer.writerow(row)
        return buffer.getvalue()
    if fmt != "text":
        raise ValueError(f"--format: expected text, jsonl or csv, got {fmt!r}")
    lines = []
    for p in predictions:
        lines.append(p.line)
        if top_k > 1 and p.top:
            tops = p.top if isinstance(p.labels, list) else [p.top]
            for i, alternatives in enumerate(tops):
                shown = ", ".join(f"{label} {prob:.3f}" for label, prob in alternatives)
                lines.append(f"  {i + 1}: {shown}" if isinstance(p.labels, list) else f"  {shown}")
    return "\n".join(lines) + "\n" if lines else ""


def _csv_rows(p: Prediction):
    def top(alternatives):
        return " ".join(f"{label}:{prob:.4f}" for label, prob in alternatives)

    if isinstance(p.labels, list):
        same = isinstance(p.input, list) and len(p.input) == len(p.labels)
        items = p.input if same else range(len(p.labels))
        for i, (item, label, score, alternatives) in enumerate(zip(items, p.labels, p.score, p.top,
                                                                  strict=True)):
            yield [p.source, i + 1, item, label, f"{score:.6f}", top(alternatives)]
    elif p.labels is not None:
        yield [p.source, 1, p.input, p.labels, f"{p.score:.6f}", top(p.top)]
    elif p.value is not None:
        yield [p.source, 1, p.input, f"{p.value:.6g}", "", ""]
    else:
        yield [p.source, 1, p.input, p.text if p.text is not None else p.line, "", ""]


def predict(folder: str | Path, path: str | Path, batch_size: int = 32) -> list[str]:
    """The task's output lines for the sets of ``path``: one per set (per node for a graph)."""
    predictor = Predictor.from_run(folder)
    sets, display = predictor.read(path)
    lines: list[str] = []
    for p in predictor.predict_sets(sets, display, batch_size=batch_size):
        lines.extend(p.line.split("\n"))
    return lines
