"""``selfattn viz attention | positional | embeddings | costs``: the command-line side of viz.

The drawing modules know nothing of argparse; this module turns each command's options
into one call of theirs and prints what was written as one JSON line. A failure raises
ValueError / FileNotFoundError naming the option or the file, which ``selfattn``'s
``run_command`` prints as one ``error: ...`` line (the traceback only with ``--debug``).
The help texts are written for users: what the picture shows and an example per command.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

__all__ = ["add_subparser"]

_VIZ = """\
Pictures of what a model does, as PNG files (and a one-file HTML viewer).
Layers and heads are numbered from 1 everywhere (layer 1 head 1 is the first head).

examples:
  selfattn viz attention runs/pos --html
  selfattn viz positional positional.png
  selfattn viz embeddings words.png --run runs/pos
  selfattn viz costs costs.png --results benchmarks/results
"""

_ATTENTION = """\
Draw a trained run's attention on one input: every layer and every head.

The picture follows the task: heat maps for sentences and other sequences (a row per
token that looks, a column per token looked at, the predicted label beside each row), the
weights on the bonds of a molecule (atoms numbered C1, O2, ...), on the edges around one
node of a graph (each node outlined in its true class, ringed in the predicted one), or
one pixel's attention laid over an image. Each heat map has its own
colour bar. --html also writes a viewer that opens from disk in any browser: pick a layer
and a head, see all heads at once, or click a token to see where it looks.

Without --example or --input, the test example closest to 20 tokens is drawn. The PNG goes
to RUN/viz/attention.png unless --out names another file; what was drawn is printed as
one line of JSON.

examples:
  selfattn viz attention runs/pos
  selfattn viz attention runs/pos --input my_sentences.txt --example 2 --html
  selfattn viz attention runs/molecule-bbb --out molecule.png --stats 200
  selfattn viz attention runs/polblogs --node 6 --max-nodes 15
  selfattn viz attention runs/fashion-mnist --pixel 14,14
