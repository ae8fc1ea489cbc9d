"""A trained run as one Python object (``selfattn.load_run``), and its transformers export.

    import selfattn
    run = selfattn.load_run("runs/sentiment-minilm")
    run.model, run.config, run.classes          # the trained model (eval mode), its config, labels
    [p] = run.predict(["a gripping, funny film"], top_k=2)
    p.labels, p.probabilities                   # 'fresh', tensor (2,)
    run.export_transformers("exported/")        # config.json + model.safetensors (+ tokenizer)

:class:`Run` holds what :func:`selfattn.train.load_run` reads from a run directory (the
config kept inside ``model.safetensors``, the saved vocabularies and labels, the best
weights) and predicts through :class:`~selfattn.train.Predictor`.

**Export** (runs of ``model.kind=pretrained`` only: their encoder *is* a BERT-family
checkpoint, fine-tuned): the folder written is the original checkpoint with the fine-tuned
values put back in its own weight names and layout, so ``transformers.AutoModel.
from_pretrained(folder)`` builds the same architecture and gives the hidden states our
encoder gives (tested). Weights the encoder does not use (a pooler, an MLM head) keep
their original values; numbers of ours that the checkpoint did not hold (none for BERT) are
listed in ``selfattn_head.json`` as ``not_exported``. The task head, which transformers knows
nothing of, goes beside it in ``selfattn_head.safetensors`` with ``selfattn_head.json``
(task, pooling, labels).

How the names are mapped back: the inverse of ``load_pretrained`` is not written out per
family (BERT, RoBERTa, ELECTRA, DistilBERT differ); instead every number of the original
checkpoint gets a unique id, a copy holding those ids is loaded with ``load_pretrained``
itself, and the ids that land in each of our parameters say where each of its numbers came
from. The mapping therefore stays the exact inverse of whatever the loader does, for every
family it reads (in two passes of ids below 2**20, exact in float32).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .loading import load_run as _load_run_parts
from .predictor import Prediction, Predictor

__all__ = ["Run", "export_transformers"]

_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
_ID_BASE = 2 ** 20   # ids are carried as two float32 numbers below this (exact)


@dataclass
class Run:
    """A run directory in memory: ``folder``, ``config``, ``task``, ``spec``, ``state``,
    ``model`` (best weights, eval mode) and ``classes`` (label names, or None)."""

    folder: Path
    config: dict
    task: Any
    spec: dict
    state: dict
    model: torch.nn.Module
    classes: list[str] | None = field(default=None)

    @classmethod
    def load(cls, folder: str | Path) -> Run:
        """Read a run directory written by ``selfattn train`` (see :func:`selfattn.load_run`)."""
        cfg, task, spec, state, model = _load_run_parts(folder)
        return cls(Path(folder), cfg, task, spec, state, model, task.class_names(state))

    @property
    def results(self) -> dict:
        """``results.json`` of the run (test metrics, wall time), or ``{}`` if it has none."""
        path = self.folder / "results.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    def predictor(self) -> Predictor:
        """A :class:`~selfattn.train.Predictor` over this run's model (no second load); a task
        with a predictor of its own (``detr``) gives that one, as ``Predictor.from_run`` does."""
        if hasattr(self.task, "predictor"):
            return self.task.predictor(self.folder)
        return Predictor(self.config, self.task, self.spec, self.state, self.model)

    def predict(self, inputs: str | Path | list[str], top_k: int = 1) -> list[Prediction]:
        """Predictions for an input file in the task's format (``selfattn predict``'s), or
        for a list of lines of that format (a sentence, a SMILES, a node id each)."""
        predictor = self.predictor()
        if isinstance(inputs, (str, Path)):
            return predictor.predict_file(inputs, top_k=top_k)
        if not isinstance(inputs, list) or not all(isinstance(s, str) and "\n" not in s for s in inputs):
            raise TypeError("inputs: expected a file path or a list of one-line strings, got "
                            f"{type(inputs).__name__}")
        with tempfile.TemporaryDirectory(prefix="selfattn-run-") as tmp:
            path = Path(tmp) / "input.txt"
            path.write_text("".join(line + "\n" for line in inputs), encoding="utf-8")
            return predictor.predict_file(path, top_k=top_k, shown_as="input")

    def export_transformers(self, folder: str | Path) -> Path:
        """Write the fine-tuned encoder as a transformers checkpoint folder (module doc)."""
        return export_transformers(self, folder)


def _pretrained_source(run: Run) -> Path:
    model_cfg = run.config["model"]
    if model_cfg.get("kind") != "pretrained":
        raise ValueError(f"{run.folder}: export_transformers needs a run of model.kind='pretrained' (a "
                         "fine-tuned BERT-family checkpoint), this run's model.kind is "
                         f"{model_cfg.get('kind')!r}")
    from .tasks.pretrained_models import pretrained_folder

    return pretrained_folder(model_cfg["pretrained"])


def _origins(source: Path, original: dict[str, torch.Tensor]) -> tuple[list[str], dict[str, torch.Tensor]]:
    """``(keys, ids)``: for each parameter of the encoder ``load_pretrained(source)`` builds,
    the int64 position (into the original tensors laid end to end, in ``keys`` order, from
    1) of each of its numbers; 0 where a number does not come from the checkpoint."""
    from safetensors.torch import save_file

    from ..nn.pretrained import load_pretrained

    keys = sorted(original)
    sizes = [original[k].numel() for k in keys]
    if sum(sizes) >= _ID_BASE ** 2:
        raise ValueError(f"{source}: too large to export ({sum(sizes)} numbers)")
    parts: list[dict[str, torch.Tensor]] = []
    with tempfile.TemporaryDirectory(prefix="selfattn-export-") as tmp:
        shutil.copy(source / "config.json", Path(tmp) / "config.json")
        for digit in (0, 1):
            tagged, start = {}, 1
            for k, n in zip(keys, sizes, strict=True):
                ids = torch.arange(start, start + n, dtype=torch.int64)
                tagged[k] = ((ids // _ID_BASE ** digit) % _ID_BASE).float().reshape(original[k].shape)
                start += n
            save_file(tagged, str(Path(tmp) / "model.safetensors"))
            parts.append({name: t.detach().double() for name, t in load_pretrained(tmp).state_dict().items()
                          if t.is_floating_point()})
    out = {}
    for name, low in parts[0].items():
        high = parts[1][name]
        if not (torch.equal(low, low.round()) and torch.equal(high, high.round())):
            raise ValueError(f"{source}: load_pretrained computes {name} from the checkpoint (not a copy of "
                             "its numbers), so it cannot be exported back")
        out[name] = high.long() * _ID_BASE + low.long()
    return keys, out


def export_transformers(run: Run, folder: str | Path) -> Path:
    """The fine-tuned encoder of ``run`` as a transformers folder at ``folder`` (created).

    Writes ``config.json`` and ``model.safetensors`` (the original checkpoint's names and
    layout), the tokenizer files of the original, and the task head as
    ``selfattn_head.safetensors`` + ``selfattn_head.json``. Returns ``folder``.
    """
    from safetensors.torch import load_file, save_file

    source = _pretrained_source(run)
    encoder = getattr(run.model, "encoder", None)
    if encoder is None or not hasattr(encoder, "config"):
        raise ValueError(f"{run.folder}: the model has no pretrained encoder to export")
    original = load_file(str(source / "model.safetensors"))
    keys, origins = _origins(source, original)
    flat = torch.cat([original[k].reshape(-1).double() for k in keys])
    flat = torch.cat([flat.new_zeros(1), flat])  # position 0: "not from the checkpoint"
    tuned = encoder.state_dict()
    learned = {name for name, _ in encoder.named_parameters()}
    not_exported = []   # parameters (partly) not read from the checkpoint: transformers has no place for them
    for name, ids in origins.items():
        from_file = ids.reshape(-1) > 0
        if not bool(from_file.all()) and name in learned:
            not_exported.append(name)
        flat[ids.reshape(-1)[from_file]] = tuned[name].detach().reshape(-1)[from_file].double().cpu()
    state, start = {}, 1
    for k in keys:
        n = original[k].numel()
        state[k] = flat[start:start + n].reshape(original[k].shape).to(original[k].dtype).contiguous()
        start += n
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(source / "config.json", out / "config.json")
    for name in _TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
    head = {f"head.{k}": v.detach().cpu().contiguous() for k, v in run.model.head.state_dict().items()}
    for buffer in ("target_mean", "target_std"):
        if hasattr(run.model, buffer):
            head[buffer] = getattr(run.model, buffer).detach().cpu().contiguous()
    save_file(head, str(out / "selfattn_head.safetensors"))
    about = {"run": str(run.folder), "task": run.config["task"], "spec_task": run.spec["task"],
             "target": run.spec.get("target"), "pooling": run.config["model"].get("pooling"),
             "classes": run.classes, "pretrained": str(run.config["model"]["pretrained"]),
             "not_exported": not_exported}
    (out / "selfattn_head.json").write_text(json.dumps(about, indent=2) + "\n", encoding="utf-8")
    return out
