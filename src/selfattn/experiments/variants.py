"""The lecture's last chart (slide 42): the efficient attentions by score, speed and memory.

The notes close on the Long Range Arena chart (Tay et al. 2021, Figure 3): the vanilla
Transformer against Local Attention, Sparse Transformer, Longformer, BigBird, Reformer,
Linformer, Performer, Linear Transformer, Synthesizer and Sinkhorn (plus Nystromformer
here), with speed on x, the average LRA score on y and memory as the bubble's size. The
claim: "being faster may cost accuracy". This experiment runs selfattn's PyTorch LRA
(``selfattn.bench.lra``: ListOps, byte-level movie reviews, Fashion-MNIST pixels,
Pathfinder) at a scale, then measures every attention's examples/s and peak memory
against full attention in one interleaved sweep, and draws the chart.

Scales: ``"tiny"`` (seconds; for tests), ``"small"`` (2 CPU cores, one thread, within 30
minutes; shortened tasks, see ``selfattn.bench.lra.harness.SMALL``), ``"full"`` (the
paper's lengths and budgets, ``PAPER``; for a GPU).
"""

from __future__ import annotations

from pathlib import Path

from ..bench.lra import LRA_ATTENTIONS, run_benchmark, write_outputs

__all__ = ["run"]


def run(out_dir: str | Path = "runs/experiments/variants", scale: str = "small", seed: int = 0) -> dict:
    """Run the LRA at ``scale`` (``"tiny"``, ``"small"`` or ``"full"``) with all twelve
    attentions; writes ``results.json`` (every row, the table, the sweep), ``results.csv``,
    ``figure.png`` (the chart), ``crossover.json`` and ``crossover.png`` under ``out_dir``."""
    import torch

    device = "cuda" if scale in ("full", "paper") and torch.cuda.is_available() else "cpu"
    # One thread on CPU: the machines this runs on share their cores (see run_benchmark).
    result = run_benchmark(scale, LRA_ATTENTIONS, seed=seed, device=device, progress=scale != "tiny",
                           threads=1 if device == "cpu" else None)
    result["experiment"] = "variants"
    result["claim"] = ("efficient attentions trade score for speed and memory; none is faster than full "
                       "attention at every length")
    paths = write_outputs(result, out_dir)
    best = max((r for r in result["table"] if r["average"] is not None), key=lambda r: r["average"])
    longest = result["scale"]["table_lengths"][-1]
    faster = [r["attention"] for r in result["table"]
              if r["attention"] != "full" and (r.get(f"speed_{longest}") or 0) > 1]
    return {
        "experiment": "variants",
        "scale": result["scale"]["name"],
        "seed": seed,
        "average_accuracy": {r["attention"]: r["average"] for r in result["table"]},
        "best_average": best["attention"],
        f"faster_than_full_at_{longest}": faster,
        "crossover": result["crossover"],
        "wall_seconds": result["wall_seconds"]["total"],
        "results": paths["json"],
        "figure": paths["chart"],
    }