"""

_POSITIONAL = """\
Draw every positional encoding as a heat map, side by side: the four added to the inputs
(sinusoidal, learned, FLOATER, RNN; position down, dimension across) and the four inside
attention (RoPE, Shaw's relative keys, the T5 and ALiBi biases). Learned ones are drawn
as initialised, with --seed.

examples:
  selfattn viz positional positional.png
  selfattn viz positional positional.png --length 256 --dim 128 --heads 12
"""

_EMBEDDINGS = """\
Draw word vectors in 2-D, coloured by word group, and say whether similar words cluster:
the mean cosine similarity within and between groups, and how often a word's nearest group
centre is its own. GloVe (50-d) is drawn unless --no-glove; each --run adds the word table
a POS or sentiment run learned. The numbers also go to OUT with .json.

examples:
  selfattn viz embeddings words.png
  selfattn viz embeddings words.png --run runs/pos --run runs/sentiment
  selfattn viz embeddings words.png --words animals=dog,cat,horse numbers=one,two,three
"""

_COSTS = """\
Draw time and memory against the number of vectors L for every attention kernel, on
log-log axes (a cost that grows like L^2 is a line of slope 2), from the JSON files the
benchmarks wrote. Nothing is run. Each curve's slope goes, with its numbers, to OUT with
.json. The results folder comes with the repository (benchmarks/results), not with the
installed package.

examples:
  selfattn viz costs costs.png
  selfattn viz costs costs.png --results ~/selfattn/benchmarks/results
"""


def _parser(sub, name: str, help: str, description: str):
    return sub.add_parser(name, help=help, description=description,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def add_subparser(sub) -> None:
    """Add ``viz`` and its four commands to a ``selfattn`` sub-command parser."""
    viz = _parser(sub, "viz", "pictures: attention of a run, positional encodings, embeddings, costs", _VIZ)
    what = viz.add_subparsers(dest="what", required=True, metavar="PICTURE")
    _add_attention(what)
    _add_positional(what)
    _add_embeddings(what)
    _add_costs(what)


# -- attention ---------------------------------------------------------------------------
def _pixel(text: str) -> tuple[int, int]:
    try:
        r, c = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ROW,COL (two integers), got {text!r}") from None
    return r, c


def _add_attention(sub) -> None:
    from .attention import FORMS

    p = _parser(sub, "attention", "a trained run's attention on one input: every layer and head", _ATTENTION)
    p.add_argument("run", metavar="RUN", help="a run directory written by 'selfattn train'")
    p.add_argument("--input", metavar="FILE", help="draw an example of your own: a file in the format "
                   "'selfattn predict' reads (sentences, SMILES, node ids, .npy images)")
    p.add_argument("--example", type=int, metavar="N", help="which example, counting from 0: of the run's "
                   "test split, or of --input (default: the test example closest to 20 tokens; the first "
                   "of --input)")
    p.add_argument("--out", metavar="PNG", help="the picture to write (default RUN/viz/attention.png)")
    p.add_argument("--html", action="store_true", help="also write the viewer: OUT with .html")
    p.add_argument("--form", choices=FORMS, default="auto",
                   help="the kind of picture (default auto: by task)")
    p.add_argument("--node", type=int, help="graphs: the node at the centre, by its id (default: a labelled "
                   "node with about 8 neighbours)")
    p.add_argument("--max-nodes", type=int, default=25, metavar="N",
                   help="graphs: how many nodes to draw around the centre (default 25)")
    p.add_argument("--pixel", type=_pixel, metavar="ROW,COL",
                   help="images: the pixel whose attention is drawn, from 0 (default: the centre)")
    p.add_argument("--stats", type=int, metavar="N", help="also write per-head numbers over the first N "
                   "test examples (how far each head looks; for graphs, how much goes to its own class) "
                   "to OUT with .json")
    p.set_defaults(func=_attention)


def _command(a: argparse.Namespace, out: str) -> str:
    """The command line that gives this output (every option that was set)."""
    parts = ["selfattn", "viz", "attention", str(a.run), "--out", str(out)]
    options = (("--input", a.input), ("--example", a.example),
               ("--form", None if a.form == "auto" else a.form), ("--node", a.node),
               ("--max-nodes", None if a.max_nodes == 25 else a.max_nodes),
               ("--pixel", None if a.pixel is None else f"{a.pixel[0]},{a.pixel[1]}"), ("--stats", a.stats))
    for flag, value in options:
        if value is not None:
            parts += [flag, str(value)]
    return " ".join(parts + (["--html"] if a.html else []))


def _attention(a: argparse.Namespace) -> int:
    from .attention import draw_run_attention, run_attention

    started = time.perf_counter()
    if a.max_nodes < 1:
        raise ValueError(f"--max-nodes: expected at least 1, got {a.max_nodes}")
    if a.stats is not None and a.stats < 1:
        raise ValueError(f"--stats: expected at least one example, got {a.stats}")
    ra = run_attention(a.run, a.input, a.example)
    out = a.out or str(Path(a.run) / "viz" / "attention.png")
    info = draw_run_attention(ra, out, a.form, node=a.node, pixel=a.pixel, max_nodes=a.max_nodes, html=a.html)
    if a.stats is not None:
        from .summary import run_attention_stats

        info["stats"] = run_attention_stats(a.run, a.stats)
        info["command"] = _command(a, out)
        info["wall_s"] = round(time.perf_counter() - started, 1)
        Path(out).with_suffix(".json").write_text(json.dumps(info, indent=1, default=str), encoding="utf-8")
    print(json.dumps(info, default=str))
    return 0


# -- positional --------------------------------------------------------------------------
def _add_positional(sub) -> None:
    p = _parser(sub, "positional", "heat maps of every positional encoding", _POSITIONAL)
    p.add_argument("out", metavar="OUT", help="the PNG to write")
    p.add_argument("--length", type=int, default=128, help="positions drawn (default 128)")
    p.add_argument("--dim", type=int, default=64, help="dimensions of the encodings, even (default 64)")
    p.add_argument("--heads", type=int, default=8, help="heads of the T5 and ALiBi biases (default 8)")
    p.add_argument("--seed", type=int, default=0, help="initialises the learned encodings (default 0)")
    p.set_defaults(func=_positional)


def _positional(a: argparse.Namespace) -> int:
    from .positional import plot_positional

    path = plot_positional(a.out, a.length, a.dim, a.heads, a.seed)
    print(json.dumps({"png": str(path)}))
    return 0


# -- embeddings --------------------------------------------------------------------------
def _add_embeddings(sub) -> None:
    p = _parser(sub, "embeddings", "GloVe and learned word vectors in 2-D: do similar words cluster?",
                _EMBEDDINGS)
    p.add_argument("out", metavar="OUT", help="the PNG to write (the numbers go to OUT with .json)")
    p.add_argument("--words", nargs="+", metavar="GROUP=w1,w2,...",
                   help="your word groups, two or more (default: animals, countries, numbers, verbs, "
                        "colours, family)")
    p.add_argument("--run", action="append", default=[], metavar="RUN",
                   help="a POS or sentiment run whose learned word table to draw too (repeatable)")
    p.add_argument("--method", choices=["pca", "tsne"], default="pca", help="how to go to 2-D (default pca)")
    p.add_argument("--no-glove", action="store_true", help="draw only the runs' tables")
    p.add_argument("--seed", type=int, default=0, help="seeds t-SNE (default 0)")
    p.set_defaults(func=_embeddings)


def _embeddings(a: argparse.Namespace) -> int:
    from .embeddings import embeddings_figure, parse_groups

    groups = parse_groups(a.words) if a.words else None
    report = embeddings_figure(a.out, groups, a.run, a.method, a.seed, glove=not a.no_glove)
    print(json.dumps({k: {s: {m: v for m, v in st.items() if m != "missing"} for s, st in v.items()}
                      if k == "sources" else v for k, v in report.items() if k != "groups"}, indent=1))
    return 0


# -- costs -------------------------------------------------------------------------------
def _add_costs(sub) -> None:
    p = _parser(sub, "costs", "time and memory against L per kernel, from the benchmark results", _COSTS)
    p.add_argument("out", metavar="OUT", help="the PNG to write (every curve's numbers go to OUT with .json)")
    p.add_argument("--results", metavar="DIR", help="the benchmarks' results folder (default: "
                   "benchmarks/results here, else in the checkout selfattn was installed from)")
    p.set_defaults(func=_costs)


def _costs(a: argparse.Namespace) -> int:
    """Draw, and write every curve with its slope to OUT with .json."""
    from .costs import default_results, plot_costs

    results = default_results() if a.results is None else Path(a.results)
    _, series = plot_costs(a.out, results)
    curves = [{"panel": s.panel, "name": s.name, "source": s.source, "x": s.x, "y": s.y,
               "slope_last": None if s.slope is None else round(s.slope, 3)} for s in series]
    report = {"png": str(a.out), "results": str(results), "curves": curves}
    Path(a.out).with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(json.dumps({"png": str(a.out), "curves": len(curves)}))
    return 0
