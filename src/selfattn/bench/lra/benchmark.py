"""The whole PyTorch LRA in one call: scores, speed and memory, table, charts, crossovers.

``run_benchmark(scale)`` trains every attention on every task of the scale
(``harness.run_lra``), then measures examples/s and peak memory of every attention in one
interleaved sweep (``speed.speed_sweep``), and returns one JSON-ready dict: the rows, the
table (accuracy per task and average; speed and memory relative to full at the scale's
table lengths; crossover length), the sweep, the chance level of each task, the machine,
the command-line equivalent and the wall times. ``write_outputs`` saves it as JSON + CSV
and draws the LRA chart and the crossover chart.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..results import write_json
from .attention import LRA_ATTENTIONS
from .harness import LRAScale, describe_tasks, run_lra, scale_by_name
from .report import crossover_chart, lra_chart, markdown_table, table_rows, write_csv
from .speed import speed_sweep

__all__ = ["run_benchmark", "with_steps", "write_outputs"]


def with_steps(scale: LRAScale, steps: int) -> LRAScale:
    """``scale`` with every task trained for ``steps`` steps."""
    if steps < 1:
        raise ValueError(f"steps: expected a positive number of steps, got {steps}")
    return replace(scale, tasks={t: replace(c, steps=steps) for t, c in scale.tasks.items()})


def _machine() -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def run_benchmark(scale: LRAScale | str = "small", attentions: tuple[str, ...] | list[str] = LRA_ATTENTIONS,
                  seed: int = 0, tasks: tuple[str, ...] | None = None, device: str = "cpu",
                  memory: bool = True, progress: bool = True, threads: int | None = None) -> dict:
    """Scores, speed/memory sweep and table of ``attentions`` at ``scale`` (see module doc).

    ``threads``: torch intra-op threads for the run (restored after); None keeps the current
    number. On shared CPU cores one thread is the stable choice (small ops with two threads
    measured 10x slower here while other jobs ran).
    """
    if threads is None:
        return _run(scale, attentions, seed, tasks, device, memory, progress)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(scale, attentions, seed, tasks, device, memory, progress)
    finally:
        torch.set_num_threads(before)


def _run(scale, attentions, seed, tasks, device, memory, progress) -> dict:
    scale = scale_by_name(scale) if isinstance(scale, str) else scale
    attentions = list(attentions)
    if "full" not in attentions:
        raise ValueError(f"attentions: expected 'full' among them (every ratio is to it), got {attentions}")
    start = time.perf_counter()
    machine = _machine()
    rows = run_lra(attentions, scale, seed, progress, tasks, device)
    trained = time.perf_counter()
    speed = speed_sweep(attentions, scale, device=device, memory=memory, progress=progress)
    done = time.perf_counter()
    machine["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    table = table_rows(rows, speed, scale.table_lengths)
    chance = {r["task"]: r["chance"] for r in rows}
    return {
        "benchmark": "PyTorch Long Range Arena (selfattn.bench.lra)",
        "scale": {**asdict(scale), "tasks": {t: asdict(c) for t, c in scale.tasks.items()}},
        "tasks": describe_tasks(scale),
        "seed": seed,
        "attentions": attentions,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine,
        "wall_seconds": {"training": trained - start, "speed_sweep": done - trained, "total": done - start},
        "chance": chance,
        "rows": rows,
        "table": table,
        "markdown": markdown_table(table, chance),
        "speed": speed,
        "crossover": {n: {"length": r["crossover_length"], "interpolated": r["crossover_interpolated"]}
                      for n, r in speed["results"].items() if n != "full"},
    }


def write_outputs(result: dict, out_dir: str | Path, *, json_name: str = "results.json",
                  csv_name: str | None = "results.csv", chart_name: str = "figure.png",
                  crossover_json: str | None = "crossover.json",
                  crossover_png: str | None = "crossover.png") -> dict[str, str]:
    """Save ``run_benchmark``'s result under ``out_dir``; returns ``{kind: path}``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lengths = result["scale"]["table_lengths"]
    paths = {"json": out / json_name, "chart": out / chart_name}
    write_json(paths["json"], result)
    lra_chart(result["table"], lengths[-1], paths["chart"],
              title=f"PyTorch LRA, {result['scale']['name']} scale: score vs speed at L = {lengths[-1]} "
                    "(bubble area ~ peak memory vs full)")
    if csv_name:
        paths["csv"] = write_csv(result["table"], out / csv_name)
    if crossover_json:
        paths["crossover_json"] = out / crossover_json
        write_json(paths["crossover_json"],
            {"what": "shortest sweep length from which each attention's forward + backward step of the "
                     "LRA model is faster than full (SDPA) at every longer length, and the interpolated "
                     "length where the time ratio crosses 1",
             "config": result["speed"]["config"], "machine": result["machine"],
             "crossover": result["crossover"],
             "speedup_vs_full": {n: {k: v["speedup_vs_full"] for k, v in r["lengths"].items()}
                                 for n, r in result["speed"]["results"].items()}})
    if crossover_png:
        paths["crossover_png"] = crossover_chart(result["speed"], out / crossover_png)
    return {k: str(v) for k, v in paths.items()}
