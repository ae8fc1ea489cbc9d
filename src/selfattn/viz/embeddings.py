"""Word embeddings in 2-D, and whether similar words cluster, as a number.

The lecture's word embedding [3]: unlike one-hot vectors, learned vectors carry meaning,
so words of one kind (animals, numbers, verbs...) lie close together. This module puts
that claim to a test on GloVe 6B (50-d, ``selfattn.data.load_glove``) and on the word
table a run learned (``selfattn train`` checkpoints: the ``word`` field of POS runs,
the vocabulary of sentiment runs):

* ``group_similarity``: mean cosine similarity of word pairs within a group and between
  groups, in the full-dimensional space, and the leave-one-out nearest-centroid accuracy
  (chance: 1 / number of groups). Clustering means ``within > between``; it can fail, and
  on a table trained for another goal it may;
* ``project``: PCA (or t-SNE, scikit-learn) to 2-D for the picture only;
* ``embeddings_figure``: one panel per source, coloured by group, and a JSON of the
  numbers beside the PNG.

    selfattn viz embeddings OUT.png [--words animals=dog,cat,... ...] [--run RUN ...] [--method tsne]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from .plain_text import PLAIN, plain_legend

__all__ = ["DEFAULT_GROUPS", "embeddings_figure", "glove_vectors", "group_similarity",
           "parse_groups", "project", "run_vectors"]

DEFAULT_GROUPS: dict[str, list[str]] = {
    "animals": ["dog", "cat", "horse", "fish", "mouse", "lion", "bear", "snake", "rabbit", "sheep"],
    "countries": ["france", "germany", "italy", "spain", "china", "japan", "india", "russia", "canada",
                  "america"],
    "numbers": ["one", "two", "three", "four", "five", "six", "seven", "nine", "ten", "million"],
    "verbs": ["run", "walk", "eat", "drink", "read", "think", "buy", "sell", "go", "come"],
    "colours": ["red", "blue", "green", "yellow", "black", "white", "brown", "pink", "orange", "gray"],
    "family": ["mother", "father", "sister", "brother", "son", "daughter", "wife", "husband", "uncle"],
}


def parse_groups(items: Sequence[str]) -> dict[str, list[str]]:
    """``["animals=dog,cat", "numbers=one,two"]`` -> ``{"animals": ["dog", "cat"], ...}``."""
    groups: dict[str, list[str]] = {}
    for item in items:
        name, eq, words = item.partition("=")
        found = [w.strip().lower() for w in words.split(",") if w.strip()]
        if not eq or not name.strip() or len(found) < 2:
            raise ValueError(f"--words: expected GROUP=word,word[,...] (at least two words), got {item!r}")
        groups[name.strip()] = found
    if len(groups) < 2:
        raise ValueError(f"--words: expected at least two groups (within vs between), got {len(groups)}")
    return groups


def group_similarity(vectors: np.ndarray, groups: Sequence[int]) -> dict[str, float]:
    """Mean cosine similarity within and between groups, and nearest-centroid accuracy.

    ``vectors`` ``(n, d)``, ``groups`` ``(n,)`` a group number per row. ``within``: mean
    over pairs of distinct words of one group; ``between``: over pairs from different
    groups; ``gap = within - between``. ``centroid_accuracy``: each word assigned to the
    group whose mean unit vector (computed without the word) is most similar.
    """
    x = np.asarray(vectors, dtype=np.float64)
    g = np.asarray(groups)
    if x.ndim != 2 or g.shape != (x.shape[0],):
        raise ValueError(f"vectors, groups: expected (n, d) and (n,), got {x.shape} and {g.shape}")
    labels = np.unique(g)
    counts = {int(c): int((g == c).sum()) for c in labels}
    if len(labels) < 2 or min(counts.values()) < 2:
        raise ValueError(f"groups: expected at least two groups of at least two words each, got sizes "
                         f"{counts}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"vectors: rows {np.flatnonzero(norms[:, 0] == 0).tolist()} are zero (no direction)")
    unit = x / norms
    sim = unit @ unit.T
    same = g[:, None] == g[None, :]
    off = ~np.eye(len(g), dtype=bool)
    within, between = float(sim[same & off].mean()), float(sim[~same].mean())
    correct = 0
    for i in range(len(g)):
        scores = []
        for c in labels:
            members = (g == c) & (np.arange(len(g)) != i)
            centre = unit[members].mean(0)
            scores.append(float(unit[i] @ centre / max(np.linalg.norm(centre), 1e-12)))
        correct += int(labels[int(np.argmax(scores))] == g[i])
    return {"within": within, "between": between, "gap": within - between,
            "centroid_accuracy": correct / len(g), "chance": 1.0 / len(labels), "words": len(g)}


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(n, d)`` -> ``(n, 2)``: PCA (centred SVD) or t-SNE (scikit-learn, cosine metric)."""
    x = np.asarray(vectors, dtype=np.float64)
    if method == "pca":
        centred = x - x.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        return centred @ vt[:2].T
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(10.0, (len(x) - 1) / 3))
        return TSNE(2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed).fit_transform(x)
    raise ValueError(f"method: expected 'pca' or 'tsne', got {method!r}")


