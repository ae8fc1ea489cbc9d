"""Attention along graph edges against full attention over all nodes: the JSON and its checks."""

from __future__ import annotations

import json

import pytest

from selfattn.experiments.graph_edges_vs_full import PATTERNS, SCALES, run


def test_tiny_run_on_the_karate_club(tmp_path):
    result = run(tmp_path, "tiny", seed=0)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert result["figure"].endswith("figure.png")
    assert list(saved["graphs"]) == list(SCALES["tiny"]["graphs"]) == ["karate"]
    g = saved["graphs"]["karate"]
    for pattern in PATTERNS:
        runs = g[pattern]["runs"]
        assert [r["seed"] for r in runs] == saved["setup"]["seeds"] == [0, 1]
        assert all(0 <= r["test_acc"] <= 1 and r["wall_s_per_epoch"] > 0 for r in runs)
        assert g[pattern]["mean_test_acc"] == pytest.approx(sum(r["test_acc"] for r in runs) / len(runs))
    assert g["graph"]["config"] == {"model.pattern": "graph"} and g["full"]["config"] == {"model.pattern": "none"}
    assert g["graph"]["parameters"] == g["full"]["parameters"]  # same model, only the pattern differs
    cost = g["cost"]
    n = cost["nodes"]
    assert n == 34
    pairs = cost["pairs_scored"]
    # 78 undirected edges both ways, plus a self-loop per node
    assert pairs["graph (sparse)"] == pairs["graph (dense mask)"] == 2 * 78 + 34
    assert pairs["full"] == n * n
    assert cost["sparse_vs_dense_max_abs_diff"] < 1e-5
    assert set(cost["step_ms"]) == {"full", "graph (dense mask)", "graph (sparse)"}
    assert cost["time_ratio_to_full"]["full"] == 1.0
    assert cost["sparse_kernel_choice"].startswith("kernel '")
    assert saved["run"]["torch_threads"] == 1 and saved["run"]["seed"] == 0
    assert saved["run"]["command"].startswith("selfattn experiment graph-edges-vs-full --scale tiny")
