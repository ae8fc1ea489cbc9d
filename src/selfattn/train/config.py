"""Run configs: defaults, presets, YAML files and ``key=value`` overrides, checked up front.

A config is a nested dict with five parts: ``task`` (a name from ``selfattn.train.tasks``),
``data`` (the task's options), ``model`` (encoder, positional scheme, attention variant
and pattern, head), ``optim`` and ``trainer``, plus ``run`` (where and what to write).
``resolve_config(preset, file, overrides)`` merges, in order: the defaults below, the
task's data defaults, the preset (``selfattn train pos`` = preset ``pos``), a YAML file
(``--config``) and ``model.width=256``-style overrides (values parsed as YAML).

``check_config`` runs before any data is read or model built: every unknown key, bad
name or impossible combination (an unknown attention variant, a window on a graph, heads
that do not divide the width) raises ``ConfigError`` listing the valid choices.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["DEFAULTS", "ConfigError", "check_config", "load_yaml", "merge", "packed_training",
           "parse_overrides", "resolve_config"]


DEFAULTS: dict[str, Any] = {
    "task": None,
    "preset": None,
    "seed": 0,
    "data": {},
    "model": {
        # transformer | pretrained | mlp | window_mlp | cnn | cnn2d | rnn | lstm | gru
        "kind": "transformer",
        "width": 128, "depth": 2, "heads": 4, "ff": 0, "dropout": 0.1, "norm": "pre",
        "attention": "full", "attention_options": {},
        "positional": "sinusoidal", "positional_options": {},
        "pattern": "none", "window": 8,
        "pooling": "mean", "head_hidden": 0,
        "conv_kernel": 3, "bidirectional": True,  # conv_kernel: cnn / cnn2d width (odd)
        "pretrained": None, "decoder_depth": 2,
    },
    "optim": {"lr": 1e-3, "weight_decay": 0.01, "warmup_steps": 100, "schedule": "cosine",
              "min_lr_ratio": 0.05, "label_smoothing": 0.0, "layer_decay": 1.0},
    "trainer": {"max_epochs": 20, "max_time_s": None, "patience": 5, "precision": "32-true",
                "accelerator": "cpu", "devices": 1, "strategy": "auto", "gradient_clip_val": 1.0,
                "batch_size": 32, "max_tokens": None, "eval_batch_size": 64, "progress": True,
                "limit_train_batches": None, "num_threads": None, "deterministic": False,
                "checkpoint_every_n_steps": 100, "logger": "none", "sequence_parallel": 1,
                # packed: the encoder runs on the real vectors only (padding removed once);
                # auto = the task's measured default (packed_training)
                "packed": "auto"},
    "run": {"dir": None, "root": "runs", "attention_examples": 3, "plots": True, "beam_size": 4,
            "decode_limit": None, "chunk_seconds": 30.0},
}

MODEL_KINDS = ("transformer", "pretrained", "mlp", "window_mlp", "cnn", "cnn2d", "rnn", "lstm", "gru")
PRECISIONS = ("32-true", "32", "bf16-mixed", "bf16-true", "16-mixed", "64-true")
SCHEDULES = ("cosine", "linear", "constant")
LOGGERS = ("none", "csv", "tensorboard")  # Lightning's loggers, writing under RUN/logs/
NORMS = ("pre", "post")


# keys renamed since runs were first saved: old name -> new name (dotted). A user's config
# with the old name is told the new one; a saved run's config is read with it renamed.
RENAMED = {"model.kernel": "model.conv_kernel"}


def upgrade_saved(saved: dict) -> dict:
    """A saved run's config (a new dict) with the keys of ``RENAMED`` under their new names."""
    out = copy.deepcopy(saved)
    for old, new in RENAMED.items():
        section, key = old.split(".")
        part = out.get(section)
        if isinstance(part, dict) and key in part:
            part[new.split(".")[1]] = part.pop(key)
    return out


def merge(base: dict, update: dict, where: str = "") -> dict:
    """``base`` updated recursively by ``update`` (a new dict); unknown keys raise."""
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        path = f"{where}{key}"
        if path in RENAMED:
            raise ConfigError(f"{path}: renamed; use {RENAMED[path]}")
        if key not in out:
            raise ConfigError(f"{path}: unknown key; expected one of {sorted(out)}")
        if isinstance(out[key], dict) and out[key] and isinstance(value, dict):
            out[key] = merge(out[key], value, path + ".")
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader reading numbers as YAML 1.2 does: ``5e-5`` and ``1e3`` are floats
    (YAML 1.1, PyYAML's default, reads them as strings)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def _yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: safe


def parse_overrides(items: list[str]) -> dict:
    """``["model.width=64", "trainer.max_epochs=3"]`` -> nested dict (values parsed as YAML)."""
    out: dict = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"override {item!r}: expected key=value, e.g. model.width=64")
        try:
            value = _yaml(raw) if raw != "" else None
        except yaml.YAMLError as error:
            raise ConfigError(f"override {item!r}: value is not valid YAML ({error})") from None
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part} is both a value and a section")
        node[parts[-1]] = value
    return out


