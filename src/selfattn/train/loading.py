"""A run directory back into memory: its config, task, data spec, saved state and model.

``load_run`` reads only what the run saved; the config is the one kept inside
``model.safetensors`` (``trained_config``), so editing ``config.yaml`` changes nothing.
``split_fingerprint`` is the digest ``splits.json`` keeps of each split.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import yaml

from .checkpoint import load_weights, weights_metadata
from .config import check_config, complete_config
from .tasks import get_task

__all__ = ["build_task_model", "load_run", "split_fingerprint", "trained_config"]


def build_task_model(cfg: dict, spec: dict) -> torch.nn.Module:
    """The model a config describes, for data with ``spec``."""
    model_cfg = dict(cfg["model"])
    if model_cfg["kind"] == "pretrained":
        from .tasks.pretrained_models import pretrained_folder

        model_cfg["pretrained"] = str(pretrained_folder(model_cfg["pretrained"]))
    custom = getattr(get_task(cfg["task"]), "build_model", None)  # a task with a model of its own
    if custom is not None:
        return custom(model_cfg, spec)
    if spec["task"] == "seq2seq":
        from ..nn.seq2seq import build_seq2seq

        return build_seq2seq(model_cfg, spec)
    from ..nn.model import build_model
    from .config import packed_training

    model_cfg["packed"] = packed_training(cfg)  # trainer.packed, auto resolved per task
    return build_model(model_cfg, spec)


def split_fingerprint(sets) -> str:
    """SHA-256 of a split's encoded sets (inputs, labels, shapes, in order): a rebuilt split
    that differs from the one a run was tested on, in any set or id, gives another digest."""
    digest = hashlib.sha256()
    for example in sets.examples:
        for t in (example.x, example.y):
            if isinstance(t, torch.Tensor):
                digest.update(f"{tuple(t.shape)}{t.dtype}".encode())
                digest.update(t.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def trained_config(folder: str | Path) -> dict:
    """The config a run's weights were trained with: kept in ``model.safetensors`` itself
    (``config.yaml`` beside it is for reading and may be edited); older runs: ``config.yaml``."""
    folder = Path(folder)
    path = folder / "config.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"RUN: expected {path} (a run directory written by 'selfattn train'), "
                                "it is missing")
    weights = folder / "model.safetensors"
    text = weights_metadata(weights).get("config", "") if weights.is_file() else ""
    if "\n" not in text:  # runs written before the config travelled with the weights
        text = path.read_text(encoding="utf-8")
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not a YAML config ({error})") from None
    return complete_config(cfg)


def load_run(folder: str | Path) -> tuple[dict, Any, dict, dict, torch.nn.Module]:
    """``(config, task, spec, state, model with the best weights)`` of a run directory."""
    folder = Path(folder)
    for name in ("config.yaml", "spec.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"RUN: expected {folder / name} (a run directory written by "
                                    "'selfattn train'), it is missing")
    cfg = trained_config(folder)
    check_config(cfg)
    task = get_task(cfg["task"])
    spec = json.loads((folder / "spec.json").read_text(encoding="utf-8"))
    state = task.load_state(folder)
    model = build_task_model(cfg, spec)
    weights = folder / "model.safetensors"
    if not weights.is_file():
        best = folder / "checkpoints" / "best.safetensors"
        raw = load_weights(best)
        state_dict = {k.removeprefix("model."): v for k, v in raw.items() if k.startswith("model.")}
    else:
        state_dict = load_weights(weights)
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1].strip()
        raise ValueError(f"{weights}: the weights do not fit the model its config describes ({first})") \
            from None
    return cfg, task, spec, state, model.eval()