def glove_vectors(words: Sequence[str], path: str | Path | None = None) -> tuple[list[str], np.ndarray]:
    """``(found, (len(found), 50))``: the GloVe 6B vectors of the ``words`` it knows."""
    from ..data import load_glove

    vocab, table = load_glove(path)
    row = {w: i for i, w in enumerate(vocab)}
    found = [w for w in words if w in row]
    return found, np.array(table[[row[w] for w in found]], dtype=np.float32).reshape(len(found), -1)


def run_vectors(run: str | Path, words: Sequence[str]) -> tuple[list[str], np.ndarray, str]:
    """``(found, vectors, what)``: rows of the word table a run learned, for the ``words`` in
    its vocabulary (``what`` names the table, and says if it was frozen)."""
    import torch

    from ..data import Vocabulary
    from .runs import read_run

    cfg, _, spec, state, model = read_run(run)
    tables = getattr(getattr(model, "embed", None), "tables", None)
    if "fields" in state:                      # POS: the lower-cased word field is table 0
        vocab, what = state["fields"].vocabs[0], "word field"
    elif "words" in state:                     # sentiment: one word table
        vocab, what = Vocabulary(state["words"][len(state["specials"]):], state["specials"]), "word table"
    else:
        raise ValueError(f"RUN: {run} (task {cfg['task']!r}) has no word vocabulary; expected a POS or "
                         "sentiment run with word ids")
    if tables is None:
        raise ValueError(f"RUN: {run} (model.kind={cfg['model']['kind']!r}) has no word embedding table")
    table = tables[0].weight.detach()
    frozen = "0" in (spec.get("input", {}).get("frozen_fields") or {})
    found = [w for w in words if w in vocab]
    ids = torch.tensor([vocab.id(w) for w in found], dtype=torch.long)
    what = f"{cfg.get('preset', cfg['task'])} {what} ({table.shape[1]}-d{', frozen GloVe' if frozen else ''})"
    return found, table[ids].float().numpy().reshape(len(found), -1), what


def embeddings_figure(out: str | Path, groups: Mapping[str, Sequence[str]] | None = None,
                      runs: Sequence[str | Path] = (), method: str = "pca", seed: int = 0,
                      glove: bool = True) -> dict:
    """GloVe (and each run's learned table) in 2-D coloured by group -> ``out`` (PNG) and
    ``out`` with ``.json`` (the numbers of ``group_similarity`` per source); returns them."""
    groups = dict(groups or DEFAULT_GROUPS)
    words = [w for ws in groups.values() for w in ws]
    group_of = {w: name for name, ws in groups.items() for w in ws}
    sources: list[tuple[str, list[str], np.ndarray]] = []
    if glove:
        found, vecs = glove_vectors(words)
        sources.append(("GloVe 6B (50-d)", found, vecs))
    for run in runs:
        found, vecs, what = run_vectors(run, words)
        sources.append((what, found, vecs))
    if not sources:
        raise ValueError("runs: expected GloVe or at least one run to draw, got neither")
    names = list(groups)
    colours = [f"C{i % 10}" for i in range(len(names))]
    fig = Figure(figsize=(5.2 * len(sources), 5.0))
    axes = fig.subplots(1, len(sources), squeeze=False)[0]
    report: dict = {"method": method, "seed": seed, "groups": groups, "sources": {}}
    for ax, (title, found, vecs) in zip(axes, sources, strict=True):
        size = {name: sum(group_of[w] == name for w in found) for name in names}
        keep = [i for i, w in enumerate(found) if size[group_of[w]] >= 2]  # a group of one has no pairs
        found, vecs = [found[i] for i in keep], vecs[keep]
        g = np.array([names.index(group_of[w]) for w in found])
        stats = group_similarity(vecs, g)
        stats["missing"] = [w for w in words if w not in found]
        report["sources"][title] = stats
        xy = project(vecs, method, seed)
        for k, name in enumerate(names):
            sel = g == k
            ax.scatter(xy[sel, 0], xy[sel, 1], s=18, color=colours[k], label=name)
        for (x, y), w in zip(xy, found, strict=True):
            ax.annotate(w, (x, y), fontsize=6, xytext=(2, 2), textcoords="offset points", **PLAIN)
        ax.set_title(f"{title}\ncosine within {stats['within']:.2f} vs between {stats['between']:.2f}; "
                     f"nearest centroid {stats['centroid_accuracy']:.0%} (chance {stats['chance']:.0%})",
                     fontsize=8, **PLAIN)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{method.upper()} 1", fontsize=7)
        ax.set_ylabel(f"{method.upper()} 2", fontsize=7)
    plain_legend(axes[0].legend(fontsize=7, loc="best"))
    fig.suptitle("Similar words cluster? Word vectors projected to 2-D (numbers from the full vectors)",
                 fontsize=9)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    report["png"] = str(out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
