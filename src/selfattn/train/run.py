"""Train, evaluate and predict: a run directory from one config, on Lightning.

``train(cfg)`` writes into the run directory::

    config.yaml          the resolved config (every default filled in)
    spec.json, state.json, field-*.txt ...   what the model and ``predict`` need
    checkpoints/best.safetensors, last.safetensors   full training state (safetensors)
    model.safetensors    the best weights alone
    metrics.json, metrics.csv   one row per epoch
    results.json         test metrics, best epoch, wall time, sizes
    learning_curves.png, attention.png (+ attention-<i>.png)

``--resume`` continues from ``checkpoints/last.safetensors`` (optimizer, schedule, epoch,
early-stopping counters and the metrics table included). ``evaluate(run)`` re-scores the
best weights on the test split; ``predict(run, file)`` labels new input.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import shutil
import socket
import sys
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import yaml

from ..data import collate
from .checkpoint import SafetensorsCheckpointIO, load_weights, save_weights, weights_metadata
from .config import ConfigError, check_config, complete_config
from .tasks import get_task

__all__ = ["build_task_model", "evaluate", "load_run", "predict", "run_directory", "run_status",
           "split_fingerprint", "train", "trained_config"]

_RUN_DIR_ENV = "SELFATTN_RUN_DIR"
STATUS = "status.json"
# Lightning 2.6 warns about a torch 2.13 deprecation on import; nothing for users to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed", "lightning.pytorch.utilities.distributed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
    # the training sampler does resume mid-epoch (ResumePoint), which Lightning cannot see
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
    warnings.filterwarnings("ignore", message=".*weights_only.*was not set.*")


def _claim(folder: Path) -> bool:
    """Create ``folder/status.json`` if no run holds ``folder`` (atomic: ``O_EXCL``)."""
    if (folder / "config.yaml").exists():  # a run made before status files existed
        return False
    try:
        fd = os.open(folder / STATUS, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(_status_record("running")))
    return True


def _status_record(status: str, error: str | None = None) -> dict:
    record = {"status": status, "pid": os.getpid(), "host": socket.gethostname(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if error:
        record["error"] = error
    return record


def run_status(folder: str | Path) -> dict:
    """A run directory's ``status.json`` (``running``, ``done`` or ``failed``; ``{}`` if none)."""
    path = Path(folder) / STATUS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _set_status(folder: Path, status: str, error: str | None = None) -> None:
    from .callbacks import atomic_write_text

    atomic_write_text(folder / STATUS, json.dumps(_status_record(status, error)))


def run_directory(cfg: dict) -> Path:
    """Claim ``run.dir`` (it must not hold a run), or the first free ``<run.root>/<preset>``,
    ``-2``, ``-3``...: the folder is made and ``status.json`` created in one atomic step
    each, so runs started at the same moment never share a directory."""
    if cfg["run"]["dir"]:
        folder = Path(cfg["run"]["dir"])
        folder.mkdir(parents=True, exist_ok=True)
        if not _claim(folder):
            held = run_status(folder).get("status", "done")
            raise ConfigError(f"run.dir: {folder} already holds a run (status: {held}); pass --resume "
                              f"{folder} to continue it, or choose another run.dir")
        return folder
    base = Path(cfg["run"]["root"]) / cfg["preset"]
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        folder = base if n == 1 else base.with_name(f"{base.name}-{n}")
        try:
            folder.mkdir()
        except FileExistsError:
            n += 1
            continue
        if _claim(folder):
            return folder
        n += 1


def _check_resumable(folder: Path) -> None:
    status = run_status(folder)
    if status.get("status") == "running" and status.get("host") == socket.gethostname() \
            and _alive(int(status.get("pid", 0))):
        raise ConfigError(f"--resume: {folder} is being trained now (process {status['pid']}); "
                          "wait for it or stop it first")


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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

    return build_model(model_cfg, spec)


