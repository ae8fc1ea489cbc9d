"""Shared by the experiments: POS runs through ``selfattn.train``, token subsets, the run record.

The POS experiments train with the product's own path (``selfattn.train.train`` on the
``pos`` preset plus ``key=value`` overrides) into a scratch run directory, then label any
sentences with the saved run (``load_run`` + ``predict_sets``), so an experiment scores
exactly what ``selfattn train pos`` / ``selfattn predict`` would give a user.

Token subsets (``ambiguous_in_sentence``, ``ambiguous_types``) are plain functions of the
words and gold tags, so tests can check them against a count by hand.
"""

from __future__ import annotations

import platform
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

from ._runs import check_scale

__all__ = ["ambiguous_in_sentence", "ambiguous_types", "check_scale", "count_correct", "per_vector_ceiling",
           "predict_tags", "record", "split_sentences", "train_tagger", "write_tagged"]


def ambiguous_in_sentence(words: Sequence[str], tags: Sequence[str]) -> list[bool]:
    """For each token: does the same word form (exact string) carry another tag in this sentence?

    ``"I saw a saw"`` tagged ``PRP VBD DT NN`` -> ``[False, True, False, True]``.
    """
    if len(words) != len(tags):
        raise ValueError(f"tags: expected one tag per word ({len(words)}), got {len(tags)}")
    seen: dict[str, set[str]] = defaultdict(set)
    for w, t in zip(words, tags, strict=True):
        seen[w].add(t)
    return [len(seen[w]) > 1 for w in words]


def ambiguous_types(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> set[str]:
    """Word forms seen with more than one tag in these (training) sentences."""
    seen: dict[str, set[str]] = defaultdict(set)
    for words, ts in zip(sentences, tags, strict=True):
        for w, t in zip(words, ts, strict=True):
            seen[w].add(t)
    return {w for w, s in seen.items() if len(s) > 1}


def per_vector_ceiling(sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> tuple[int, int]:
    """``(best correct, total)`` on the in-sentence ambiguous tokens for any model whose output
    for a token depends on its word form alone *within a sentence*.

    A per-vector MLP is such a model, and so is self-attention without positions: identical
    input vectors in one set get identical outputs (attention is permutation-equivariant). Both
    give every copy of a form in a sentence the same tag, so at best the most frequent one.
    """
    best = total = 0
    for words, ts in zip(sentences, tags, strict=True):
        flags = ambiguous_in_sentence(words, ts)
        groups: dict[str, Counter] = defaultdict(Counter)
        for w, t, f in zip(words, ts, flags, strict=True):
            if f:
                groups[w][t] += 1
        for counts in groups.values():
            best += max(counts.values())
            total += sum(counts.values())
    return best, total


def count_correct(predicted: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                  select: Sequence[Sequence[bool]] | None = None) -> tuple[int, int]:
    """``(correct, total)`` over the tokens where ``select`` is True (all tokens when None)."""
    correct = total = 0
    for s, (p, g) in enumerate(zip(predicted, gold, strict=True)):
        if len(p) != len(g):
            raise ValueError(f"predicted[{s}]: expected {len(g)} tags, got {len(p)}")
        for i, (a, b) in enumerate(zip(p, g, strict=True)):
            if select is None or select[s][i]:
                total += 1
                correct += a == b
    return correct, total


def write_tagged(path: Path, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]]) -> Path:
    """A ``word/TAG`` file (one sentence a line) that ``data.path=`` reads back unchanged."""
    lines = [" ".join(f"{w}/{t}" for w, t in zip(ws, ts, strict=True)) for ws, ts in zip(sentences, tags,
                                                                                       strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def train_tagger(overrides: Sequence[str], run_dir: Path) -> dict:
    """``selfattn train pos`` with ``overrides``, quietly, into ``run_dir``; its results dict."""
    from ..train import resolve_config, train

    cfg = resolve_config("pos", None, [*overrides, f"run.dir={run_dir}", "trainer.progress=false",
                                       "run.plots=false"])
    return train(cfg, log=lambda _: None)


def split_sentences(data_cfg: dict) -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    """``{"train" | "validation" | "test": (sentences, tags)}`` exactly as the ``pos`` task splits
    them for a run's ``data`` config (``selfattn.train.tasks.text.PosTask.build``)."""
    from ..data import load_pos, split_indices

    corpus = load_pos(data_cfg["corpus"], data_cfg["path"], data_cfg["tagset"])
    parts = split_indices(len(corpus), data_cfg["fractions"], data_cfg["split_seed"])
    n = data_cfg["limit"]
    out = {}
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        idx = part.tolist()[: n] if n else part.tolist()
        out[name] = ([corpus.sentences[i] for i in idx], [corpus.tags[i] for i in idx])
    return out


@torch.no_grad()
def predict_tags(run_dir: Path, sentences: Sequence[Sequence[str]], batch_size: int = 64) -> list[list[str]]:
    """Tags a trained run gives ``sentences`` (the ``selfattn predict`` path, in memory)."""
    from ..data import VectorSet
    from ..train import load_run
    from ..train.decode import predict_sets

    cfg, _, spec, state, model = load_run(run_dir)
    fields, classes = state["fields"], state["classes"]
    sets = [VectorSet(x=fields.encode(list(words))) for words in sentences]
    out = predict_sets(model, spec, sets, cfg, batch_size)
    return [[classes[int(t)] for t in p] for p in out]


def record(name: str, out_dir: Path, scale: str, seed: int, started: float) -> dict:
    """How a result was made: command, seed, wall time, threads, versions."""
    return {"command": f"selfattn experiment {name} --scale {scale} --seed {seed} --out {out_dir}",
            "scale": scale, "seed": seed, "wall_s": round(time.perf_counter() - started, 1),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": sys.version.split()[0], "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}
