"""``selfattn eval``: a run's figure from what it saved, or the same model on other data."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError
from .loading import load_run, split_fingerprint
from .tasks import get_task
from .trainer import quiet_lightning, test_model

__all__ = ["eval_data_config", "evaluate"]


def eval_data_config(cfg: dict, data: str | None, overrides: list[str]) -> tuple[dict, str, str]:
    """``(config, split, name)`` to score a run on: its own test split, or ``data`` (a preset
    of the same task: its test split; or a file in the task's format: all of it), with
    ``data.key=value`` overrides (``data.label_map=...``)."""
    from .config import merge, parse_overrides
    from .tasks import PRESETS

    out = json.loads(json.dumps(cfg))
    split, name = "test", "test"
    if data is not None:
        if data in PRESETS:
            if PRESETS[data]["task"] != cfg["task"]:
                same = sorted(n for n, p in PRESETS.items() if p["task"] == cfg["task"])
                raise ConfigError(f"--data: preset {data!r} is task {PRESETS[data]['task']!r}, the run is "
                                  f"{cfg['task']!r}; expected one of {same} or a file")
            from .config import resolve_config

            out["data"] = resolve_config(data)["data"]
            name = data
        else:
            path = Path(data)
            if not path.exists():
                raise FileNotFoundError(f"--data: expected a preset name or a file, got {data} (no such "
                                        "preset or file)")
            out["data"]["path"], split, name = str(path), "all", path.stem
    extra = parse_overrides(overrides)
    if set(extra) - {"data"}:
        raise ConfigError(f"{sorted(set(extra) - {'data'})[0]}: eval takes data.* overrides only (the model "
                          "is the run's)")
    out = merge(out, extra)
    get_task(out["task"]).check_data(out["data"])
    return out, split, name


def evaluate(folder: str | Path, data: str | None = None, overrides: list[str] | None = None,
             log: Callable[[str], None] = print) -> dict:
    """Test metrics of a run's best weights, from what the run saved alone.

    Without ``data``: the run's own test split, encoded with its saved vocabularies and
    labels, under the config its weights were trained with (edits of ``config.yaml`` change
    nothing), checked against the split's fingerprint in ``splits.json``: if the data
    changed since training, it stops instead of reporting another figure. With ``data``
    (a preset or a file) and ``data.*`` overrides: that data, scored by the same model."""
    from ..data import SetDataset
    from .tasks.base import TaskData

    quiet_lightning()
    folder = Path(folder)
    cfg, task, spec, state, model = load_run(folder)
    overrides = list(overrides or [])
    eval_cfg, split, name = eval_data_config(cfg, data, overrides)
    other = data is not None or bool(overrides)
    try:
        test = task.eval_sets(eval_cfg, state, split)
    except NotImplementedError:
        if other:
            raise ConfigError(f"--data: task {task.name!r} cannot be scored on other data yet; "
                              "'selfattn eval RUN' scores its own test split") from None
        rebuilt = task.rebuild(cfg, state)
        test = rebuilt.test
    recorded = _recorded_fingerprint(folder)
    if not other and recorded and split_fingerprint(test) != recorded:
        raise ValueError(f"{folder}: the test split rebuilt from the run's data differs from the one it "
                         f"was tested on (splits.json); the data ({_data_source(cfg)}) changed since "
                         "training, so its figure cannot be reproduced from it")
    if len(test) == 0:
        raise ValueError(f"--data: no labelled sets found in {_data_source(eval_cfg)}")
    empty = SetDataset([])
    cfg["trainer"]["progress"] = False
    results = test_model(cfg, task, TaskData(empty, empty, test, spec, state), model, None)
    results.update({"data": _data_source(eval_cfg), "split": split, "sets": len(test)})
    target = folder / ("eval.json" if not other else f"eval-{name}.json")
    target.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def _recorded_fingerprint(folder: Path) -> str | None:
    try:
        return json.loads((folder / "splits.json").read_text(encoding="utf-8"))["test"]["sha256"]
    except (OSError, ValueError, KeyError):
        return None


def _data_source(cfg: dict) -> str:
    d = cfg["data"]
    return str(d.get("path") or d.get("corpus") or d.get("source") or d.get("name") or cfg["preset"])
