"""Per-head summaries over a run's test sets: distances and shares that hand-made heads pin down."""

from __future__ import annotations

import json

import pytest
import torch

from selfattn.cli import main
from selfattn.viz.summary import attention_distance, run_attention_stats, same_class_share


def test_distance_of_a_local_and_a_uniform_head():
    n = 6
    identity = torch.eye(n)
    previous = torch.diag(torch.ones(n - 1), -1)
    previous[0, 0] = 1.0                         # the first query has no previous vector: itself
    uniform = torch.full((n, n), 1.0 / n)
    per, uni, queries = attention_distance([torch.stack([identity, previous, uniform])],
                                           torch.arange(n)[:, None])
    assert queries == n
    assert per[0, 0] == 0.0 and per[0, 1] == pytest.approx(n - 1)   # 1 position away, but for query 0
    expected = sum(abs(i - j) for i in range(n) for j in range(n)) / n
    assert per[0, 2] == pytest.approx(expected) and uni == pytest.approx(expected)


def test_same_class_share_against_uniform():
    # node 0 (class 0) has neighbours 1 (class 0) and 2 (class 1); node 3 is unlabelled
    edge_index = torch.tensor([[1, 2, 3], [0, 0, 0]])
    labels = torch.tensor([0, 0, 1, -1])
    w = torch.zeros(2, 4, 4)
    w[0, 0, 1], w[0, 0, 2], w[0, 0, 0] = 0.6, 0.2, 0.2     # head 0 prefers its own class 3:1
    w[1, 0, 2], w[1, 0, 3], w[1, 0, 0] = 0.5, 0.4, 0.1     # head 1 looks only at the other class
    per, uniform = same_class_share([w], edge_index, labels)
    assert uniform == pytest.approx(0.5)
    assert per[0, 0] == pytest.approx(0.75) and per[0, 1] == pytest.approx(0.0)


def test_run_stats_on_tiny_runs(pos_run, karate_run, image_run, molecule_run, tmp_path, capsys):
    seq = run_attention_stats(pos_run, 3)
    assert seq["measure"] == "mean_attention_distance" and seq["sets"] == 3
    assert len(seq["per_layer_head"]) == 2 and all(0 <= d <= 6 for row in seq["per_layer_head"] for d in row)
    img = run_attention_stats(image_run, 3)
    assert img["unit"] == "pixels" and 0 < img["uniform"] < 8 * 2 ** 0.5
    graph = run_attention_stats(karate_run)
    assert graph["measure"] == "same_class_share" and graph["labelled_nodes"] == 34
    assert all(0.0 <= s <= 1.0 for row in graph["per_layer_head"] for s in row)
    mol = run_attention_stats(molecule_run, 4)
    assert mol["measure"] == "self_share" and 0.2 < mol["uniform"] < 1.0
    with pytest.raises(ValueError, match="count: expected at least one set, got 0"):
        run_attention_stats(pos_run, 0)
    out = tmp_path / "a.png"
    assert main(["viz", "attention", str(pos_run), "--out", str(out), "--stats", "9"]) == 0
    saved = json.loads(out.with_suffix(".json").read_text())
    assert saved["stats"]["sets"] == 4  # all the test split has and saved == json.loads(capsys.readouterr().out)