def load_yaml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config: expected a YAML file, got {path} (missing)")
    try:
        data = _yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (task, data, model, ...), "
                          f"got {type(data).__name__}")
    return data


def complete_config(saved: dict) -> dict:
    """A saved run config with the keys added to ``selfattn`` since it was written, at their
    defaults (which are what the run used: a new key's default keeps the old behaviour)."""
    from .tasks import get_task

    if "task" not in saved:
        raise ConfigError("task: expected the task name in the saved config, it is missing")
    task = get_task(saved["task"])
    cfg = copy.deepcopy(DEFAULTS)
    cfg["data"] = copy.deepcopy(task.data_defaults)
    cfg["model"].update(copy.deepcopy(task.model_defaults))  # a task may add model keys of its own
    saved = upgrade_saved(saved)
    cfg = merge(cfg, {k: v for k, v in saved.items() if k not in ("task", "preset")})
    cfg["task"], cfg["preset"] = saved["task"], saved.get("preset", saved["task"])
    return cfg


def resolve_config(preset: str, file: str | Path | None = None, overrides: list[str] | None = None
                   ) -> dict:
    """The full config of a run: defaults < task data defaults < preset < file < overrides."""
    from .tasks import PRESETS, get_task

    if preset not in PRESETS:
        raise ConfigError(f"TASK: expected one of {sorted(PRESETS)}, got {preset!r}")
    layers = [PRESETS[preset]]
    if file is not None:
        layers.append(load_yaml(file))
    layers.append(parse_overrides(overrides or []))
    task_name = PRESETS[preset]["task"]
    for layer in layers[1:]:
        if layer.get("task", task_name) != task_name:
            raise ConfigError(f"task: the preset {preset!r} is task {task_name!r}, the config says "
                              f"{layer['task']!r}")
    task = get_task(task_name)
    cfg = copy.deepcopy(DEFAULTS)
    cfg["data"] = copy.deepcopy(task.data_defaults)
    cfg["model"].update(copy.deepcopy(task.model_defaults))  # a task may add model keys of its own
    for layer in layers:
        cfg = merge(cfg, layer)
    cfg["task"], cfg["preset"] = task_name, cfg.get("preset") or preset
    check_config(cfg)
    return cfg


def _choice(key: str, value: Any, valid: list | tuple) -> None:
    if value not in valid:
        raise ConfigError(f"{key}: expected one of {list(valid)}, got {value!r}")


def _positive(key: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key}: expected a positive number, got {value!r}")


# trainer keys that hold for every task, Lightning's loop or a task's own
_ANY_LOOP = ("num_threads", "progress", "packed", "sequence_parallel")


def _check_own_loop(cfg: dict, task) -> None:
    """A task that trains in its own loop (``fit``: DETR, SAGAN, the conv-stem image models) reads
    only the trainer, optim and model keys it names in ``loop_keys``; any other key of those
    sections changed from its default would be ignored without a word
    (``trainer.limit_train_batches=40`` still trained every batch, ``optim.schedule=linear`` kept
    the cosine), so it is refused, naming the keys that work."""
    honoured = getattr(task, "loop_keys", None)
    if not hasattr(task, "fit") or honoured is None:
        return
    defaults = {"trainer": DEFAULTS["trainer"], "optim": DEFAULTS["optim"],
                "model": {**DEFAULTS["model"], **task.model_defaults}}
    for section, values in defaults.items():
        for key, default in values.items():
            given = cfg[section].get(key)
            if key in honoured[section] or (section == "trainer" and key in _ANY_LOOP) or given == default:
                continue
            raise ConfigError(f"{section}.{key}: task {task.name!r} trains in its own loop, which does not "
                              f"use it (expected the default {_shown(default)}, got {_shown(given)}); its "
                              f"loop reads {section}.{f', {section}.'.join(honoured[section])}")


