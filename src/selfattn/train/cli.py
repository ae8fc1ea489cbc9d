"""``selfattn train | eval | predict``: the command-line side of ``selfattn.train``.

    selfattn train TASK [--config FILE] [--resume RUN] [--devices N --strategy ddp] [key=value ...]
    selfattn train --list
    selfattn eval RUN
    selfattn predict RUN INPUT [--out FILE]

TASK is a preset (selfattn train --list); --config merges a YAML file over it and
key=value overrides (model.width=64 trainer.max_epochs=3) come last. A bad config stops
before any data is read, naming the key and the valid choices (exit 2).

Your own data: data.path=FILE reads a file in the task's format instead of the cached data
set (selfattn train TASK --help shows the format and the data options).

Each run gets its own directory (runs/TASK, runs/TASK-2, ...; or run.dir=DIR), is
reshuffled every epoch, checkpointed every trainer.checkpoint_every_n_steps steps and
after each epoch, and --resume RUN continues it exactly where it stopped.

examples:
  selfattn train pos
  selfattn train pos data.path=my_tagged.txt trainer.max_epochs=10 seed=1
  selfattn train --resume runs/pos
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

__all__ = ["CommandParsers", "add_subparsers", "command_parser", "main", "run_command", "set_verbosity",
           "verbosity"]

_USER_ERRORS = (ValueError, OSError, LookupError, RuntimeError)

_HEADLINES = {"test_acc": "accuracy", "test_auroc": "ROC-AUC", "test_rmse": "RMSE", "test_mae": "MAE",
              "test_f1": "F1", "test_bleu": "BLEU", "test_loss": "loss"}


def _train(args: argparse.Namespace) -> int:
    from .config import ConfigError, check_config, merge, parse_overrides, resolve_config, upgrade_saved
    from .tasks import PRESETS

    if args.task and "=" in args.task:  # "selfattn train --resume RUN key=value": no TASK given
        args.overrides, args.task = [args.task, *args.overrides], None
    args.overrides += [f"trainer.{k}={v}" for k in ("devices", "strategy")
                       if (v := getattr(args, k)) is not None]
    if args.help:
        args.parser.print_help()
        if args.task:
            print(task_help(args.task))
        return 0
    if args.list:
        for name, preset in PRESETS.items():
            print(f"{name:22s} task {preset['task']}")
        return 0
    if args.resume:
        import yaml

        saved = Path(args.resume) / "config.yaml"
        if not saved.is_file():
            raise FileNotFoundError(f"--resume: expected {saved} (a run directory), it is missing")
        cfg = merge(upgrade_saved(yaml.safe_load(saved.read_text(encoding="utf-8"))),
                    parse_overrides(args.overrides))
        if args.task and args.task not in (cfg["task"], cfg["preset"]):
            raise ConfigError(f"TASK: the run {args.resume} is {cfg['preset']!r}, got {args.task!r}")
        check_config(cfg)
    else:
        if not args.task:
            raise ConfigError(f"TASK: expected one of {sorted(PRESETS)} (or --resume RUN)")
        cfg = resolve_config(args.task, args.config, args.overrides)
    if verbosity(args) < 0:
        cfg["trainer"]["progress"] = False
    if args.print_config:
        import yaml

        sys.stdout.write(yaml.safe_dump(cfg, sort_keys=False))
        return 0
    from .run import train

    results = train(cfg, resume=args.resume)
    if not results:  # a DDP worker process
        return 0
    _report(results)
    return 0


def task_help(preset: str) -> str:
    """What ``selfattn train PRESET --help`` adds: the data file format and the data options."""
    import textwrap

    import yaml

    from .config import resolve_config
    from .tasks import get_task

    cfg = resolve_config(preset)
    task = get_task(cfg["task"])
    fmt = textwrap.fill(task.data_format.replace("``", "") or "(no file format: generated data)", 88,
                        initial_indent="  ", subsequent_indent="  ")
    options = textwrap.indent(yaml.safe_dump(cfg["data"], sort_keys=False, width=88).rstrip(), "  ")
    return (f"\npreset {preset} (task {cfg['task']}): train on your own data with data.path=FILE, in this "
            f"format:\n{fmt}\n\ndata options of this preset (override with data.KEY=VALUE):\n{options}\n"
            f"\nexample: selfattn train {preset} data.path=mydata trainer.max_epochs=5 seed=1")


def _report(results: dict) -> None:
    unit = f"{results['unit']} " if results.get("unit") else ""
    shown = [f"{unit if k == 'test_acc' else ''}{_HEADLINES.get(k, k)} {v:.4f}" for k, v in results.items()
             if k.startswith("test_") and isinstance(v, float)]
    print(f"test ({results['task']}): " + ", ".join(shown))
    print(f"best validation {results['monitor']}: {results['best_val']}; {results['epochs']} epochs, "
          f"{results['steps']} steps, {results['wall_s']} s")
    print(f"run directory: {results['run_dir']}")
    plots = results.get("plots", {})
    if plots.get("attention"):
        print(f"attention map: {plots['attention']}")
    if plots.get("learning_curves"):
        print(f"learning curves: {plots['learning_curves']}")


_TRAIN_HELP = """\
Train a model on a task (a preset) and write a run directory: config, weights, metrics,
train.log, plots. TASK is a preset (selfattn train --list); --config merges a YAML file
over it, and key=value overrides (model.width=64 trainer.max_epochs=3) come last. A bad
config stops before any data is read, naming the key and the valid choices (exit 2).

