"""A trained run's attention on one input: heat maps, graph edges, image overlays, HTML.

* ``run_attention(run, input=..., example=...)`` loads a run directory written by
  ``selfattn train`` (``selfattn.train.load_run``), takes one set (the ``N``-th of the
  run's test split, or of a user file read by the task's own ``read_input``) and returns
  every layer's ``(heads, n, n)`` weights with the labels of its vectors (words, atoms
  numbered from 1 such as ``C1, O2``, node numbers, patch cells, frame numbers), and what
  ``describe`` says of the set: its sentence or SMILES, the model's labels and the true
  ones. The weights come from the model's forward with ``return_weights=True``, exactly
  as the run's own plots get them.
* ``draw_run_attention`` picks the picture for the task: the weights on the edges for
  graph tasks (a node's neighbourhood for node classification; the whole molecule with
  RDKit 2-D coordinates), the attention of a chosen pixel/patch over the image for image
  tasks, and a ``layers x heads`` grid of heat maps otherwise, titled with the sentence
  (or SMILES) and the predicted labels beside the tokens. ``html=True`` also writes the
  one-file viewer (``selfattn.viz.html``) of the same weights.

Without ``example`` (and ``input``) the test set closest to 20 vectors is drawn, the same
choice as the run's ``attention.png``. The command line is ``selfattn viz attention``
(``selfattn.viz.cli``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..train.plots import Described, describe, indexed_atoms
from .runs import example_weights, read_run

__all__ = ["FORMS", "RunAttention", "draw_run_attention", "example_weights", "form_of", "read_run",
           "run_attention", "run_figure"]

FORMS = ("auto", "heatmap", "graph", "image")
_HTML_MAX = 400  # the viewer embeds n^2 numbers per head: larger sets are cut (and the title says so)


@dataclass
class RunAttention:
    """One set's attention in a trained run (see the module docstring)."""

    cfg: dict[str, Any]
    task: Any
    state: dict[str, Any]
    example: Any                       # the VectorSet drawn
    weights: list[torch.Tensor]        # per layer (heads, n, n), n counting [CLS] if the model has one
    tokens: list[str] | None           # n labels, "[CLS]" first if the model has one
    offset: int                        # 1 with a [CLS] vector in front, else 0
    source: str                        # where the set came from
    described: Described = dataclasses.field(default_factory=lambda: Described(""))
    symbols: list[str] | None = None   # molecules: the element of each atom (tokens are C1, O2, ...)

    @property
    def text(self) -> str:
        """The sentence, SMILES or name of the set: the title of its pictures."""
        return self.described.text or self.source


def _pick_default(examples) -> int:
    """The set closest to 20 vectors (first on ties): readable sizes, as the run's plots."""
    return min(range(len(examples)), key=lambda i: (abs(len(examples[i]) - 20), i))


def run_attention(run: str | Path, input: str | Path | None = None,
                  example: int | None = None) -> RunAttention:
    """Load ``run`` and compute the attention of one set: the ``example``-th of the test split,
    or of the sets in file ``input`` (default: the first of the file; for the test split the
    one closest to 20 vectors)."""
    run = Path(run)
    cfg, task, spec, state, model = read_run(run)
    if spec.get("task") == "seq2seq":
        raise ValueError(f"RUN: {run} is a sequence-to-sequence run (task {cfg['task']!r}); selfattn viz "
                         "attention draws encoder runs (a label per vector or per set)")
    shown: list[Any] | None = None
    if input is not None:
        path = Path(input)
        if not path.is_file():
            raise FileNotFoundError(f"--input: expected a file for task {cfg['task']!r}, got {path} "
                                    "(missing)")
        sets, shown = task.read_input(path, state, cfg)
        where = f"--input {path}"
    else:
        data = task.build(cfg)
        sets, where = data.test.examples, f"the test split of {run}"
        state = {**data.state, **state}  # the saved state wins; the rebuilt one adds e.g. the POS texts
    if not sets:
        raise ValueError(f"--example: {where} has no sets to draw")
    if example is None:
        example = 0 if input is not None else _pick_default(sets)
    if not 0 <= int(example) < len(sets):
        has = (f"--input {input} has {len(sets)} sets" if input is not None else
               f"the run's test set has {len(sets)} examples")
        raise ValueError(f"--example: expected 0..{len(sets) - 1} ({has}), got {example}")
    chosen = sets[int(example)]
    if input is None and cfg["task"] == "nodes":
        # one graph in every split, each labelling its own nodes: draw every known label
        labels = torch.stack([s.examples[0].y for s in (data.train, data.validation, data.test)]).amax(0)
        chosen = dataclasses.replace(chosen, y=labels)
    kind = cfg["model"]["kind"]
    if kind not in ("transformer", "pretrained"):
        raise ValueError(f"RUN: model.kind={kind!r} of {run} has no attention layers (a baseline); choose a "
                         "run with model.kind=transformer or pretrained")
    try:
        weights = example_weights(model, chosen)
    except (TypeError, ValueError, NotImplementedError) as error:
        raise ValueError(f"RUN: model.kind={cfg['model']['kind']!r} of {run} gave no attention weights "
                         f"({error})") from error
    if not weights:
        raise ValueError(f"RUN: model.kind={cfg['model']['kind']!r} of {run} has no attention layers "
                         "(a baseline); choose a run with model.kind=transformer or pretrained")
    offset = int(getattr(model, "cls", None) is not None)
    shown_one = shown[int(example)] if shown is not None else None
    tokens = _tokens(task, chosen, state, shown_one)
    symbols = None
    if tokens is not None and cfg["task"] == "molecule":
        symbols, tokens = tokens, indexed_atoms(tokens)
    described = describe(cfg, task, spec, state, model, chosen, tokens, shown_one)
    if tokens is not None and offset:
        tokens = ["[CLS]", *tokens]
    n = weights[0].shape[-1]
    if tokens is not None and len(tokens) != n:
        tokens = None  # e.g. subword ids without their text: numbers instead of wrong labels
    source = chosen.source or f"{where}[{example}]"
    return RunAttention(cfg, task, state, chosen, [w.float() for w in weights], tokens, offset, source,
                        described, symbols)