def _shown(value) -> str:
    """A value as it is written in a config or an override (``null``, not ``None``)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def check_config(cfg: dict) -> None:
    """Raise ``ConfigError`` for anything that would fail later (see the module doc)."""
    from ..nn.heads import POOLINGS
    from .tasks import TASKS, get_task

    if cfg.get("task") not in TASKS:
        raise ConfigError(f"task: expected one of {sorted(TASKS)}, got {cfg.get('task')!r}")
    task = get_task(cfg["task"])
    unknown = sorted(set(cfg) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown section; expected one of {sorted(DEFAULTS)}")
    m, o, t = cfg["model"], cfg["optim"], cfg["trainer"]
    kinds = ["transformer"] if task.kind == "seq2seq" else [k for k in MODEL_KINDS if k in task.model_kinds]
    _choice("model.kind", m["kind"], kinds)
    for key in ("width", "depth"):
        if not isinstance(m[key], int) or m[key] < 1:
            raise ConfigError(f"model.{key}: expected a positive integer, got {m[key]!r}")
    if not 0 <= float(m["dropout"]) < 1:
        raise ConfigError(f"model.dropout: expected a probability in [0, 1), got {m['dropout']!r}")
    if task.kind == "set":
        _choice("model.pooling", m["pooling"], POOLINGS)
    if m["kind"] == "pretrained" and not m["pretrained"]:
        raise ConfigError("model.pretrained: expected a checkpoint folder (config.json, "
                          "model.safetensors) or 'minilm' for model.kind=pretrained, got None")
    if m["kind"] == "cnn2d" and "grid" not in task.patterns:
        raise ConfigError(f"model.kind: 'cnn2d' needs image sets with a grid; task {task.name!r} "
                          f"has none; expected one of {[k for k in kinds if k != 'cnn2d']}")
    if m["kind"] == "transformer":
        _check_attention(m, task)
    _choice("optim.schedule", o["schedule"], SCHEDULES)
    _positive("optim.lr", o["lr"])
    if isinstance(o["layer_decay"], bool) or not isinstance(o["layer_decay"], (int, float)) \
            or not 0 < float(o["layer_decay"]) <= 1:
        raise ConfigError(f"optim.layer_decay: expected a number in (0, 1] (each block's learning rate "
                          f"relative to the one above; 1 = the same everywhere), got {o['layer_decay']!r}")
    _choice("trainer.precision", str(t["precision"]), PRECISIONS)
    _positive("trainer.max_epochs", t["max_epochs"])
    _positive("trainer.batch_size", t["batch_size"], allow_none=True)
    _positive("trainer.max_tokens", t["max_tokens"], allow_none=True)
    _positive("trainer.max_time_s", t["max_time_s"], allow_none=True)
    _choice("trainer.logger", t["logger"], LOGGERS)
    every = t["checkpoint_every_n_steps"]
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError(f"trainer.checkpoint_every_n_steps: expected an integer >= 0 (0 = after each "
                          f"epoch only), got {every!r}")
    if (t["batch_size"] is None) == (t["max_tokens"] is None):
        raise ConfigError("trainer.batch_size, trainer.max_tokens: give exactly one (set the other "
                          f"to null), got {t['batch_size']!r} and {t['max_tokens']!r}")
    _check_sequence_parallel(cfg, task)
    _check_packed(cfg, task)
    _check_own_loop(cfg, task)
    task.check_data(cfg["data"])
    if hasattr(task, "check_model"):  # the model keys a task adds (model_defaults)
        task.check_model(m)


# What trainer.sequence_parallel can shard along time (selfattn.train.sequence_parallel):
# per-position layers and self-attention that the ring computes exactly.
SEQUENCE_PARALLEL_MODELS = ("transformer", "mlp")
SEQUENCE_PARALLEL_POSITIONS = ("none", "sinusoidal", "learned", "rope")
SEQUENCE_PARALLEL_PATTERNS = ("none", "window")


def _check_sequence_parallel(cfg: dict, task) -> None:
    """``trainer.sequence_parallel=N``: each sequence split along time over N processes."""
    n, t, m = cfg["trainer"]["sequence_parallel"], cfg["trainer"], cfg["model"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"trainer.sequence_parallel: expected a positive integer (processes that "
                          f"share each sequence; 1 = off), got {n!r}")
    if n == 1:
        return
    key = "trainer.sequence_parallel"
    if task.kind != "vector" or getattr(task, "target", None) not in ("class", "multilabel"):
        raise ConfigError(f"{key}: task {task.name!r} ({task.kind} task, target "
                          f"{getattr(task, 'target', None)!r}) cannot be split along time (its loss "
                          "needs whole sequences); expected 1, or a task with a label per vector "
                          "(class or multilabel), e.g. diarization or phonemes")
    if m["kind"] not in SEQUENCE_PARALLEL_MODELS:
        raise ConfigError(f"{key}: model.kind={m['kind']!r} looks across shard boundaries "
                          f"(no halo exchange for it); expected model.kind in "
                          f"{list(SEQUENCE_PARALLEL_MODELS)}, or {key}=1")
    if m["kind"] == "transformer":
        for name, value, valid in (("attention", m["attention"], ("full", "mha")),
                                   ("positional", m["positional"], SEQUENCE_PARALLEL_POSITIONS),
                                   ("pattern", m["pattern"], SEQUENCE_PARALLEL_PATTERNS)):
            if value not in valid:
                raise ConfigError(f"{key}: ring attention computes model.{name} in {list(valid)} "
                                  f"exactly across shards, got model.{name}={value!r}; expected "
                                  f"one of those, or {key}=1")
        if float(m["dropout"]) > 0:
            raise ConfigError(f"{key}: ring attention has no dropout on the attention weights; "
                              f"expected model.dropout=0, got {m['dropout']!r}")
    devices = t["devices"]
    if isinstance(devices, bool) or not isinstance(devices, int) or devices % n:
        raise ConfigError(f"{key}: expected trainer.devices a multiple of {n} (each group of {n} "
                          f"processes shares one batch; with torchrun, --nproc-per-node), got "
                          f"trainer.devices={devices!r}")
    if t.get("packed") is True:
        raise ConfigError(f"{key}: shards padded batches along time; expected trainer.packed=false, "
                          f"got {t['packed']!r}")


def _packed_blocker(cfg: dict, task) -> str | None:
    """Why this config's model cannot run packed (``trainer.packed``), or None."""
    if task.kind == "seq2seq" or hasattr(task, "build_model") or hasattr(task, "fit"):
        return f"task {task.name!r} builds a model of its own, which has no packed path"
    if cfg.get("trainer", {}).get("sequence_parallel", 1) != 1:
        return "trainer.sequence_parallel > 1 shards padded batches along time"
    from ..nn.model import packing_blocker

    return packing_blocker(cfg["model"], task.kind)


