"""Callbacks that write a run's record and make it resumable to the same result.

``MetricsRecorder`` appends one row per epoch (epoch, step, wall seconds, learning rate,
train loss, every validation metric) and rewrites ``metrics.json`` and ``metrics.csv``
through a temporary file and ``os.replace``. Its rows, and the running sum of the
epoch's training loss, travel in the checkpoint, so a resumed run continues the same table.

``ResumePoint`` writes ``checkpoints/last.safetensors`` every ``every_n_steps`` optimizer
steps and after every epoch, with where training stands (epoch, batches done in it) and
every random state (torch, CUDA, numpy, Python). A run resumed from it restarts the
sampler at the next unseen batch and restores the random states just before that batch,
so it draws the same batches and the same dropout masks as the run that was interrupted.
Lightning keeps neither (it restarts a non-resumable loader's epoch and reseeds), which is
why this is written here.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

__all__ = ["MetricsRecorder", "ResumePoint", "append_log", "atomic_write_text", "random_states",
           "set_random_states"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via ``path.tmp`` + ``os.replace`` (never half-written)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _number(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.item()
    return round(v, 6) if isinstance(v, float) else v


class MetricsRecorder(pl.Callback):
    """Per-epoch metrics into ``folder/metrics.json`` and ``folder/metrics.csv``."""

    def __init__(self, folder: Path, echo: Any = None, total_epochs: int | None = None) -> None:
        """``echo``: called with one line per epoch (stdout of a run without a progress
        bar); every line also goes to ``folder/train.log``."""
        self.folder = Path(folder)
        self.echo, self.total_epochs = echo, total_epochs
        self.rows: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self._start = time.perf_counter()
        self._loss_sum, self._loss_count = 0.0, 0

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._loss_sum, self._loss_count = 0.0, 0

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:  # the mean over the epoch's sets, each batch weighted by its size
            self._loss_sum += float(loss.detach()) * len(batch)
            self._loss_count += len(batch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        row: dict[str, Any] = {"epoch": trainer.current_epoch, "step": trainer.global_step,
                               "wall_s": round(self.elapsed_before + time.perf_counter() - self._start, 2)}
        if trainer.optimizers:
            # the highest group rate: optim.lr times the schedule (with optim.layer_decay,
            # the head's rate; the blocks below learn at layer_decay powers of it)
            row["lr"] = max(g["lr"] for g in trainer.optimizers[0].param_groups)
        if self._loss_count:
            row["train_loss"] = self._loss_sum / self._loss_count
        for key in sorted(metrics):
            if key.startswith("val_"):
                row[key] = metrics[key]
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]]
        self.rows.append({k: _number(v) for k, v in row.items()})
        if trainer.is_global_zero:
            self.write()
            self._announce(self.rows[-1])

    def _announce(self, row: dict[str, Any]) -> None:
        of = f"/{self.total_epochs}" if self.total_epochs else ""
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                          if k not in ("epoch", "wall_s"))
        line = f"epoch {row['epoch'] + 1}{of}: {shown} ({row['wall_s']:.1f} s)"
        append_log(self.folder / "train.log", line)
        if self.echo is not None:
            self.echo(line)

    def write(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.folder / "metrics.json", json.dumps(self.rows, indent=1))
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.folder / "metrics.csv", buffer.getvalue())

    def state_dict(self) -> dict[str, Any]:
        wall = round(self.elapsed_before + time.perf_counter() - self._start, 2)
        return {"rows": self.rows, "wall_s": wall, "loss_sum": self._loss_sum, "loss_count": self._loss_count}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
        self.elapsed_before = float(state_dict.get("wall_s", 0.0))
        self._loss_sum = float(state_dict.get("loss_sum", 0.0))
        self._loss_count = int(state_dict.get("loss_count", 0))


def append_log(path: Path, line: str) -> None:
    """One time-stamped line appended to a run's ``train.log``."""
    with Path(path).open("a", encoding="utf-8") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")


def random_states() -> dict[str, Any]:
    """Every global random state a training step may draw from (as checkpointable data)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, state, gauss_next = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(state), gauss_next]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Restore what :func:`random_states` returned."""
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, state, gauss_next = states["python"]
    random.setstate((version, tuple(state), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(states["cuda"]))


class ResumePoint(pl.Callback):
    """``last.safetensors`` every ``every_n_steps`` steps and after each epoch (see the module doc).

    ``datamodule`` is the run's ``SetDataModule``: a restored position is handed to it, and
    it starts the training sampler there. Put this callback last, so that the epoch's
    metrics row is recorded before the epoch's checkpoint is written."""

    def __init__(self, path: Path, datamodule: Any, every_n_steps: int = 0) -> None:
        self.path, self.datamodule, self.every_n_steps = Path(path), datamodule, int(every_n_steps)
        self.epoch, self.done, self.finished = 0, 0, False
        self._pending_random: dict[str, Any] | None = None

    @property
    def state_key(self) -> str:
        return "ResumePoint"

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.epoch, self.done, self.finished = trainer.current_epoch, 0, False

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        if self._pending_random is not None:  # the first batch after a resume
            set_random_states(self._pending_random)
            self._pending_random = None
            self.datamodule.resumed()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self.done += 1
        # the epoch's last batch is saved by on_train_epoch_end, after its validation
        last = self.done >= trainer.num_training_batches
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0 and not last:
            trainer.save_checkpoint(self.path)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.finished = True
        trainer.save_checkpoint(self.path)

    def state_dict(self) -> dict[str, Any]:
        epoch, done = (self.epoch + 1, 0) if self.finished else (self.epoch, self.done)
        return {"epoch": epoch, "batches_done": done, "random": random_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.epoch, self.done = int(state_dict["epoch"]), int(state_dict["batches_done"])
        self.finished = False
        self.datamodule.resume_at(self.epoch, self.done)
        self._pending_random = state_dict["random"]