def _trainer(cfg: dict, folder: Path | None, callbacks: list, devices: int | None = None):
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import TQDMProgressBar

    t = cfg["trainer"]
    precision = "32-true" if str(t["precision"]) == "32" else str(t["precision"])
    bar = progress_bar(cfg)
    if bar:
        callbacks = [*callbacks, TQDMProgressBar(refresh_rate=5)]
    return pl.Trainer(
        accelerator=t["accelerator"], devices=devices or t["devices"],
        strategy=t["strategy"] if (devices or t["devices"]) != 1 else "auto",
        precision=precision, max_epochs=int(t["max_epochs"]),
        max_time=timedelta(seconds=float(t["max_time_s"])) if t["max_time_s"] else None,
        gradient_clip_val=t["gradient_clip_val"], callbacks=callbacks,
        logger=_logger(t["logger"], folder) if folder is not None else False,
        plugins=[SafetensorsCheckpointIO()], enable_progress_bar=bar,
        enable_model_summary=folder is not None and bar, num_sanity_val_steps=0,
        limit_train_batches=t["limit_train_batches"], deterministic=bool(t["deterministic"]),
        use_distributed_sampler=False, default_root_dir=str(folder) if folder else None,
        reload_dataloaders_every_n_epochs=1,  # an epoch's batch count is its own (SetDataModule)
        log_every_n_steps=10)


def progress_bar(cfg: dict) -> bool:
    """A progress bar only where a person watches: ``trainer.progress`` and a terminal on
    stderr. Written to a file or a pipe, a run logs one line per epoch instead."""
    return bool(cfg["trainer"]["progress"]) and sys.stderr.isatty()


def _logger(kind: str, folder: Path):
    """``trainer.logger``: Lightning's CSV or TensorBoard logger under ``RUN/logs``, or none
    (``metrics.csv`` / ``metrics.json`` are written either way)."""
    if kind == "none":
        return False
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(folder), name="logs", version="")
    try:
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(save_dir=str(folder), name="logs", version="")
    except ModuleNotFoundError as error:
        raise ConfigError("trainer.logger: 'tensorboard' needs the tensorboard package "
                          f"(pip install tensorboard): {error}") from None


def _datamodule(cfg: dict, task, data):
    from .module import SetDataModule

    t = cfg["trainer"]
    return SetDataModule(data.train, data.validation, data.test, task.layout_labels, t["batch_size"],
                         t["max_tokens"], int(t["eval_batch_size"]), int(cfg["seed"]))