def _check_packed(cfg: dict, task) -> None:
    """``trainer.packed``: true, false, or auto (the task's measured default)."""
    value = cfg["trainer"]["packed"]
    if not (isinstance(value, bool) or value == "auto"):
        raise ConfigError(f"trainer.packed: expected true, false or auto (the task's measured default), "
                          f"got {value!r}")
    reason = _packed_blocker(cfg, task) if value is True else None
    if reason:
        raise ConfigError(f"trainer.packed: {reason}; expected trainer.packed=false (or auto)")


def packed_training(cfg: dict) -> bool:
    """Whether a checked config's model runs packed: ``trainer.packed``, with ``auto`` resolved
    to the task's ``packed_default`` (set where ``benchmarks/packed_training.py`` measured
    packing faster) when the model can be packed."""
    from .tasks import get_task

    value = cfg.get("trainer", {}).get("packed", "auto")
    if value != "auto":
        return bool(value)
    task = get_task(cfg["task"])
    return bool(getattr(task, "packed_default", False)) and _packed_blocker(cfg, task) is None


def _check_attention(m: dict, task) -> None:
    heads = m["heads"]
    if not isinstance(heads, int) or isinstance(heads, bool) or heads < 1 or m["width"] % heads:
        divisors = [h for h in range(1, m["width"] + 1) if m["width"] % h == 0]
        raise ConfigError(f"model.heads: expected a divisor of model.width={m['width']} "
                          f"(one of {divisors}), got {m['heads']!r}")
    _choice("model.norm", m["norm"], NORMS)
    window = m["window"]
    if m["pattern"] in ("window", "grid") and (isinstance(window, bool) or not isinstance(window, int)
                                               or window < 1):
        raise ConfigError(f"model.window: expected a positive integer (keys on each side of a query), "
                          f"got {m['window']!r}")
    try:
        from ..nn.variants import ATTENTION_VARIANTS, attention_names
        names = attention_names()
    except ImportError:  # variants not installed yet: full attention only
        ATTENTION_VARIANTS, names = {}, ["full"]
    _choice("model.attention", m["attention"], names)
    from ..positional import SCHEMES

    _choice("model.positional", m["positional"], list(SCHEMES))
    if m["pattern"] not in task.patterns:
        raise ConfigError(f"model.pattern: expected one of {list(task.patterns)} for task {task.name!r} "
                          f"({task.kind} task on {task.modality}), got {m['pattern']!r}")
    if m["attention"] not in ("full", "mha"):
        cls = ATTENTION_VARIANTS.get(m["attention"])
        supports = getattr(cls, "supports", {})
        if SCHEMES[m["positional"]][0].where == "attention":
            inputs = [n for n, (c, _) in SCHEMES.items() if c.where == "inputs"]
            raise ConfigError(f"model.positional: {m['positional']!r} works inside full attention only; "
                              f"with model.attention={m['attention']!r} expected one of {inputs}")
        if m["pattern"] != "none" and not supports.get("mask", False):
            ok = [n for n, c in ATTENTION_VARIANTS.items() if getattr(c, "supports", {}).get("mask", True)]
            raise ConfigError(f"model.pattern: {m['pattern']!r} needs an attention that takes a mask; "
                              f"{m['attention']!r} does not; expected model.attention in {ok}")