Your own data: data.path=FILE reads a file in the task's format instead of the cached data
set (selfattn train TASK --help shows the format and the data options).

Each run gets its own directory (runs/TASK, runs/TASK-2, ...; or run.dir=DIR), is
reshuffled every epoch, checkpointed every trainer.checkpoint_every_n_steps steps and
after each epoch, and --resume RUN continues it exactly where it stopped.

examples:
  selfattn train pos
  selfattn train pos data.path=my_tagged.txt trainer.max_epochs=10 seed=1
  selfattn train pos --print-config
  selfattn train --resume runs/pos
"""

_PREDICT_HELP = """Label new input with a trained run, with the probability of every label.

examples:
  echo "The dog barked at the mailman." | selfattn predict runs/pos -
  selfattn predict runs/pos sentences.txt --format jsonl --top-k 3
  selfattn predict runs/molecule-bbb molecules.csv --skip-bad --format csv --out scores.csv
  selfattn predict runs/asr lecture.wav --chunk-seconds 10

Input per task: POS raw sentences (split into Penn Treebank tokens) or word/TAG lines;
sentiment one text per line; molecules one SMILES per line, or a CSV/TSV whose header
names a smiles column; nodes node numbers; speech a WAV file or a list of WAV paths;
images a .npy array (count, height, width); translation one sentence per line.
"""

_EVAL_HELP = """Score a trained run, using only what it saved (vocabularies, labels, the config its
weights were trained with; editing config.yaml changes nothing).

examples:
  selfattn eval runs/pos                       # its own test split (checked against splits.json)
  selfattn eval runs/pos --data pos-oanc       # another preset's test split
  selfattn eval runs/pos --data my.txt         # all of your own file, in the task's format
  selfattn eval runs/pos --data pos-oanc data.label_map='{"\\"": "\\x27\\x27"}'

