"""Side-by-side timing for the benchmarks: interleaved rounds, medians, ratios.

Timings on shared machines drift by up to 30% between runs, so every benchmark times its
contenders round-robin inside one run (contender A, B, C, then A, B, C again...) and
reports medians and ratios to an anchor measured in the same rounds.
"""

from __future__ import annotations

import json
import platform
import random
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


def shuffled_rounds(contenders: dict[str, Callable[[], object]], rounds: int, budget_s: float,
                    min_rounds: int = 3, seed: int = 0
                    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``(cpu, wall)``: each contender's process-CPU and wall seconds per round, the
    contenders run in a fresh seeded random order each round (no warm-up: the caller's).
    Stops early, after at least ``min_rounds``, once ``budget_s`` is spent; round ``i`` of
    every list is the same round, so per-round ratios compare like with like."""
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    order, rng, start = list(contenders), random.Random(seed), time.perf_counter()
    for r in range(rounds):
        rng.shuffle(order)
        for name in order:
            w0, c0 = time.perf_counter(), time.process_time()
            contenders[name]()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
        if r + 1 >= min_rounds and time.perf_counter() - start > budget_s:
            break
    return cpu, wall


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