def _tokens(task, example, state: dict, shown: Any) -> list[str] | None:
    if isinstance(shown, list) and len(shown) == len(example) and all(isinstance(s, str) for s in shown):
        return list(shown)  # the words of the user's own sentence, case kept
    try:
        tokens = task.tokens(example, state)
    except (KeyError, IndexError, ValueError):
        return None
    return None if tokens is None else [str(t) for t in tokens]


def form_of(cfg: dict) -> str:
    """The picture ``auto`` picks for a run's task: graph, image or heatmap."""
    return {"nodes": "graph", "molecule": "graph", "image": "image"}.get(cfg["task"], "heatmap")


def _strip(weights: list[torch.Tensor], offset: int) -> list[torch.Tensor]:
    return [w[:, offset:, offset:] for w in weights]


def run_figure(ra: RunAttention, form: str = "auto", *, node: int | None = None,
               pixel: tuple[int, int] | None = None, max_nodes: int = 25):
    """``(Figure, info, keep)``: the picture for ``ra`` (see ``draw_run_attention``), what it
    shows, and the vectors drawn (None: all) for the viewer."""
    if form not in FORMS:
        raise ValueError(f"form: expected one of {list(FORMS)}, got {form!r}")
    form = form_of(ra.cfg) if form == "auto" else form
    title = _title(ra)
    info: dict[str, Any] = {"form": form, "source": ra.source, "title": title, "layers": len(ra.weights),
                            "heads": [int(w.shape[0]) for w in ra.weights],
                            "vectors": int(ra.weights[0].shape[-1])}
    if ra.described.predicted is not None:
        info["predicted"] = ra.described.predicted
    keep: list[int] | None = None
    if form == "graph":
        fig, keep = _draw_graph(ra, title, node, max_nodes, info)
    elif form == "image":
        fig = _draw_image(ra, title, pixel, info)
    else:
        from .maps import attention_heatmaps

        predicted, truth = _per_vector(ra)
        fig = attention_heatmaps(ra.weights, ra.tokens, title=title, predicted=predicted, truth=truth)
    return fig, info, keep


def draw_run_attention(ra: RunAttention, out: str | Path, form: str = "auto", *, node: int | None = None,
                       pixel: tuple[int, int] | None = None, max_nodes: int = 25, html: bool = False) -> dict:
    """Write the picture for ``ra`` to ``out`` (PNG) and optionally ``out`` with ``.html``;
    returns what was drawn (paths, form, title, layers, heads, vectors, predicted labels)."""
    fig, info, keep = run_figure(ra, form, node=node, pixel=pixel, max_nodes=max_nodes)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    info = {"form": info.pop("form"), "png": str(out), **info}
    if html:
        info["html"] = str(_write_html(ra, out.with_suffix(".html"), info["title"], keep))
    return info


def _title(ra: RunAttention) -> str:
    """``preset: sentence`` (or SMILES, or the set's name), and the set's predicted label."""
    title = f"{ra.cfg.get('preset', ra.cfg['task'])}: {ra.text}"
    d = ra.described
    if isinstance(d.predicted, str):
        title += f"\npredicted: {d.predicted}" + ("" if d.score is None else f" ({d.score:.2f})")
        title += "" if d.truth is None else f", true: {d.truth}"
    return title


def _per_vector(ra: RunAttention) -> tuple[list[str] | None, list[str | None] | None]:
    """The predicted and true label of every row (``[CLS]``: none), for a labelling task."""
    d = ra.described
    if not isinstance(d.predicted, list):
        return None, None
    truth = None if d.truth is None else [None] * ra.offset + list(d.truth)
    return [""] * ra.offset + list(d.predicted), truth


