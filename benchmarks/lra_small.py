"""The PyTorch Long Range Arena at its small scale: the committed result.

All twelve attentions of the lecture's chart (full, local, Sparse Transformer, Longformer,
BigBird, Reformer, Linformer, Performer, Linear Transformer, Synthesizer, Sinkhorn,
Nystromformer) in one fixed model on the four tasks of ``selfattn.bench.lra.SMALL``
(ListOps 64-128 tokens, byte-level movie reviews up to 256 bytes, Fashion-MNIST at 14 x 14,
Pathfinder 16 x 16), then examples/s and peak memory of every attention relative to full
at L = 256 ... 4096, interleaved in the same rounds, and the crossover lengths. One torch
thread (the two cores are shared with other jobs; ratios measured side by side are what
to read, absolute times are inflated). Seed 0.

Run: ``python benchmarks/lra_small.py`` (1,840 s measured on the 2 cores shared with other
jobs, load average 4-5). Writes
``benchmarks/results/lra_small.json`` / ``.csv``, ``lra_chart.png``, ``lra_crossover.json``
/ ``.png``, and the experiment's copy in ``docs/experiments/variants/``
(``results.json``, ``figure.png``, ``crossover.png``). ``--replot`` redraws from the JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from selfattn.bench.lra import LRA_ATTENTIONS, SMALL, run_benchmark, write_outputs
from selfattn.bench.lra.harness import describe_tasks
from selfattn.bench.results import write_json

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs" / "experiments" / "variants"
NAMES = {"json_name": "lra_small.json", "csv_name": "lra_small.csv", "chart_name": "lra_chart.png",
         "crossover_json": "lra_crossover.json", "crossover_png": "lra_crossover.png"}


def publish(result: dict) -> None:
    paths = write_outputs(result, RESULTS, **NAMES)
    write_json(DOCS / "results.json", result)
    shutil.copyfile(paths["chart"], DOCS / "figure.png")
    shutil.copyfile(paths["crossover_png"], DOCS / "crossover.png")
    for kind, path in paths.items():
        print(f"wrote {kind}: {path}")
    print(f"wrote the experiment's copy: {DOCS}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--replot", action="store_true", help="redraw the charts and CSV from lra_small.json")
    args = ap.parse_args()
    if args.replot:
        result = json.loads((RESULTS / NAMES["json_name"]).read_text())
        result.setdefault("tasks", describe_tasks(SMALL))  # results written before the field existed
    else:
        result = run_benchmark("small", LRA_ATTENTIONS, seed=args.seed, threads=args.threads)
        result["experiment"] = "variants"
    print(result["markdown"])
    print("crossover:", json.dumps(result["crossover"]))
    print(f"wall time: {result['wall_seconds']['total']:.0f} s")
    publish(result)


if __name__ == "__main__":
    main()
