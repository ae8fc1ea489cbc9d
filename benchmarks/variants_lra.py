"""The Long Range Arena chart for the attention variants: score against speed and memory.

Scores: ``selfattn.bench.lra`` at the TINY scale (2 CPU cores, minutes per variant):
ListOps with 50-200 tokens, 32 x 32 Pathfinder (1,024 pixels) and scikit-learn digits
as 64-pixel sequences; a 2-layer, 64-wide encoder trained for 150 Adam steps of 16 examples
on 512 seeded training examples, accuracy on 256 held-out ones (digits: 450). This is a
smoke-scale LRA: far too little training for the tasks' long-range structure, so the
scores sit near chance on ListOps and Pathfinder and say little about the methods; the
PAPER scale (``selfattn bench lra --scale paper``) is the one to read, on a GPU.

Speed and memory: forward + backward at L = 4096 relative to full SDPA, taken from
``benchmarks/results/variants_speed.json`` (``benchmarks/variants_speed.py``, all variants
in one run), as in the LRA paper's chart (speed on x, score on y, memory as bubble size).

Run: ``python benchmarks/variants_lra.py`` (after ``variants_speed.py``). Writes
``benchmarks/results/variants_lra.json`` and ``variants_lra.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch

from _timing import RESULTS, machine, save
from selfattn.bench.cli import summary
from selfattn.bench.lra import TINY, run_lra

ATTENTIONS = ["full", "linformer", "performer", "linear", "reformer", "sinkhorn", "nystrom",
              "synthesizer_dense", "synthesizer_random"]


def chart(rows: list[dict], speed: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows})
    fig, ax = plt.subplots(figsize=(8, 6))
    for i, name in enumerate(ATTENTIONS):
        accs = [r["accuracy"] for r in rows if r["attention"] == name]
        if not accs or name not in speed:
            continue
        at = speed[name]["lengths"]["4096"]
        x, y, mem = at["speedup_vs_full"], sum(accs) / len(accs), at["peak_ratio_vs_full"]
        ax.scatter(x, y, s=min(60 * mem, 2500), alpha=0.45)  # area ~ memory (capped)
        ax.annotate(f"{name} ({mem:.1f}x mem)", (x, y), fontsize=8, ha="center",
                    textcoords="offset points", xytext=(0, 10 + 12 * (i % 3)))
    ax.set(xscale="log", xlabel="speed vs full SDPA, forward + backward at L = 4096 (CPU)",
           ylabel=f"average accuracy, tiny LRA ({', '.join(tasks)})",
           title="Attention variants: score vs speed (bubble area ~ peak memory vs full)")
    ax.margins(x=0.15, y=0.2)
    ax.axvline(1, color="black", lw=0.8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=TINY.steps)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--replot", action="store_true",
                    help="redraw the chart from the saved rows and the current variants_speed.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    speed_path = RESULTS / "variants_speed.json"
    if args.replot:
        rows = json.loads((RESULTS / "variants_lra.json").read_text())["rows"]
        print(summary(rows))
        chart(rows, json.loads(speed_path.read_text())["results"], RESULTS / "variants_lra.png")
        return

    scale = dataclasses.replace(TINY, steps=args.steps)
    rows = run_lra(ATTENTIONS, scale)
    print()
    print(summary(rows))
    speed = json.loads(speed_path.read_text())["results"] if speed_path.exists() else {}
    payload = {"scale": dataclasses.asdict(scale), "machine": machine(), "rows": rows,
               "speed_memory_source": str(speed_path.name)}
    print("wrote", save("variants_lra", payload))
    chart(rows, speed, RESULTS / "variants_lra.png")


if __name__ == "__main__":
    main()