def _draw_graph(ra: RunAttention, title: str, node: int | None, max_nodes: int, info: dict):
    from .graph import graph_attention_figure, molecule_positions, neighbourhood, spring_positions

    ex = ra.example
    if ex.edge_index is None:
        raise ValueError(f"form: 'graph' needs a set with edges; {ra.source} has none "
                         f"(task {ra.cfg['task']!r})")
    weights = _strip(ra.weights, ra.offset)
    n = weights[0].shape[-1]
    labels = ra.tokens[ra.offset:] if ra.tokens is not None else None
    if ra.cfg["task"] == "molecule" and node is None:
        nodes = list(range(n))
        positions = molecule_positions(ex.x, ex.edge_index, ra.symbols)
        title += f"\n{n} atoms (numbered from 1), RDKit 2-D coordinates"
    else:
        if node is None:
            node = _default_centre(ex)
        # neighbours ranked by how much the centre attends to them, over all layers and heads
        score = torch.stack([w[:, node].mean(0) for w in weights]).mean(0)
        nodes = neighbourhood(ex.edge_index, n, int(node), max_nodes, score)
        degree = int(((ex.edge_index[1] == node) & (ex.edge_index[0] != node)).sum())
        positions = spring_positions(ex.edge_index, nodes)
        labels = [str(v) for v in nodes] if labels is None else [labels[v] for v in nodes]
        shown = (f"all {degree} of its neighbours" if len(nodes) - 1 == degree else
                 f"the {len(nodes) - 1} of its {degree} neighbours it attends to most")
        title += f"\nnode {node} and {shown}"
        info["node"] = int(node)
    classes = None
    if ex.y is not None and ex.y.dim() == 1 and len(ex.y) == n:
        classes = [int(ex.y[v]) if int(ex.y[v]) >= 0 else -1 for v in nodes]
    names = ra.task.class_names(ra.state)
    predicted = None
    guessed = ra.described.predicted
    if names and isinstance(guessed, list) and len(guessed) == n:  # a class per node (graph nodes)
        predicted = [names.index(guessed[v]) for v in nodes]
        info["predicted_drawn"] = {int(v): guessed[v] for v in nodes}
    fig = graph_attention_figure(weights, ex.edge_index, positions, nodes, labels=labels, classes=classes,
                                 class_names=names if classes or predicted else None, predicted=predicted,
                                 title=title)
    info["nodes"] = nodes
    return fig, ([0] if ra.offset else []) + [v + ra.offset for v in nodes]


def _default_centre(ex) -> int:
    """A labelled node whose degree is closest to 8 (lowest number on ties): a readable picture."""
    n = len(ex)
    deg = torch.bincount(ex.edge_index[1][ex.edge_index[0] != ex.edge_index[1]], minlength=n)
    labelled = torch.arange(n) if ex.y is None or ex.y.dim() != 1 else torch.nonzero(ex.y >= 0).flatten()
    if len(labelled) == 0:
        labelled = torch.arange(n)
    return int(labelled[torch.argmin((deg[labelled] - 8).abs() * n + labelled)])


def _draw_image(ra: RunAttention, title: str, pixel: tuple[int, int] | None, info: dict):
    from .image import cell_of_pixel, image_attention_figure, image_from_vectors

    grid = ra.example.grid
    if grid is None:
        raise ValueError(f"form: 'image' needs a set on a grid; {ra.source} has none "
                         f"(task {ra.cfg['task']!r})")
    image = image_from_vectors(ra.example.x, grid)
    pixel = (image.shape[0] // 2, image.shape[1] // 2) if pixel is None else pixel
    query = cell_of_pixel(pixel, image.shape, grid)
    fig = image_attention_figure(ra.weights, image, grid, query, offset=ra.offset,
                                 title=f"{title}\nattention of the cell holding pixel {tuple(pixel)} over "
                                       "the image")
    info.update({"pixel": list(pixel), "cell": query, "grid": list(grid)})
    return fig


def _write_html(ra: RunAttention, path: Path, title: str, keep: list[int] | None) -> Path:
    from .html import attention_html

    n = ra.weights[0].shape[-1]
    tokens = ra.tokens
    if tokens is None and ra.example.grid is not None and n == ra.offset + len(ra.example):
        cols = int(ra.example.grid[1])
        tokens = ["[CLS]"] * ra.offset + [f"({i // cols},{i % cols})" for i in range(len(ra.example))]
    if tokens is None:  # graphs: the node ids of the data; sequences: positions from 1
        first = 0 if ra.example.edge_index is not None else 1
        tokens = ["[CLS]"] * ra.offset + [str(i + first) for i in range(n - ra.offset)]
    predicted, truth = _per_vector(ra)
    if keep is None and n > _HTML_MAX:
        keep = list(range(_HTML_MAX))
    heading, _, rest = title.partition("\n")
    notes = [rest] if rest else []
    weights = ra.weights
    if keep is not None and len(keep) < n:
        idx = torch.tensor(keep, dtype=torch.long)
        weights = [w[:, idx][:, :, idx] for w in ra.weights]
        tokens = [tokens[i] for i in keep]
        predicted = None if predicted is None else [predicted[i] for i in keep]
        truth = None if truth is None else [truth[i] for i in keep]
        notes.append(f"the {len(keep)} vectors drawn, of {n}: rows sum to less than 1")
    notes.append(f"from {ra.source}")
    attention_html(weights, tokens, title=heading, subtitle="\n".join(notes), predicted=predicted,
                   truth=truth, path=path)
    return path
