"""RNN vs attention: the recall task's generator, the timing table, the JSON at tiny scale."""

from __future__ import annotations

import json

import pytest
import torch

from selfattn.experiments.rnn_vs_attention import (
    RecallModel,
    first_equals_last,
    run,
    time_layers,
    train_recall,
)


@pytest.mark.parametrize("distance", [1, 4, 64])
def test_key_and_query_are_at_the_stated_distance(distance):
    g = torch.Generator().manual_seed(distance)
    x, y = first_equals_last(4000, distance, vocab=8, generator=g)
    assert x.shape == (4000, distance + 1) and x.dtype == torch.long
    assert int(x.min()) >= 1 and int(x.max()) <= 8
    assert torch.equal(y, (x[:, 0] == x[:, distance]).long())
    assert 0.45 < y.float().mean() < 0.55
    if distance > 2:  # the noise in between uses the same tokens: content alone cannot find the key
        assert bool((x[:, 1:distance] == x[:, :1]).any())


def test_generator_rejects_bad_arguments():
    with pytest.raises(ValueError, match="distance: expected at least 1"):
        first_equals_last(2, 0, 8)
    with pytest.raises(ValueError, match="vocab: expected at least 2 tokens"):
        first_equals_last(2, 3, 1)


def test_recall_models_are_about_the_same_size():
    lstm, att = RecallModel("lstm", 8, 64, hidden=96), RecallModel("attention", 8, 64)
    sizes = [sum(p.numel() for p in m.parameters()) for m in (lstm, att)]
    assert 0.8 < sizes[0] / sizes[1] < 1.25
    assert lstm(torch.randint(1, 9, (3, 7))).shape == (3, 2)
    with pytest.raises(ValueError, match="kind: expected 'lstm' or 'attention'"):
        RecallModel("gru", 8, 16)


def test_recall_training_rejects_no_distances():
    with pytest.raises(ValueError, match="distances: expected a non-empty list"):
        train_recall("lstm", [], steps=1, batch=2, width=8, vocab=4)


def test_timing_table_has_a_row_per_length_and_model():
    rows, params = time_layers([8, 16, 32], batch=2, width=16, heads=2, rounds=2)
    assert sorted((r["length"], r["model"]) for r in rows) == sorted(
        (n, m) for n in (8, 16, 32) for m in ("LSTM", "GRU", "self-attention layer"))
    assert all(r["median_ms"] >= r["min_ms"] > 0 and r["rounds"] == 2 for r in rows)
    assert set(params) == {"LSTM", "GRU", "self-attention layer"}


def test_experiment_tiny(tmp_path):
    threads = torch.get_num_threads()
    run(tmp_path, scale="tiny")
    assert torch.get_num_threads() == threads  # restored
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    for key in ("command", "seed", "wall_s", "torch_threads", "timing", "recall"):
        assert key in saved
    assert saved["torch_threads"] == 1
    t, r = saved["timing"], saved["recall"]
    assert len(t["rows"]) == 3 * 2 and len(t["ratios"]) == 2 * 2
    for row in t["ratios"]:
        mine = next(x for x in t["rows"] if x["model"] == row["model"] and x["length"] == row["length"])
        att = next(x for x in t["rows"] if x["model"] == "self-attention layer" and x["length"] == row["length"])
        assert row["ratio_to_attention"] == pytest.approx(mine["median_ms"] / att["median_ms"])
    assert sorted((x["trained_on"], x["distance"], x["model"]) for x in r["rows"]) == sorted(
        (on, d, m) for on in ("each distance alone", "all mixed") for d in (2, 4) for m in ("attention", "lstm"))
    assert all(0.0 <= x["accuracy"] <= 1.0 and x["curve"][-1]["step"] == r["steps"] for x in r["rows"])
