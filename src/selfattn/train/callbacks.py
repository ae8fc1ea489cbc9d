"""Callbacks that write a run's record: metrics per epoch as JSON and CSV, atomically.

``MetricsRecorder`` appends one row per epoch (epoch, step, wall seconds, learning rate,
train loss, every validation metric) and rewrites ``metrics.json`` and ``metrics.csv``
through a temporary file and ``os.replace``. Its rows travel in the checkpoint, so a
resumed run continues the same table.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch

__all__ = ["MetricsRecorder", "atomic_write_text"]


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

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.rows: list[dict[str, Any]] = []
        self.elapsed_before = 0.0
        self._start = time.perf_counter()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

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
        if "train_loss_epoch" in metrics:
            row["train_loss"] = metrics["train_loss_epoch"]
        for key in sorted(metrics):
            if key.startswith("val_"):
                row[key] = metrics[key]
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]]
        self.rows.append({k: _number(v) for k, v in row.items()})
        if trainer.is_global_zero:
            self.write()

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
        wall = self.rows[-1]["wall_s"] if self.rows else 0.0
        return {"rows": self.rows, "wall_s": wall}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = list(state_dict.get("rows", []))
        self.elapsed_before = float(state_dict.get("wall_s", 0.0))
