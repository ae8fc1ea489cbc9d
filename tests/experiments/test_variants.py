"""The variants experiment at its tiny scale: all twelve attentions, four tasks, the chart."""

from __future__ import annotations

import json

import pytest

from selfattn.bench.lra import LRA_ATTENTIONS
from selfattn.experiments import EXPERIMENTS


def test_variants_experiment_writes_the_chart_and_table(tmp_path):
    from selfattn.data import is_cached

    if not (is_cached("rotten-tomatoes") and is_cached("fashion-mnist")):
        pytest.skip("needs the cached rotten-tomatoes and fashion-mnist data sets")
    summary = EXPERIMENTS["variants"](tmp_path, scale="tiny", seed=0)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "crossover.png").read_bytes()[:4] == b"\x89PNG"
    assert saved["attentions"] == list(LRA_ATTENTIONS)
    assert len(saved["rows"]) == 4 * 12
    assert {r["task"] for r in saved["rows"]} == {"listops", "text", "image", "pathfinder"}
    table = {r["attention"]: r for r in saved["table"]}
    for name, row in table.items():
        accs = [r["accuracy"] for r in saved["rows"] if r["attention"] == name]
        assert row["average"] == pytest.approx(sum(accs) / 4)
    assert table["full"]["speed_64"] == 1.0
    assert all(table[n]["speed_64"] > 0 for n in LRA_ATTENTIONS)
    assert summary["figure"].endswith("figure.png") and summary["scale"] == "tiny"
    assert set(summary["average_accuracy"]) == set(LRA_ATTENTIONS)
