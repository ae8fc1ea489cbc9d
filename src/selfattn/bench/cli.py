"""``selfattn bench lra``: the PyTorch Long Range Arena from the command line.

    selfattn bench lra [--scale tiny|paper] [--attention full performer ...] [--tasks ...]
                       [--steps N] [--out results.json]

(also ``python -m selfattn.bench``). Prints one line per (task, attention) and a table of
accuracy per task, the average, and training examples/s relative to ``full``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

__all__ = ["add_subparser", "main"]

DEFAULT_ATTENTIONS = ["full", "linformer", "performer", "linear", "reformer", "synthesizer_dense",
                      "sinkhorn", "nystrom"]


def _lra(args: argparse.Namespace) -> int:
    from .lra import PAPER, TINY, run_lra

    scale = PAPER if args.scale == "paper" else TINY
    changes = {}
    if args.steps is not None:
        changes["steps"] = args.steps
    if args.tasks:
        changes["tasks"] = tuple(args.tasks)
    scale = dataclasses.replace(scale, **changes)
    rows = run_lra(args.attention, scale, seed=args.seed)
    print()
    print(summary(rows))
    if args.out:
        Path(args.out).write_text(json.dumps({"scale": dataclasses.asdict(scale), "rows": rows}, indent=2))
        print("wrote", args.out)
    return 0


def summary(rows: list[dict]) -> str:
    """Accuracy per task and average, examples/s relative to ``full`` (when it ran)."""
    tasks = sorted({r["task"] for r in rows})
    names = list(dict.fromkeys(r["attention"] for r in rows))
    by = {(r["task"], r["attention"]): r for r in rows}
    head = f"{'attention':19s} " + " ".join(f"{t:>10s}" for t in tasks) + f" {'avg':>6s} {'speed/full':>10s}"
    lines = [head]
    for n in names:
        accs = [by[(t, n)]["accuracy"] for t in tasks if (t, n) in by]
        speed = [by[(t, n)]["train_examples_per_s"] / by[(t, "full")]["train_examples_per_s"]
                 for t in tasks if (t, n) in by and (t, "full") in by]
        cells = " ".join(f"{by[(t, n)]['accuracy']:10.3f}" if (t, n) in by else f"{'-':>10s}" for t in tasks)
        avg = sum(accs) / len(accs) if accs else float("nan")
        sp = f"{sum(speed) / len(speed):10.2f}" if speed else f"{'-':>10s}"
        lines.append(f"{n:19s} {cells} {avg:6.3f} {sp}")
    return "\n".join(lines)


def add_subparser(sub: argparse._SubParsersAction) -> None:
    """Add ``bench lra`` to the ``selfattn`` command's subparsers."""
    bench = sub.add_parser("bench", help="benchmarks (the Long Range Arena)")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    lra = bsub.add_parser("lra", help="train and score attention variants on the LRA tasks")
    lra.add_argument("--scale", choices=["tiny", "paper"], default="tiny")
    lra.add_argument("--attention", nargs="+", default=DEFAULT_ATTENTIONS)
    lra.add_argument("--tasks", nargs="+", choices=["listops", "pathfinder", "image"])
    lra.add_argument("--steps", type=int, default=None)
    lra.add_argument("--seed", type=int, default=0)
    lra.add_argument("--out", default=None, help="write the rows as JSON here")
    lra.set_defaults(func=_lra)


def main(argv: list[str] | None = None) -> int:
    """``python -m selfattn.bench lra ...``: ``argv`` starts after ``bench``."""
    parser = argparse.ArgumentParser(prog="selfattn")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
