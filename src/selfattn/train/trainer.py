"""The Lightning ``Trainer`` and data module a config describes, and testing a model with them."""

from __future__ import annotations

import logging
import sys
import warnings
from datetime import timedelta
from pathlib import Path

from .checkpoint import SafetensorsCheckpointIO
from .errors import ConfigError

__all__ = ["make_trainer", "progress_bar", "quiet_lightning", "set_datamodule", "task_module",
           "test_model"]


def quiet_lightning() -> None:
    # the checkpoint connector's "weights_only was not set" is logged at INFO on every save
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed", "lightning.pytorch.utilities.distributed",
                 "lightning.pytorch.trainer.connectors.checkpoint_connector"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")
    warnings.filterwarnings("ignore", message=".*Checkpoint directory.*exists and is not empty.*")
    # the training sampler does resume mid-epoch (ResumePoint), which Lightning cannot see
    warnings.filterwarnings("ignore", message=".*your dataloader is not resumable.*")
    warnings.filterwarnings("ignore", message=".*weights_only.*was not set.*")


def make_trainer(cfg: dict, folder: Path | None, callbacks: list, devices: int | None = None):
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


def set_datamodule(cfg: dict, task, data, training: bool = False):
    """The data module; ``training`` with ``trainer.sequence_parallel=N > 1``: batches dealt
    over groups of N ranks, which share each batch (``selfattn.train.sequence_parallel``)."""
    from .module import SetDataModule

    t = cfg["trainer"]
    args = (data.train, data.validation, data.test, task.layout_labels, t["batch_size"],
            t["max_tokens"], int(t["eval_batch_size"]), int(cfg["seed"]))
    size = int(t.get("sequence_parallel", 1))
    if training and size > 1:
        from .sequence_parallel import SequenceParallelDataModule

        return SequenceParallelDataModule(*args, size=size)
    return SetDataModule(*args)


def task_module(cfg: dict, model, spec: dict):
    """The training ``LightningModule``: sharded along time with ``trainer.sequence_parallel > 1``."""
    from .module import TaskModule

    size = int(cfg["trainer"].get("sequence_parallel", 1))
    if size > 1:
        from .sequence_parallel import SequenceParallelModule

        return SequenceParallelModule(model, spec, cfg["optim"], size)
    return TaskModule(model, spec, cfg["optim"])


def test_model(cfg: dict, task, data, model, folder: Path | None) -> dict:
    from .module import TaskModule

    module = TaskModule(model, data.spec, cfg["optim"])
    trainer = make_trainer(cfg, None, [], devices=1)
    out = trainer.test(module, datamodule=set_datamodule(cfg, task, data), verbose=False)[0]
    results = {k: round(float(v), 5) for k, v in out.items()}
    if data.spec["task"] == "seq2seq":
        from .decode import bleu_score

        results.update(bleu_score(model, data, cfg))
    extra = getattr(task, "extra_results", None)  # decoded error rates, other test sets
    if extra is not None:
        results.update(extra(model, data, cfg))
    return results
