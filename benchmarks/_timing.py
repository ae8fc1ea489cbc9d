"""The benchmarks' side of ``selfattn.bench.timing`` / ``results`` / ``memory``.

The timer, the results writer and the memory probes live in the package (one copy, shared
with ``selfattn.experiments``; the timing method is in ``selfattn.bench.timing``'s
docstring). This module only adds where the scripts write: ``RESULTS`` is
``benchmarks/results/``, and ``save(name, payload)`` writes ``RESULTS/name.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selfattn.bench import results
from selfattn.bench.memory import child_memory, peak_bytes, peak_growth, rss_now
from selfattn.bench.results import fmt_mib, fmt_ms, write_json
from selfattn.bench.timing import (
    environment,
    interleaved,
    machine,
    matmul_fn,
    matmul_gflops,
    median,
    shuffled_rounds,
    summarize,
)

__all__ = ["RESULTS", "child_memory", "environment", "fmt_mib", "fmt_ms", "interleaved", "machine",
           "matmul_fn", "matmul_gflops", "median", "peak_bytes", "peak_growth", "rss_now", "save",
           "shuffled_rounds", "summarize", "write_json"]

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, payload: dict[str, Any]) -> Path:
    """``benchmarks/results/<name>.json`` (``selfattn.bench.results.save``)."""
    return results.save(name, payload, RESULTS)