data.label_map renames the data's labels to the run's (OANC tags quotes as ", WSJ as `` and '');
a label the run never saw stops with its name and the run's labels, or is left out of the
metrics with data.unknown_labels=ignore. Results go to RUN/eval.json (RUN/eval-NAME.json).
"""


_REPORT_HELP = """\
A Markdown table of finished runs: the command that made each, its seed, wall time and
test metric against its preset's target (met or not).

examples:
  selfattn report runs/pos runs/sentiment
  selfattn report runs/* --out results.md --keep docs/results/runs
"""


def _eval(args: argparse.Namespace) -> int:
    from .run import evaluate

    results = evaluate(args.run, args.data, args.overrides)
    print(json.dumps(results, indent=1))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .predictor import Predictor, format_predictions

    predictor = Predictor.from_run(args.run)
    if args.chunk_seconds is not None:
        task = getattr(getattr(predictor, "task", None), "name", None)
        if task not in ("asr", "phonemes"):
            raise ValueError(f"--chunk-seconds: only asr and phonemes runs encode recordings in chunks, "
                             f"{args.run} is a {task or 'detection'} run")
        predictor.cfg.setdefault("run", {})["chunk_seconds"] = args.chunk_seconds or None
    shown = None
    if args.input == "-":
        import tempfile

        data = sys.stdin.buffer.read()
        suffix = ".wav" if data[:4] == b"RIFF" else ".npy" if data[:6] == b"\x93NUMPY" else ".txt"
        with tempfile.NamedTemporaryFile(prefix="selfattn-stdin-", suffix=suffix, delete=False) as f:
            f.write(data)
        path, shown = Path(f.name), "<stdin>"
    else:
        path = Path(args.input)
    try:
        predictions = predictor.predict_file(path, args.top_k, args.skip_bad,
                                             lambda m: print(m, file=sys.stderr), shown)
    finally:
        if shown:
            path.unlink(missing_ok=True)
    text = format_predictions(predictions, args.format, args.top_k)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(predictions)} predictions written to {args.out}")
    else:
        sys.stdout.write(text)
    return 0


def verbosity(args: argparse.Namespace) -> int:
    """-1 with ``-q/--quiet``, 1 with ``-v/--verbose``, else 0."""
    return getattr(args, "verbosity", 0)


def _verbosity_parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    both = parent.add_mutually_exclusive_group()
    # SUPPRESS: a sub-command's parser leaves the value its parent command's parser set
    # ("selfattn data -q list"), instead of writing its own default over it
    both.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=-1,
                      default=argparse.SUPPRESS,
                      help="warnings and the final result only: no progress bar, no progress lines")
    both.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=1,
                      default=argparse.SUPPRESS,
                      help="more detail on stderr (log level DEBUG: versions, threads, the kernel each "
                           "attention call used, timings)")
    return parent


_VERBOSITY = _verbosity_parent()


class CommandParsers(argparse._SubParsersAction):
    """Sub-commands that all take ``-q``/``-v`` from one parent parser (argparse ``parents``),
    as do their own sub-commands: a command added anywhere in the tree gets the pair without
    naming it."""

    def add_parser(self, name, **kwargs):
        kwargs["parents"] = [_VERBOSITY, *kwargs.get("parents", ())]
        parser = super().add_parser(name, **kwargs)
        parser.register("action", "parsers", CommandParsers)
        return parser


def command_parser(**kwargs) -> argparse.ArgumentParser:
    """The top ``selfattn`` parser: its ``add_subparsers`` gives :class:`CommandParsers`."""
    parser = argparse.ArgumentParser(**kwargs)
    parser.register("action", "parsers", CommandParsers)
    return parser


class _Stderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes (a redirect, a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # logging's own contract: report a failed write, never raise
            self.handleError(record)


def set_verbosity(level: int) -> None:
    """Log level of ``selfattn`` (WARNING / INFO / DEBUG for -1 / 0 / 1) and of Lightning
    (WARNING when quiet), on stderr."""
    log = logging.getLogger("selfattn")
    if not any(isinstance(h, _Stderr) for h in log.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel({-1: logging.WARNING, 0: logging.INFO}.get(level, logging.DEBUG))
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING if level < 0 else logging.INFO)


def _seconds(text: str) -> float:
    """``--chunk-seconds``: a number of seconds >= 0, or none (0 and none: no chunks)."""
    if text.strip().lower() in ("none", "null"):
        return 0.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0 or none, got {text!r}")
    return value


def run_command(args: argparse.Namespace) -> int:
    """Run ``args.func`` at the verbosity ``-q``/``-v`` asked for; a failure ends in one line on
    stderr (``error: ...``) and exit 2 for a bad config or argument, 1 otherwise: the
    traceback only with ``--debug`` or ``SELFATTN_DEBUG=1``."""
    from .errors import ConfigError

    debug = getattr(args, "debug", False) or os.environ.get("SELFATTN_DEBUG", "") not in ("", "0")
    set_verbosity(verbosity(args))
    log, start = logging.getLogger("selfattn.cli"), time.perf_counter()
    if log.isEnabledFor(logging.DEBUG):
        import platform
        from importlib.metadata import PackageNotFoundError, version

        import torch

        try:
            mine = version("selfattn")
        except PackageNotFoundError:
            mine = "unknown"
        log.debug("selfattn %s, torch %s, python %s, %d torch threads", mine, torch.__version__,
                  platform.python_version(), torch.get_num_threads())
        log.debug("arguments: %s", {k: v for k, v in vars(args).items() if k not in ("func", "parser")})
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        if not isinstance(error, _USER_ERRORS):
            message += f" ({type(error).__name__}; rerun with --debug for the traceback)"
        print(f"error: {message}", file=sys.stderr)
        return 2 if isinstance(error, ConfigError) else 1
    finally:
        log.debug("finished in %.2f s", time.perf_counter() - start)


class _IntermixedParser(argparse.ArgumentParser):
    """Options may come between or after ``key=value`` overrides (``train pos --quiet a=1``)."""

    _inside = False

    def parse_known_args(self, args=None, namespace=None):
        if self._inside:  # the intermixed parser's own two passes
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return super().parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def add_subparsers(subparsers) -> None:
    """Add ``train``, ``eval`` and ``predict`` to a ``selfattn`` sub-command parser."""
    default_class = subparsers._parser_class
    subparsers._parser_class = _IntermixedParser  # argparse offers no other hook per sub-command
    try:
        train = subparsers.add_parser(
            "train", help="train a model on a task (a preset), write a run directory",
            description=_TRAIN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter, add_help=False)
        ev = subparsers.add_parser(
            "eval", help="test metrics of a run's best weights, from what the run saved",
            formatter_class=argparse.RawDescriptionHelpFormatter, description=_EVAL_HELP)
    finally:
        subparsers._parser_class = default_class
    train.add_argument("-h", "--help", action="store_true",
                       help="show this help; with TASK, also its data file format and data options")
    train.add_argument("task", nargs="?", help="preset name (see --list)")
    train.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. model.width=64")
    train.add_argument("--config", help="a YAML config merged over the preset")
    train.add_argument("--resume", metavar="RUN",
                       help="continue the run in this directory from its last checkpoint")
    train.add_argument("--devices", type=int, help="processes / devices (= trainer.devices=N)")
    train.add_argument("--strategy", help="e.g. ddp (= trainer.strategy=...): several CPU processes use gloo")
    train.add_argument("--list", action="store_true", help="list the presets")
    train.add_argument("--print-config", action="store_true",
                       help="print the resolved config (every default filled in) and exit without training")
    train.set_defaults(func=_train, parser=train)
    ev.add_argument("run", help="run directory")
    ev.add_argument("--data", metavar="PRESET_OR_FILE",
                    help="score on another preset's test split, or on all of a file in the task's format")
    ev.add_argument("overrides", nargs="*", metavar="data.KEY=VALUE",
                    help="data options, e.g. data.unknown_labels=ignore (see above)")
    ev.set_defaults(func=_eval)
    pr = subparsers.add_parser(
        "predict", help="label new input with a trained run, with scores",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=_PREDICT_HELP)
    pr.add_argument("run", help="run directory")
    pr.add_argument("input", help="input file, or - for standard input (the format depends on the task)")
    pr.add_argument("--out", help="write predictions here instead of standard output")
    pr.add_argument("--format", choices=["text", "jsonl", "csv"], default="text",
                    help="text (the task's own lines), jsonl (one object per input, with scores) or csv "
                         "(one row per label)")
    pr.add_argument("--top-k", type=int, default=1, metavar="K",
                    help="the K most probable labels with their probabilities (default 1)")
    pr.add_argument("--skip-bad", action="store_true",
                    help="report bad input lines on stderr and go on (default: stop at the first, "
                         "naming FILE:LINE)")
    pr.add_argument("--chunk-seconds", type=_seconds, metavar="S",
                    help="speech runs: encode recordings longer than S seconds chunk by chunk (memory "
                         "bounded by S; overrides the run's run.chunk_seconds, default 30); 0 or none: "
                         "each recording whole")
    pr.set_defaults(func=_predict)
    rep = subparsers.add_parser("report", help="a Markdown table of runs against their presets' targets",
                                description=_REPORT_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    rep.add_argument("--out", help="write the table here instead of standard output")
    rep.add_argument("--keep", metavar="DIR",
                     help="copy each run's results.json, config.yaml and metrics.csv to DIR/<run>/")
    rep.set_defaults(func=_report_runs)


def _report_runs(args: argparse.Namespace) -> int:
    from .report import collect, keep, markdown

    rows = collect(args.runs)
    table = markdown(rows)
    if args.keep:
        keep(rows, args.keep)
    if args.out:
        Path(args.out).write_text(table, encoding="utf-8")
        print(f"{len(rows)} runs written to {args.out}")
    else:
        sys.stdout.write(table)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(prog="selfattn")
    add_subparsers(parser.add_subparsers(dest="command", required=True))
    parser.add_argument("--debug", action="store_true", help="show the full traceback of a failure")
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
