"""``selfattn bench lra``: the PyTorch Long Range Arena from the command line.

    selfattn bench lra [--scale tiny|small|paper] [--attention full local ...] [--tasks ...]
                       [--steps N] [--seed S] [--device cpu|cuda] [--no-memory] [--out DIR]

(also ``python -m selfattn.bench lra ...``). Trains every attention on every task, measures
examples/s and peak memory of each relative to full in one interleaved sweep, prints the
table (accuracy per task and average, speed and memory ratios at 1K / 2K / 4K, crossover
length) and, with ``--out``, writes ``results.json``, ``results.csv``, ``figure.png`` (the
LRA chart), ``crossover.json`` and ``crossover.png`` there.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_subparser", "main", "summary"]


def _lra(args: argparse.Namespace) -> int:
    from .lra import run_benchmark, scale_by_name, with_steps, write_outputs

    scale = scale_by_name(args.scale)
    if args.steps is not None:
        scale = with_steps(scale, args.steps)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    tasks = tuple(args.tasks) if args.tasks else None
    result = run_benchmark(scale, args.attention, seed=args.seed, tasks=tasks, device=args.device,
                           memory=not args.no_memory, progress=getattr(args, "verbosity", 0) >= 0)
    print()
    print(result["markdown"])
    if args.out:
        for kind, path in write_outputs(result, args.out).items():
            print(f"wrote {kind}: {path}")
    return 0


def summary(rows: list[dict]) -> str:
    """Accuracy per task and average, and training examples/s relative to ``full`` (the
    sequential training runs: a rough figure; the interleaved sweep is the one to quote)."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    names = list(dict.fromkeys(r["attention"] for r in rows))
    by = {(r["task"], r["attention"]): r for r in rows}
    head = f"{'attention':19s} " + " ".join(f"{t:>10s}" for t in tasks) + f" {'avg':>6s} {'train/full':>10s}"
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
    from .lra import LRA_ATTENTIONS, TASKS

    raw = argparse.RawDescriptionHelpFormatter
    bench = sub.add_parser("bench", help="benchmarks (the Long Range Arena)", formatter_class=raw,
                           description="Benchmarks of the attention variants.\n\nexample:\n"
                                       "  selfattn bench lra --scale tiny")
    bsub = bench.add_subparsers(dest="bench_command", required=True)
    lra = bsub.add_parser("lra", help="train and score attention variants on the LRA tasks, "
                                      "with speed and memory against full attention", formatter_class=raw,
                          description="Train every attention on every Long Range Arena task, time a step of "
                                      "each against full attention\nin one interleaved sweep, and print the "
                                      "table (accuracy, speed and memory ratios, crossover length).\n\n"
                                      "examples:\n  selfattn bench lra --scale tiny --attention full local\n"
                                      "  selfattn bench lra --scale small --threads 1 --out runs/lra")
    lra.add_argument("--scale", choices=["tiny", "small", "paper", "full"], default="small",
                     help="tiny: seconds (tests); small: 2 CPU cores, < 30 min; paper/full: a GPU")
    lra.add_argument("--attention", nargs="+", default=list(LRA_ATTENTIONS),
                     help=f"attention names (default: all {len(LRA_ATTENTIONS)}; 'full' is required)")
    lra.add_argument("--tasks", nargs="+", choices=list(TASKS))
    lra.add_argument("--steps", type=int, default=None, help="training steps of every task")
    lra.add_argument("--seed", type=int, default=0)
    lra.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    lra.add_argument("--device", default="cpu", help="cpu or cuda: where training and the sweep run")
    lra.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    lra.add_argument("--out", default=None, help="write results.json/.csv and the charts here")
    lra.set_defaults(func=_lra)


def main(argv: list[str] | None = None) -> int:
    """``python -m selfattn.bench lra ...``: ``argv`` starts after ``bench``."""
    parser = argparse.ArgumentParser(prog="selfattn")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)
