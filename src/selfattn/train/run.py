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
early-stopping counters, the metrics table, the sampler's position and the random states).
The directory (``rundir``), loading a run back (``loading``), ``evaluate`` and ``predict``
(``predictor``) live in their own modules and are re-exported here.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from .checkpoint import load_weights, save_weights
from .config import ConfigError, check_config
from .evaluate import evaluate
from .loading import build_task_model, load_run, split_fingerprint, trained_config
from .predictor import predict
from .rundir import check_resumable, run_directory, run_status, set_status
from .tasks import get_task
from .trainer import make_trainer, progress_bar, quiet_lightning, set_datamodule, task_module, test_model

__all__ = ["build_task_model", "evaluate", "load_run", "predict", "run_directory", "run_status",
           "split_fingerprint", "train", "trained_config"]

_RUN_DIR_ENV = "SELFATTN_RUN_DIR"
# Lightning 2.6 warns about a torch 2.13 deprecation on import; nothing for users to act on.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


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
        if hasattr(get_task(cfg["task"]), "fit"):
            raise ConfigError(f"--resume {folder}: task {cfg['task']!r} trains in its own loop, which keeps "
                              "no checkpoint to continue from; start a new run (its weights and "
                              "metrics.csv stay in the old directory)")
        check_resumable(folder)
        set_status(folder, "running")
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
            set_status(folder, "failed", f"{type(error).__name__}: {error}")
        raise
    set_status(folder, "done")
    return results


def _train_in(cfg: dict, folder: Path, resume: bool, log: Callable[[str], None]) -> dict:
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

    from .callbacks import MetricsRecorder, ResumePoint, append_log, atomic_write_text

    quiet_lightning()
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
    if hasattr(task, "fit"):  # a task with its own loop (DETR's set loss): no TaskModule
        return task.fit(cfg, folder, log)
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
    module = task_module(cfg, model, data.spec)
    monitor, mode = task.monitor(data.spec)
    ckpt = ModelCheckpoint(dirpath=folder / "checkpoints", filename="best", monitor=monitor, mode=mode,
                           save_top_k=1, enable_version_counter=False, auto_insert_metric_name=False)
    ckpt.FILE_EXTENSION = ".safetensors"
    datamodule = set_datamodule(cfg, task, data, training=True)
    echo = print if cfg["trainer"]["progress"] and not progress_bar(cfg) else None
    recorder = MetricsRecorder(folder, echo=echo, total_epochs=int(cfg["trainer"]["max_epochs"]))
    # ResumePoint last: the epoch's metrics row is recorded before its checkpoint is written
    callbacks = [ckpt, recorder, EarlyStopping(monitor=monitor, mode=mode,
                                               patience=int(cfg["trainer"]["patience"])),
                 ResumePoint(last, datamodule, int(cfg["trainer"]["checkpoint_every_n_steps"]))]
    trainer = make_trainer(cfg, folder, callbacks)
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
    results = test_model(cfg, task, data, model, folder)
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
    append_log(folder / "train.log",  # the CLI prints its own summary
               f"test: {shown}; best validation {monitor} {results['best_val']}; {results['epochs']} epochs, "
               f"{results['steps']} steps, {results['wall_s']} s")
    return results


def _tee(log: Callable[[str], None], path: Path, enabled: bool = True) -> Callable[[str], None]:
    """``log``, and the same line appended to ``path`` (a run's ``train.log``)."""
    from .callbacks import append_log

    def both(line: str) -> None:
        log(line)
        if enabled:
            append_log(path, line)
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


def _plots(cfg: dict, task, data, model, folder: Path, rows: list[dict]) -> dict:
    from .plots import example_figure, learning_curves

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
        name = "attention.png" if i == 0 else f"attention-{i}.png"
        try:  # titled with the sentence / SMILES, the model's labels beside the tokens
            drawn = example_figure(cfg, task, data.spec, data.state, model, example, folder / name)
        except (TypeError, ValueError, NotImplementedError) as error:
            made["attention"] = f"not drawn: {error}"
            break
        if drawn is None:
            made["attention"] = f"not drawn: model.kind={cfg['model']['kind']!r} has no attention weights"
            break
        made.setdefault("attention", str(folder / "attention.png"))
    return made