def train(cfg: dict, resume: str | Path | None = None, log: Callable[[str], None] = print) -> dict:
    """Run a config end to end; returns the results dict (also in ``results.json``).

    The run directory is claimed before any data is read. If training fails, a directory
    with no checkpoint yet is removed again; one with a checkpoint is marked ``failed`` in
    ``status.json`` and ``--resume`` continues it. ``--resume`` of a run killed before its
    first checkpoint starts it again from the beginning, in the same directory."""
    check_config(cfg)
    worker = os.environ.get("LOCAL_RANK", "0") != "0" and os.environ.get(_RUN_DIR_ENV)
    # A DDP worker re-runs this command: it joins the run directory its rank-0 process made.
    if worker:
        return _train_in(cfg, Path(worker), False, log)
    if resume:
        folder = Path(resume)
        _check_resumable(folder)
        _set_status(folder, "running")
        made = False
    else:
        folder = run_directory(cfg)
        made = not cfg["run"]["dir"]
    from .callbacks import atomic_write_text

    if not resume:  # written first, so that a run killed during the data build can be resumed
        atomic_write_text(folder / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
    try:
        results = _train_in(cfg, folder, bool(resume), log)
    except BaseException as error:
        if not (folder / "checkpoints" / "last.safetensors").is_file() and made and not resume:
            shutil.rmtree(folder, ignore_errors=True)   # nothing worth keeping: leave nothing
        else:
            _set_status(folder, "failed", f"{type(error).__name__}: {error}")
        raise
    _set_status(folder, "done")
    return results


def _train_in(cfg: dict, folder: Path, resume: bool, log: Callable[[str], None]) -> dict:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from .callbacks import MetricsRecorder, ResumePoint, atomic_write_text
    from .module import TaskModule

    _quiet_lightning()
    started = time.perf_counter()
    worker = os.environ.get("LOCAL_RANK", "0") != "0"
    folder.mkdir(parents=True, exist_ok=True)
    log = _tee(log, folder / "train.log", enabled=not worker)
    last = folder / "checkpoints" / "last.safetensors"
    from_checkpoint = resume and last.is_file()
    if resume and not from_checkpoint and not worker:
        log(f"{folder}: no checkpoint was written before the run stopped; training it from the start")
    folder.mkdir(parents=True, exist_ok=True)
    if cfg["trainer"]["num_threads"]:
        torch.set_num_threads(int(cfg["trainer"]["num_threads"]))
    pl.seed_everything(int(cfg["seed"]), workers=True, verbose=False)
    task = get_task(cfg["task"])
    saved = (folder / "state.json").is_file() and (resume or worker)
    data = task.rebuild(cfg, task.load_state(folder)) if saved else task.build(cfg)
    log(f"data: {len(data.train)} train / {len(data.validation)} validation / {len(data.test)} test sets "
        f"({time.perf_counter() - started:.1f} s)")
    model = build_task_model(cfg, data.spec)
    if not from_checkpoint:
        task.init_model(model, data, cfg)
    if pl.utilities.rank_zero_only.rank == 0:
        atomic_write_text(folder / "config.yaml", yaml.safe_dump(cfg, sort_keys=False))
        if not saved:
            task.save_state(data, folder)
            atomic_write_text(folder / "splits.json", json.dumps(
                {name: {"sets": len(split), "sha256": split_fingerprint(split)}
                 for name, split in (("train", data.train), ("validation", data.validation),
                                     ("test", data.test))}, indent=1))
    module = TaskModule(model, data.spec, cfg["optim"])
    monitor, mode = task.monitor(data.spec)
    ckpt = ModelCheckpoint(dirpath=folder / "checkpoints", filename="best", monitor=monitor, mode=mode,
                           save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)
    ckpt.FILE_EXTENSION = ".safetensors"
    datamodule = _datamodule(cfg, task, data)
    echo = print if cfg["trainer"]["progress"] and not progress_bar(cfg) else None
    recorder = MetricsRecorder(folder, echo=echo, total_epochs=int(cfg["trainer"]["max_epochs"]))
    # ResumePoint last: the epoch's metrics row is recorded before its checkpoint is written
    callbacks = [ckpt, recorder, EarlyStopping(monitor=monitor, mode=mode,
                                               patience=int(cfg["trainer"]["patience"])),
                 ResumePoint(last, datamodule, int(cfg["trainer"]["checkpoint_every_n_steps"]))]
    trainer = _trainer(cfg, folder, callbacks)
    os.environ[_RUN_DIR_ENV] = str(folder)
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if from_checkpoint else None)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()             # testing and plots run in process 0 alone
        torch.distributed.destroy_process_group()
    if not trainer.is_global_zero:
        return {}
    best = Path(ckpt.best_model_path) if ckpt.best_model_path else last
    if best.is_file():
        state = {k.removeprefix("model."): v for k, v in load_weights(best).items() if k.startswith("model.")}
        model.load_state_dict(state)
    else:  # stopped (max_time) before the first validation: the weights as they are
        log("no checkpoint was written before training stopped; testing the current weights")
    save_weights(model.state_dict(), folder / "model.safetensors",
                 {"config": yaml.safe_dump(cfg, sort_keys=False)})
    results = _test(cfg, task, data, model, folder)
    rows = recorder.rows
    results.update({
        "task": cfg["task"], "preset": cfg["preset"], "unit": task.unit, "seed": cfg["seed"],
        "run_dir": str(folder),
        "monitor": monitor, "best_val": _best(rows, monitor, mode), "epochs": len(rows),
        "steps": int(trainer.global_step), "wall_s": round(time.perf_counter() - started, 1),
        "train_wall_s": rows[-1]["wall_s"] if rows else None,
        "parameters": sum(p.numel() for p in model.parameters()), "data": data.info,
        "torch_threads": torch.get_num_threads(), "command": _command()})
    if cfg["run"]["plots"]:
        results["plots"] = _plots(cfg, task, data, model, folder, rows)
    atomic_write_text(folder / "results.json", json.dumps(results, indent=1, default=str))
    shown = ", ".join(f"{k} {v}" for k, v in results.items() if k.startswith("test_"))
    log(f"test: {shown}; best validation {monitor} {results['best_val']}; {results['epochs']} epochs, "
        f"{results['steps']} steps, {results['wall_s']} s")
    return results


def _tee(log: Callable[[str], None], path: Path, enabled: bool = True) -> Callable[[str], None]:
    """``log``, and the same line appended to ``path`` (a run's ``train.log``)."""
    def both(line: str) -> None:
        log(line)
        if enabled:
            with path.open("a", encoding="utf-8") as f:
                f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
    return both


