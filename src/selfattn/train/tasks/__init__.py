"""The tasks ``selfattn train`` knows, and the named presets (``selfattn train PRESET``).

Each preset is a partial config (``selfattn.train.config``); ``configs/<preset>.yaml`` is
the same preset written out (``write_presets``), to copy and edit.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .asr import AsrTask, PhonemesTask
from .base import Task, TaskData
from .detection import DetectionTask
from .graphs import MoleculeTask, NodeTask
from .image_conv import ConvImageTask
from .images import ImageTask
from .presets import PRESETS
from .sagan import SaganTask
from .speech import DiarizationTask, SpeakerTask
from .text import PosTask, SentimentTask
from .translate import TranslateTask

__all__ = ["PRESETS", "TASKS", "Task", "TaskData", "get_task", "write_presets"]

TASKS: dict[str, Task] = {t.name: t for t in (
    PosTask(), SentimentTask(), SpeakerTask(), DiarizationTask(), MoleculeTask(), NodeTask(), ImageTask(),
    TranslateTask(), DetectionTask(), PhonemesTask(), AsrTask(), ConvImageTask(),
    SaganTask())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"task: expected one of {sorted(TASKS)}, got {name!r}")
    return TASKS[name]


def write_presets(folder: str | Path) -> list[Path]:
    """Write every preset as ``<folder>/<name>.yaml``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, preset in PRESETS.items():
        path = folder / f"{name}.yaml"
        header = (f"# Preset {name!r}: selfattn train {name}\n"
                  f"# Edit a copy and run: selfattn train {name} --config configs/{path.name} "
                  "[key=value ...]\n")
        path.write_text(header + yaml.safe_dump(preset, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written
