"""What the training experiments share: run records, and twins of a model that differ only
in how they attend.

* ``Stopwatch``, ``run_record``: command, seed, scale, wall and CPU time and torch threads
  for ``results.json``;
* ``torch_threads(n)``: a context that runs the experiment on ``n`` threads and restores
  the previous setting (the machine's cores are shared, see ``train.tasks.presets``);
* ``twins``: full attention, a pattern through the sparse kernels (``selfattn.train``'s
  path) and the same pattern as a dense mask, with the same weights; ``kernel_choice``:
  which kernel the dispatcher runs for a pattern and why.

The timer, the results writer and the memory probe are the benchmarks' own
(``selfattn.bench.timing``, ``selfattn.bench.results``, ``selfattn.bench.memory``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch

from ..functional import choose_kernel

__all__ = [
    "Stopwatch",
    "check_scale",
    "kernel_choice",
    "run_record",
    "torch_threads",
    "twins",
]


def check_scale(scale: str, allowed: Sequence[str]) -> None:
    if scale not in allowed:
        raise ValueError(f"scale: expected one of {list(allowed)}, got {scale!r}")


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class Stopwatch:
    """Wall and CPU seconds since construction (CPU time: this process, all its threads)."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def cpu(self) -> float:
        return time.process_time() - self.cpu0


def run_record(name: str, out_dir: str | Path, scale: str, seed: int, clock: Stopwatch) -> dict[str, Any]:
    """The ``run`` section of a results JSON: how to repeat it, what it cost and ran on. CPU
    seconds beside wall seconds: on shared cores the wall time depends on the other jobs."""
    return {"command": f"selfattn experiment {name} --scale {scale} --seed {seed} --out {out_dir}",
            "seed": seed, "scale": scale, "wall_s": round(clock.wall(), 1), "cpu_s": round(clock.cpu(), 1),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "cpu_cores": os.cpu_count(), "load_average_at_end": [round(v, 2) for v in os.getloadavg()]}


def twins(model: torch.nn.Module, pattern: str, window: int = 8) -> dict[str, torch.nn.Module]:
    """Copies of a ``SetModel`` (same weights) that differ only in how they attend:
    ``full`` (``model.pattern=none``), ``sparse`` (``pattern``, handed to the attention as a
    ``selfattn.patterns`` object, as ``selfattn.train`` models run it: the dispatcher picks
    the sparse kernel where it is faster) and ``dense mask`` (the same pattern as a dense
    ``(L, L)`` mask to the dense kernels: ``SetModel.sparse = False``)."""
    out = {}
    ways = (("full", "none", True), ("sparse", pattern, True), ("dense mask", pattern, False))
    for name, pat, sparse in ways:
        twin = copy.deepcopy(model)
        twin.pattern, twin.window, twin.sparse = pat, window, sparse
        out[name] = twin
    return out


def kernel_choice(pattern: Any, batch: int, heads: int, length: int, head_dim: int, **options: Any) -> str:
    """The dispatcher's choice (first line of ``choose_kernel``) for attention under
    ``pattern`` over ``(batch, heads, length, head_dim)`` heads."""
    q = torch.zeros(batch, heads, length, head_dim)
    return str(choose_kernel(q, q, q, pattern=pattern, **options)).split("\n")[0]
