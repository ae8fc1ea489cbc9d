"""CNN against self-attention as the training set grows: subsets, parameter budget, the JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from selfattn.data.idx import write_idx
from selfattn.experiments.cnn_vs_attention import (
    MAX_PARAMETER_RATIO,
    MODELS,
    SCALES,
    crossing,
    nested_balanced_order,
    run,
    train_overrides,
)


def _fake_fashion_mnist(folder, n_train: int = 200, n_test: int = 80):
    """IDX files in Fashion-MNIST's layout: class c is a bright 8x8 square at a place of its own."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            r, q = divmod(int(c), 5)
            images[i, 4 + 12 * r: 12 + 12 * r, 1 + 5 * q: 9 + 5 * q] = 250
        write_idx(folder / f"{stem}-images-idx3-ubyte", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels)
    return folder


def test_order_is_a_permutation_whose_prefixes_are_class_balanced():
    labels = torch.tensor([0] * 5 + [1] * 7 + [2] * 9)[torch.randperm(21, generator=torch.Generator().manual_seed(3))]
    order = nested_balanced_order(labels, seed=1)
    assert sorted(order.tolist()) == list(range(21))
    for k in range(1, 6):  # the rarest class has 5: every prefix of 3k holds k of each
        assert torch.bincount(labels[order[: 3 * k]], minlength=3).tolist() == [k, k, k]
    assert torch.bincount(labels[order[15:]], minlength=3).tolist() == [0, 2, 4]
    assert not torch.equal(order, nested_balanced_order(labels, seed=2))
    assert torch.equal(order, nested_balanced_order(labels, seed=1))


def test_crossing_found_between_the_right_sizes():
    res = crossing([100, 1000, 10000], cnn=[0.8, 0.85, 0.88], attn=[0.7, 0.84, 0.9])
    assert res["crosses"] is True
    (c,) = res["crossings"]
    assert c["between"] == [1000, 10000] and c["direction"] == "attention overtakes"
    assert 1000 < c["estimate"] < 10000
    assert crossing([1, 2], [0.9, 0.9], [0.5, 0.6])["crosses"] is False


def test_tiny_run_writes_what_the_readme_reads(tmp_path):
    data = _fake_fashion_mnist(tmp_path / "fm")
    before = torch.get_num_threads()
    result = run(tmp_path / "out", "tiny", seed=0, data_path=data)
    assert torch.get_num_threads() == before  # the experiment's 1 thread does not leak out
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (tmp_path / "out" / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert result["figure"].endswith("figure.png")
    sizes = [r["size"] for r in saved["results"]]
    assert sizes == list(SCALES["tiny"]["sizes"]) == saved["setup"]["sizes"]
    for r in saved["results"]:  # class-balanced subsets of the stated size
        assert r["class_counts"] == [r["size"] // 10] * 10
        for name in ("cnn", "attention"):
            assert 0.0 <= r[name]["mean_test_acc"] <= 1.0 and len(r[name]["test_acc"]) == len(saved["setup"]["seeds"])
    assert saved["setup"]["test_class_counts"] == [SCALES["tiny"]["test"] // 10] * 10
    params = {k: v["parameters"] for k, v in saved["models"].items()}
    assert set(params) == {"cnn", "attention"}
    assert saved["parameter_ratio"] == pytest.approx(max(params.values()) / min(params.values()), abs=1e-3)
    assert saved["parameter_ratio"] <= MAX_PARAMETER_RATIO
    gap = [r["attention"]["mean_test_acc"] - r["cnn"]["mean_test_acc"] for r in saved["results"]]
    assert saved["crossing"]["gap_attention_minus_cnn"] == pytest.approx(gap, abs=1e-4)
    assert saved["run"]["torch_threads"] == 1 and saved["run"]["seed"] == 0
    assert saved["run"]["command"].startswith("selfattn experiment cnn-vs-attention --scale tiny")
    assert saved["run"]["wall_s"] > 0


def test_rejects_an_unknown_scale(tmp_path):
    with pytest.raises(ValueError, match=r"scale: expected one of \['tiny', 'small', 'full'\], got 'huge'"):
        run(tmp_path, "huge")


def test_models_are_what_selfattn_train_builds_from_the_recorded_overrides():
    from selfattn.train.config import resolve_config

    for name, model in MODELS.items():
        resolved = resolve_config("fashion-mnist", overrides=train_overrides(name))
        assert {k: resolved["model"][k] for k in model} == model
        assert resolved["data"]["vectors"] == "patches" and resolved["data"]["patch"] == 4
