"""What a task is to the trainer: data in, a kind of output, metrics, and its saved state.

A :class:`Task` turns its ``data`` config into :class:`TaskData`: train / validation /
test :class:`~selfattn.data.SetDataset` s, a JSON ``spec`` the model factory reads
(``selfattn.nn.model.build_model``), and a ``state`` (vocabularies, label names) that is
saved in the run directory so ``selfattn predict`` can featurize new input the same way.

Task kinds: ``"vector"`` (a label per vector), ``"set"`` (one label per set) and
``"seq2seq"`` (a target sequence). Targets: ``"class"``, ``"multilabel"`` (several 0/1
labels per vector), ``"regression"`` and ``"sequence"``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from ...data import SetDataset, VectorSet

__all__ = ["Task", "TaskData", "check_label_options", "feature_stats", "label_encoder", "limit",
           "standardize_targets"]


@dataclass
class TaskData:
    """The three splits, the model's data ``spec`` and the ``state`` predict needs."""

    train: SetDataset
    validation: SetDataset
    test: SetDataset
    spec: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def limit(data: SetDataset, n: int | None) -> SetDataset:
    """The first ``n`` sets (all when ``n`` is None): quick runs and tests."""
    return data if n is None else data.subset(range(min(int(n), len(data))))


def standardize_targets(train: SetDataset) -> tuple[list[float], list[float]]:
    """Mean and standard deviation of the training targets (per output), for regression."""
    ys = torch.stack([e.y.float().reshape(-1) for e in train.examples])
    return ys.mean(0).tolist(), ys.std(0).clamp_min(1e-6).tolist()


def feature_stats(train: SetDataset) -> tuple[list[float], list[float]]:
    """Per-feature mean and standard deviation of the training vectors (to standardise inputs)."""
    x = torch.cat([e.x for e in train.examples]).double()
    return x.mean(0).float().tolist(), x.std(0).clamp_min(1e-4).float().tolist()


def check_label_options(d: dict) -> None:
    """``data.label_map`` (a dict of label -> label) and ``data.unknown_labels`` (error | ignore)."""
    from ..errors import ConfigError

    mapping = d.get("label_map") or {}
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in mapping.items()):
        raise ConfigError(f"data.label_map: expected a mapping of the data's labels to the run's, e.g. "
                          f"{{'\"': \"''\"}}, got {mapping!r}")
    if d.get("unknown_labels", "error") not in ("error", "ignore"):
        raise ConfigError(f"data.unknown_labels: expected 'error' or 'ignore' (leave such items out of "
                          f"the metrics), got {d['unknown_labels']!r}")


def label_encoder(classes: list[str], d: dict):
    """``encode(labels, where) -> ids`` for a trained run's ``classes``: each label renamed by
    ``data.label_map``, then looked up; a label the run never saw raises a ``ValueError`` that
    names it, ``where`` and the run's labels, or becomes ``-100`` (left out of the metrics)
    with ``data.unknown_labels=ignore``."""
    index = {c: i for i, c in enumerate(classes)}
    mapping, ignore = d.get("label_map") or {}, d.get("unknown_labels", "error") == "ignore"

    def encode(labels: list[str], where: str) -> list[int]:
        out = []
        for label in labels:
            label = mapping.get(label, label)
            if label in index:
                out.append(index[label])
            elif ignore:
                out.append(-100)
            else:
                hint = json.dumps({label: "LABEL"})
                raise ValueError(
                    f"{where}: label {label!r} is not one the run was trained on ({len(classes)} labels: "
                    f"{' '.join(classes)}); rename it with data.label_map='{hint}' or "
                    "leave such items out with data.unknown_labels=ignore")
        return out

    return encode


