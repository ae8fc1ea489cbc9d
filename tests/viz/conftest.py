"""Tiny trained runs for the viz tests: each trains in a second or two on a few-kilobyte file.

Like ``tests/train``: every task reads its own file format from ``data.path``, so a run is
a real ``selfattn train`` run directory (config, spec, state, weights) made offline.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from selfattn.train import resolve_config, train

TINY = ["model.width=16", "model.heads=2", "model.depth=2", "model.ff=32", "trainer.progress=false",
        "trainer.num_threads=1", "run.plots=false", "optim.warmup_steps=2", "optim.lr=0.01",
        "trainer.max_epochs=1", "trainer.patience=5"]
MOLECULES = ["CCO", "CCCO", "c1ccccc1O", "CC(=O)O", "CCN", "Cc1ccccc1", "ClCCl", "CC(C)CO", "OCCO", "CCCCCC",
             "c1ccncc1", "CC(C)(C)O"]


def _pos_lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    det, noun, verb = ["the", "a", "every"], ["dog", "cat", "house", "book"], ["sees", "likes", "opens"]
    return [" ".join(f"{w}/{t}" for w, t in [(rng.choice(det), "DT"), (rng.choice(noun), "NN"),
                                             (rng.choice(verb), "VBZ"), (rng.choice(det), "DT"),
                                             (rng.choice(noun), "NN"), (".", ".")]) for _ in range(n)]


def _train(folder: Path, preset: str, *overrides: str) -> Path:
    torch.set_num_threads(1)
    cfg = resolve_config(preset, overrides=[*TINY, f"run.dir={folder}", *overrides])
    train(cfg, log=lambda _: None)
    return folder


@pytest.fixture(scope="session")
def viz_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("viz-runs")


@pytest.fixture(scope="session")
def pos_run(viz_root) -> Path:
    data = viz_root / "tagged.txt"
    data.write_text("\n".join(_pos_lines(40)) + "\n", encoding="utf-8")
    return _train(viz_root / "pos", "pos", f"data.path={data}", "data.glove=0", "trainer.batch_size=8",
                  "model.pattern=none")


@pytest.fixture(scope="session")
def mlp_run(viz_root, pos_run) -> Path:
    """A baseline with no attention at all (a per-vector MLP)."""
    return _train(viz_root / "pos-mlp", "pos", f"data.path={viz_root / 'tagged.txt'}", "data.glove=0",
                  "trainer.batch_size=8", "model.kind=mlp", "model.pattern=none", "trainer.limit_train_batches=1")


@pytest.fixture(scope="session")
def karate_run(viz_root) -> Path:
    return _train(viz_root / "karate", "polblogs", "data.graph=karate", "data.fractions=[0.5,0.25,0.25]",
                  "model.dropout=0.0", "optim.schedule=constant", "trainer.max_epochs=3")


@pytest.fixture(scope="session")
def molecule_run(viz_root) -> Path:
    data = viz_root / "b3db.tsv"
    rows = ["NO.\tSMILES\tBBB+/BBB-"] + [f"{i}\t{s}\t{'BBB-' if 'O' in s else 'BBB+'}"
                                         for i, s in enumerate(MOLECULES * 3)]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return _train(viz_root / "molecule", "molecule-bbb", f"data.path={data}", "trainer.batch_size=8")


@pytest.fixture(scope="session")
def image_run(viz_root) -> Path:
    """scikit-learn's 8x8 digits as 2x2 patches: a 4 x 4 grid of 4-vectors."""
    return _train(viz_root / "digits", "fashion-mnist", "data.dataset=digits", "data.patch=2", "data.limit=64",
                  "model.positional_options={max_len: 16}", "trainer.batch_size=16",
                  "trainer.limit_train_batches=2")
