"""The one results writer of the benchmarks and the experiments: JSON beside a PNG.

* ``write_json(path, payload)``: indented JSON with a final newline, folders made;
* ``save(name, payload, folder)``: a benchmark's ``folder/name.json`` (``benchmarks/`` passes
  its ``results/``); when the payload has an ``"environment"`` (``timing.environment()``)
  the load average at the end joins it, so a reader sees how loaded the machine was;
* ``save_results(result, out_dir, plot)``: an experiment's ``results.json`` and
  ``figure.png`` (drawn by ``plot``), the figure's path returned under ``"figure"``;
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["fmt_mib", "fmt_ms", "save", "save_results", "write_json"]


def write_json(path: str | Path, payload: Any, indent: int = 2) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=indent) + "\n")
    return path


def save(name: str, payload: dict[str, Any], folder: str | Path) -> Path:
    env = payload.get("environment")
    if isinstance(env, dict):
        env["load_average_at_end"] = os.getloadavg()
    return write_json(Path(folder) / f"{name}.json", payload)


def save_results(result: dict, out_dir: str | Path, plot: Callable[[dict, Path], None]) -> dict:
    """Write ``result`` to ``out_dir/results.json`` and ``plot(result, out_dir/figure.png)``;
    returns ``result`` with the figure's path under ``"figure"``."""
    out = Path(out_dir)
    write_json(out / "results.json", result, indent=1)
    plot(result, out / "figure.png")
    result["figure"] = str(out / "figure.png")
    return result


def fmt_ms(seconds: float | None) -> str:
    """Milliseconds for a printed table; ``-`` when not measured."""
    return "-" if seconds is None else f"{seconds * 1e3:9.1f}"


def fmt_mib(n: int | None) -> str:
    """MiB for a printed table; ``-`` when not measured."""
    return "-" if n is None else f"{n / 2**20:8.1f}"