class Task:
    """Base class; subclasses set the class attributes and implement ``build``."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "set"            # vector | set | seq2seq
    target: ClassVar[str] = "class"        # class | multilabel | regression | sequence
    modality: ClassVar[str] = "sequences"  # what the sets are, for error messages
    patterns: ClassVar[tuple[str, ...]] = ("none", "window")
    model_kinds: ClassVar[tuple[str, ...]] = ("transformer", "mlp", "window_mlp", "cnn", "rnn", "lstm", "gru")
    data_defaults: ClassVar[dict[str, Any]] = {}
    model_defaults: ClassVar[dict[str, Any]] = {}
    layout_labels: ClassVar[str] = "set"   # the collate labels= kind
    unit: ClassVar[str] = ""               # what one label belongs to, in reports ("token accuracy")
    data_format: ClassVar[str] = ""        # what a data.path file holds (selfattn train TASK --help)

    def monitor(self, spec: dict) -> tuple[str, str]:
        """The validation metric that picks the best checkpoint and stops early, and its mode."""
        return {"class": ("val_acc", "max"), "multilabel": ("val_f1", "max"),
                "regression": ("val_rmse", "min"), "sequence": ("val_loss", "min")}[spec["target"]]

    def check_data(self, data_cfg: dict) -> None:
        """Raise ``ConfigError`` for bad data options (unknown keys are caught by merge)."""

    def build(self, cfg: dict) -> TaskData:
        raise NotImplementedError

    def rebuild(self, cfg: dict, state: dict[str, Any]) -> TaskData:
        """The data of a run made before (``--resume``, ``eval``), given the state it saved.

        The default builds again from the config (every step is seeded); a task whose build
        learns something non-deterministic (a BPE vocabulary) reuses what ``state`` kept."""
        return self.build(cfg)

    def eval_sets(self, cfg: dict, state: dict[str, Any], split: str) -> SetDataset:
        """Labelled sets of ``cfg['data']`` (its ``test`` split, or ``all`` of it) encoded with
        a trained run's ``state`` alone (its vocabularies and label list), for ``selfattn eval``.
        A task without it is evaluated on its rebuilt test split, checked against the
        fingerprint the run recorded."""
        raise NotImplementedError

    def init_model(self, model: torch.nn.Module, data: TaskData, cfg: dict) -> None:
        """Set data-derived parts before training (feature statistics, target scaling)."""
        spec = data.spec
        if "target_mean" in spec and hasattr(model, "target_mean"):
            model.target_mean.copy_(torch.tensor(spec["target_mean"]))
            model.target_std.copy_(torch.tensor(spec["target_std"]))
        embed = getattr(model, "embed", None)
        if "feature_mean" in spec and hasattr(embed, "mean"):
            embed.mean.copy_(torch.tensor(spec["feature_mean"]))
            embed.std.copy_(torch.tensor(spec["feature_std"]))

    # -- what a run directory keeps ------------------------------------------------------
    def save_state(self, data: TaskData, folder: Path) -> None:
        """Write ``spec.json`` and the task's state (default: JSON-able state only)."""
        (folder / "spec.json").write_text(json.dumps(data.spec, indent=1), encoding="utf-8")
        (folder / "state.json").write_text(json.dumps(data.state, indent=1), encoding="utf-8")

    def load_state(self, folder: Path) -> dict[str, Any]:
        path = folder / "state.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    # -- predict -----------------------------------------------------------------------
    def read_input(self, path: Path, state: dict, cfg: dict) -> tuple[list[VectorSet], list[Any]]:
        """``(sets, display)``: featurized sets from a user file and what to print beside
        each prediction (the words, the file name, ...)."""
        raise NotImplementedError(f"predict: task {self.name!r} reads no input files yet")

    def format_prediction(self, display: Any, prediction: Any, state: dict) -> str:
        return f"{display}\t{prediction}"

    def reported_vectors(self, display: Any) -> list[int] | None:
        """For a vector task: which vectors of a set a prediction reports (None: all)."""
        return None

    def tokens(self, example: VectorSet, state: dict) -> list[str] | None:
        """Axis labels for attention maps (None: numbers)."""
        return None

    def class_names(self, state: dict) -> list[str] | None:
        return state.get("classes")
