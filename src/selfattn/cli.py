"""The ``selfattn`` command.

    selfattn demo [--steps N] [--out DIR] [--seed S]   train the demo tagger, print metrics
    selfattn kernels                                   the attention kernels and what each computes
    selfattn data list | get NAME                      the real data sets (see selfattn.data)
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main"]


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo

    cfg = DemoConfig(steps=args.steps, seed=args.seed, out=args.out)
    metrics = run_demo(cfg, progress=not args.quiet)
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))
    print(f"run directory: {cfg.out}")
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from .functional.dispatch import _KERNELS, _REFERENCE

    for k in [*_KERNELS, _REFERENCE]:
        print(f"{k.name:12s} {k.description}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selfattn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small self-attention tagger on generated sets")
    demo.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)
    kernels = sub.add_parser("kernels", help="list the attention kernels")
    kernels.set_defaults(func=_kernels)
    from .data.cli import add_subparser as add_data

    add_data(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
