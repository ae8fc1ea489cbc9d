"""Helpers of the selfattn.train tests: a tiny model config for any preset."""

from __future__ import annotations

from pathlib import Path

from selfattn.train.config import resolve_config

TINY = ["model.width=16", "model.heads=2", "model.depth=1", "model.ff=32", "trainer.progress=false",
        "trainer.num_threads=1", "run.plots=false", "optim.warmup_steps=2", "optim.lr=0.01"]


def tiny_config(preset: str, folder: Path, *overrides: str) -> dict:
    return resolve_config(preset, overrides=[*TINY, f"run.dir={folder}", *overrides])
