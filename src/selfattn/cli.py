"""The ``selfattn`` command.

    selfattn demo [--steps N] [--out DIR] [--seed S]   train the demo tagger, print metrics
    selfattn train TASK [--config F] [key=value ...]   train a task from configs/ (eval RUN, predict RUN IN)
    selfattn report RUN...                             runs against their presets' targets, as a table
    selfattn kernels                                   the attention kernels and what each computes
    selfattn experiment NAME [--scale small|full]      one of the lecture's claims, as JSON + PNG
    selfattn data list | get NAME                      the real data sets (see selfattn.data)
    selfattn viz positional OUT.png                    every positional encoding as a heat map
    selfattn viz attention RUN [--example N] [--html]  a run's attention: heads, graph edges, pixels
    selfattn viz embeddings OUT.png [--run RUN]        GloVe and learned word vectors in 2-D
    selfattn viz costs OUT.png                         time and memory against L, per kernel
    selfattn bench lra                                 the efficient variants on a PyTorch LRA

Every command and sub-command takes -q/--quiet (warnings and the final result only) and
-v/--verbose (more detail on stderr: versions, threads, each attention call's kernel).
"""

from __future__ import annotations

import argparse
import json
import sys

from .train.cli import command_parser, verbosity

__all__ = ["build_parser", "main"]

_HELP = """\
Self-attention over sets of vectors of varying length: train and evaluate models on real
tasks, label new input, draw what the models attend to, compare attention kernels.

Every command takes -q/--quiet (warnings and the final result only) and -v/--verbose (more
detail on stderr); 'selfattn COMMAND --help' shows a command's options and examples.

examples:
  selfattn demo
  selfattn train pos
  selfattn predict runs/pos sentences.txt --top-k 3
  selfattn viz attention runs/pos --html
"""

_DEMO_HELP = """\
Train a small self-attention tagger on generated sets: each token is labelled 1 if the
same word occurs elsewhere in its set, which no per-vector model can learn. Prints the
token accuracy on held-out sets beside the best a per-vector model can do; the run
directory gets the metrics and an attention map. Seconds on a CPU.

examples:
  selfattn demo
  selfattn demo --steps 300 --seed 1 --out runs/demo-seed1
"""

_KERNELS_HELP = """\
List the attention kernels in the order the automatic choice tries them, each with what
it computes; the last is the reference every other kernel is tested against.

example:
  selfattn kernels
"""

_EXPERIMENT_HELP = """\
Run one of the lecture's claims as an experiment: it trains and measures what the claim
is about, prints the numbers as JSON and writes results.json and figure.png to --out.
--scale small fits two CPU cores; full is the larger setting (more data, seeds, lengths).

examples:
  selfattn experiment attention-is-a-cnn
  selfattn experiment truncated-attention --scale full --seed 1 --out runs/truncated
"""


def _demo(args: argparse.Namespace) -> int:
    from .demo import DemoConfig, run_demo

    cfg = DemoConfig(steps=args.steps, seed=args.seed, out=args.out)
    metrics = run_demo(cfg, progress=verbosity(args) >= 0)
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))
    print(f"run directory: {cfg.out}")
    return 0


def _kernels(args: argparse.Namespace) -> int:
    from .functional.dispatch import _KERNELS, _REFERENCE

    for k in [*_KERNELS, _REFERENCE]:
        print(f"{k.name:12s} {k.description}")
    return 0


def _experiment(args: argparse.Namespace) -> int:
    import contextlib
    import io

    from .experiments import EXPERIMENTS

    out = args.out or f"runs/experiments/{args.name}"
    # -q: the experiments print a line per configuration they finish; only the result is kept
    hush = contextlib.redirect_stdout(io.StringIO()) if verbosity(args) < 0 else contextlib.nullcontext()
    with hush:
        result = EXPERIMENTS[args.name](out, scale=args.scale, seed=args.seed)
    print(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = command_parser(prog="selfattn", description=_HELP, formatter_class=raw)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small self-attention tagger on generated sets",
                          description=_DEMO_HELP, formatter_class=raw)
    demo.add_argument("--steps", type=int, default=600, help="training steps (default 600)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="runs/demo", help="run directory (default runs/demo)")
    demo.set_defaults(func=_demo)
    kernels = sub.add_parser("kernels", help="list the attention kernels", description=_KERNELS_HELP,
                             formatter_class=raw)
    kernels.set_defaults(func=_kernels)
    from .experiments import EXPERIMENTS

    exp = sub.add_parser("experiment", help="run one of the lecture's claims as an experiment",
                         description=_EXPERIMENT_HELP, formatter_class=raw)
    exp.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME",
                     help="one of: " + ", ".join(EXPERIMENTS))
    exp.add_argument("--scale", choices=["small", "full"], default="small")
    exp.add_argument("--seed", type=int, default=0)
    exp.add_argument("--out", default=None, help="output directory (default runs/experiments/NAME)")
    exp.set_defaults(func=_experiment)
    from .data.cli import add_subparser as add_data

    add_data(sub)
    from .train.cli import add_subparsers as add_train

    add_train(sub)
    from .bench.cli import add_subparser as add_bench

    add_bench(sub)
    from .viz.cli import add_subparser as add_viz

    add_viz(sub)
    from .train.embed import add_subparser as add_embed

    add_embed(sub)
    parser.add_argument("--version", action="version", version=f"selfattn {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of a failure (also SELFATTN_DEBUG=1)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("selfattn")
    except PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line, not only before the command
    args = parser.parse_args([a for a in argv if a != "--debug"])
    args.debug = debug
    from .train.cli import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