def _command() -> str:
    """The command line that made this run, for the results table (``selfattn train ...``)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("selfattn", "__main__.py"):
        argv[0] = "selfattn"
    return shlex.join(argv)


def _best(rows: list[dict], key: str, mode: str):
    values = [r[key] for r in rows if r.get(key) is not None]
    return (max(values) if mode == "max" else min(values)) if values else None


def _test(cfg: dict, task, data, model, folder: Path | None) -> dict:
    from .module import TaskModule

    module = TaskModule(model, data.spec, cfg["optim"])
    trainer = _trainer(cfg, None, [], devices=1)
    out = trainer.test(module, datamodule=_datamodule(cfg, task, data), verbose=False)[0]
    results = {k: round(float(v), 5) for k, v in out.items()}
    if data.spec["task"] == "seq2seq":
        from .decode import bleu_score

        results.update(bleu_score(model, data, cfg))
    extra = getattr(task, "extra_results", None)  # decoded error rates, other test sets
    if extra is not None:
        results.update(extra(model, data, cfg))
    return results


def _plots(cfg: dict, task, data, model, folder: Path, rows: list[dict]) -> dict:
    from .plots import attention_figure, learning_curves

    made = {"learning_curves": str(learning_curves(rows, folder / "learning_curves.png", cfg["preset"]))}
    if data.spec["task"] == "seq2seq":
        return made
    model.eval()
    if cfg["model"]["kind"] not in ("transformer", "pretrained"):
        made["attention"] = f"not drawn: model.kind={cfg['model']['kind']!r} has no attention weights"
        return made
    count = int(cfg["run"]["attention_examples"])
    examples = sorted(data.test.examples, key=lambda e: abs(len(e) - 20))[:count]  # readable sizes first
    for i, example in enumerate(examples):
        batch = collate([example], "padded", "none")
        try:
            with torch.no_grad():
                _, weights = model(batch.x, batch.mask, edge_index=batch.edge_index, grids=batch.grids,
                                   return_weights=True)
        except (TypeError, ValueError, NotImplementedError) as error:
            made["attention"] = f"not drawn: {error}"
            break
        if not weights:
            made["attention"] = f"not drawn: model.kind={cfg['model']['kind']!r} has no attention weights"
            break
        tokens = task.tokens(example, data.state)
        if tokens is not None and getattr(model, "cls", None) is not None:
            tokens = ["[CLS]", *tokens]
        name = "attention.png" if i == 0 else f"attention-{i}.png"
        attention_figure([w[0] for w in weights], folder / name, tokens, f"{cfg['preset']}: {example.source}")
        made.setdefault("attention", str(folder / "attention.png"))
    return made


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

    _quiet_lightning()
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
    results = _test(cfg, task, TaskData(empty, empty, test, spec, state), model, None)
    results.update({"data": _data_source(eval_cfg), "split": split, "sets": len(test)})
    target = folder / ("eval.json" if not other else f"eval-{name}.json")
    target.write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def _not_utf8(path: Path, error: UnicodeDecodeError) -> str:
    line = path.read_bytes()[: error.start].count(b"\n") + 1
    return f"line {line}: not UTF-8 text (byte {error.object[error.start]:#04x}); save the file as UTF-8"


def _recorded_fingerprint(folder: Path) -> str | None:
    try:
        return json.loads((folder / "splits.json").read_text(encoding="utf-8"))["test"]["sha256"]
    except (OSError, ValueError, KeyError):
        return None


def _data_source(cfg: dict) -> str:
    d = cfg["data"]
    return str(d.get("path") or d.get("corpus") or d.get("source") or d.get("name") or cfg["preset"])


def predict(folder: str | Path, path: str | Path, batch_size: int = 32) -> list[str]:
    """The output lines for the sets of ``path``: one per set (per node for a graph).
    Scores, other formats and skipping bad lines: :class:`selfattn.train.Predictor`."""
    from .predictor import Predictor

    predictor = Predictor.from_run(folder)
    sets, display = predictor.read(path)
    lines: list[str] = []
    for p in predictor.predict_sets(sets, display, batch_size=batch_size):
        lines.extend(p.line.split("\n"))
    return lines
