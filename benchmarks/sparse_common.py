"""Shared timing and memory helpers of the ``benchmarks/sparse_*.py`` scripts.

Timing: every method of a table runs once to warm up, then ``reps`` rounds in which each
method runs once, in turn (interleaved, so a burst of load from other processes on the
shared cores hits every method alike); the table reports medians and ratios of medians
measured in that same run.

Memory: a fresh child process per (method, size) builds the inputs, runs the method once
on a small size (so lazy library buffers are allocated before measuring), resets the
kernel's peak-RSS counter (``/proc/self/clear_refs``), reads its RSS, runs the method
once, and reports how far the peak (``VmHWM``) rose above that RSS. It counts every byte
the method makes resident (tensors, allocator caches), so it bounds tensor memory from
above.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def interleaved(fns: dict[str, Callable[[], Any]], reps: int, warmup: int = 1,
                no_warmup: frozenset[str] = frozenset()) -> dict[str, list[float]]:
    """Seconds per call of every function, ``reps`` interleaved rounds after ``warmup``
    (skipped for the names in ``no_warmup``: slow methods with nothing to warm up)."""
    for _ in range(warmup):
        for name, f in fns.items():
            if name not in no_warmup:
                f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def matmul_fn(n: int = 2048) -> tuple[Callable[[], Any], float]:
    """A large fp32 matmul to time beside a method, and its flops."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return (lambda: a @ b), 2.0 * n**3


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of one large fp32 matmul on this machine, now."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = interleaved({"mm": lambda: a @ b}, reps)["mm"]
    return 2 * n**3 / median(t) / 1e9


def rss_now() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))


def peak_growth(run: Callable[[], Any]) -> int:
    """Bytes by which the peak RSS during ``run`` exceeds the RSS just before it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current RSS
        before = _status("VmRSS")
        run()
        return max(_status("VmHWM") - before, 0)
    except OSError:  # no /proc: the lifetime peak is the best we have
        before = rss_now()
        run()
        return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before, 0)


def child_memory(script: str, spec: dict[str, Any], timeout: float = 300.0) -> int | None:
    """Run ``script --child <spec>`` in a fresh process; it prints the peak growth in bytes."""
    cmd = [sys.executable, script, "--child", json.dumps(spec), "--threads", str(torch.get_num_threads())]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print(f"  memory child {spec} failed: {e}", file=sys.stderr)
        return None
    return int(res.stdout.strip().splitlines()[-1])


def environment() -> dict[str, Any]:
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


def save(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload.setdefault("environment", {})["load_average_at_end"] = os.getloadavg()
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e3:9.1f}"


def fmt_mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:8.1f}"
