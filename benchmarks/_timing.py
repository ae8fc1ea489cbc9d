"""Side-by-side timing for the benchmarks: interleaved rounds, medians, ratios.

Timings on shared machines drift by up to 30% between runs, so every benchmark times its
contenders round-robin inside one run (contender A, B, C, then A, B, C again...) and
reports medians and ratios to an anchor measured in the same rounds.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int = 7,
                warmup: int = 2, budget_s: float = 60.0) -> dict[str, dict[str, float]]:
    """Median and min seconds of each contender over ``rounds`` interleaved rounds.

    Stops early (keeping at least 3 rounds) when ``budget_s`` is spent.
    """
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    start = time.perf_counter()
    for r in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        if r >= 2 and time.perf_counter() - start > budget_s:
            break
    return {n: {"median_s": statistics.median(t), "min_s": min(t), "rounds": len(t)}
            for n, t in times.items()}


def machine() -> dict[str, object]:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def matmul_gflops(n: int = 2048, rounds: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = interleaved({"mm": lambda: a @ b}, rounds=rounds)["mm"]["median_s"]
    return 2 * n**3 / t / 1e9


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path
