"""Peak memory of one call, for the benchmarks and the experiments.

* ``peak_growth(run)``: how far the process's peak resident set (``VmHWM``) rose above its
  resident set just before ``run()``, after resetting the peak (``/proc/self/clear_refs``);
  it counts every byte made resident (tensors, allocator caches), so it bounds tensor
  memory from above. ``child_memory`` runs it in a fresh process per measurement
  (``script --child SPEC --threads N`` must print the bytes on its last line).
* ``peak_bytes(fn)``: the peak of tensor bytes torch allocated during ``fn()``, above what
  was live before it, from ``torch.profiler``'s memory events (``tracemalloc`` does not see
  torch's allocations, and CPU torch keeps no allocator statistics).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["child_memory", "peak_bytes", "peak_growth", "rss_now"]


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


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated by torch while ``fn()`` runs, above what was live before it.

    Sums the profiler's ``[memory]`` events (allocations positive, frees negative) in time
    order; the result counts tensors only (not the allocator's or Python's overhead). A
    block allocated before the call and freed during it is not subtracted (the profiler
    does not know its size): for a training step, an over-estimate by at most the previous
    step's gradients."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    live = peak = 0
    for e in events:
        live += e.nbytes()
        peak = max(peak, live)
    return peak
