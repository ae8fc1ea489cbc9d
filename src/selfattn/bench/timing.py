"""The one timer of the benchmarks (``benchmarks/*.py``) and the experiments.

How a benchmark times its contenders, so that a shared machine's drift cannot decide:

* **Warm-up**: every contender runs ``warmup`` untimed rounds first (lazy initialisation,
  thread pools, compiled kernels), except the names in ``no_warmup`` (slow methods with
  nothing to warm).
* **Interleaved rounds**: then ``rounds`` rounds in which every contender runs once, in
  turn (``interleaved``: A, B, C, A, B, C, ...; ``shuffled_rounds``: a fresh seeded random
  order each round, so no contender always follows the same one). A burst of load from
  other processes hits every contender alike, and round ``i`` of every list is the same
  round, so per-round ratios compare like with like.
* **Budget**: with ``budget_s`` the rounds stop early, after at least ``min_rounds``, once
  that many seconds have passed.
* **Median**: the figure reported is the median over rounds (``summarize`` adds the
  minimum and the round count), and ratios are to an anchor timed in the same rounds.
* **Threads**: ``machine()`` / ``environment()`` record ``torch.get_num_threads()`` (and the
  load average) beside the results; the caller sets the thread count.

The clocks are arguments (``clock``, ``cpu_clock``) so the tests can drive them.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch

__all__ = ["environment", "interleaved", "machine", "matmul_fn", "matmul_gflops", "median",
           "shuffled_rounds", "summarize"]

Clock = Callable[[], float]


def _check_rounds(rounds: int, min_rounds: int) -> None:
    if rounds < 1:
        raise ValueError(f"rounds: expected at least 1, got {rounds}")
    if min_rounds < 1:
        raise ValueError(f"min_rounds: expected at least 1, got {min_rounds}")


def interleaved(contenders: Mapping[str, Callable[[], Any]], rounds: int, warmup: int = 1, *,
                budget_s: float | None = None, min_rounds: int = 3,
                no_warmup: Collection[str] = frozenset(), clock: Clock = time.perf_counter,
                ) -> dict[str, list[float]]:
    """Seconds per call of every contender: ``warmup`` untimed rounds, then up to ``rounds``
    rounds in which each contender runs once, in the mapping's order (see the module)."""
    _check_rounds(rounds, min_rounds)
    for _ in range(warmup):
        for name, fn in contenders.items():
            if name not in no_warmup:
                fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    start = clock()
    for r in range(rounds):
        for name, fn in contenders.items():
            t0 = clock()
            fn()
            times[name].append(clock() - t0)
        if budget_s is not None and r + 1 >= min_rounds and clock() - start > budget_s:
            break
    return times


def shuffled_rounds(contenders: Mapping[str, Callable[[], Any]], rounds: int, budget_s: float,
                    min_rounds: int = 3, seed: int = 0, *, clock: Clock = time.perf_counter,
                    cpu_clock: Clock = time.process_time,
                    ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """``(cpu, wall)``: each contender's process-CPU and wall seconds per round, the
    contenders run in a fresh seeded random order each round (no warm-up: the caller's).
    Stops early, after at least ``min_rounds``, once ``budget_s`` is spent."""
    _check_rounds(rounds, min_rounds)
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    order, rng, start = list(contenders), random.Random(seed), clock()
    for r in range(rounds):
        rng.shuffle(order)
        for name in order:
            w0, c0 = clock(), cpu_clock()
            contenders[name]()
            cpu[name].append(cpu_clock() - c0)
            wall[name].append(clock() - w0)
        if r + 1 >= min_rounds and clock() - start > budget_s:
            break
    return cpu, wall


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def summarize(times: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """``{name: {"median_s", "min_s", "rounds"}}`` of per-round seconds."""
    return {n: {"median_s": median(t), "min_s": min(t), "rounds": len(t)} for n, t in times.items()}


def machine() -> dict[str, object]:
    """Versions, thread count, processor and date, for a results JSON."""
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def environment() -> dict[str, Any]:
    """Versions, thread count, CPU model, cores and the load average now, for a results JSON
    (``results.save`` adds the load average at the end)."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
    }


def matmul_fn(n: int = 2048) -> tuple[Callable[[], Any], float]:
    """A large fp32 matmul to time beside a method (the machine's anchor), and its flops."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: a @ b), 2.0 * n**3


def matmul_gflops(n: int = 2048, rounds: int = 5) -> float:
    """GFLOP/s of one large fp32 matmul on this machine, now (median of ``rounds``)."""
    fn, flops = matmul_fn(n)
    return flops / median(interleaved({"mm": fn}, rounds)["mm"]) / 1e9
