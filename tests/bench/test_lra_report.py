"""The LRA table, CSV, charts and crossover on small hand-made data."""

from __future__ import annotations

import csv
import math

import pytest

from selfattn.bench.lra.report import crossover_chart, lra_chart, markdown_table, table_rows, write_csv
from selfattn.bench.lra.speed import crossover

ROWS = [
    {"task": "listops", "attention": "full", "accuracy": 0.4, "chance": 0.2},
    {"task": "text", "attention": "full", "accuracy": 0.7, "chance": 0.5},
    {"task": "listops", "attention": "linear", "accuracy": 0.3, "chance": 0.2},
    {"task": "text", "attention": "linear", "accuracy": 0.6, "chance": 0.5},
]


def _speed(ratios: dict[str, list[float]], lengths=(256, 1024, 4096)) -> dict:
    results = {}
    for name, rs in ratios.items():
        per = {str(n): {"speedup_vs_full": r, "peak_ratio_vs_full": 1 / r} for n, r in zip(lengths, rs, strict=True)}
        first, cross = crossover(list(lengths), rs)
        results[name] = {"lengths": per, "crossover_length": first, "crossover_interpolated": cross}
    return {"config": {"lengths": list(lengths)}, "results": results}


def test_crossover_first_length_and_interpolation():
    assert crossover([256, 1024, 4096], [0.5, 2.0, 4.0]) == (1024, pytest.approx(512.0))
    assert crossover([256, 1024, 4096], [1.5, 0.9, 1.2])[0] == 4096  # a dip below 1 resets it
    assert crossover([256, 1024], [1.1, 1.3]) == (256, 256.0)
    assert crossover([256, 1024], [0.8, 0.9]) == (None, None)
    first, cross = crossover([100, 400], [0.5, 2.0])
    assert first == 400 and math.isclose(cross, 200.0)
    with pytest.raises(ValueError, match="lengths, ratios"):
        crossover([1, 2], [1.0])


def test_table_rows_average_and_ratios(tmp_path):
    speed = _speed({"full": [1.0, 1.0, 1.0], "linear": [0.5, 2.0, 4.0]})
    table = table_rows(ROWS, speed, (1024, 4096))
    assert [r["attention"] for r in table] == ["full", "linear"]
    full, linear = table
    assert full["average"] == pytest.approx(0.55) and linear["average"] == pytest.approx(0.45)
    assert linear["speed_4096"] == 4.0 and linear["memory_4096"] == 0.25 and linear["speed_1024"] == 2.0
    assert linear["crossover_length"] == 1024 and full["speed_1024"] == 1.0
    text = markdown_table(table, {"listops": 0.2, "text": 0.5})
    assert "| linear | 0.300 | 0.600 | 0.450 | 2.00x | 0.50x | 4.00x | 0.25x | 1024 |" in text
    assert "chance" in text
    path = write_csv(table, tmp_path / "t.csv")
    back = list(csv.DictReader(path.open()))
    assert back[1]["attention"] == "linear" and float(back[1]["speed_4096"]) == 4.0


def test_missing_measurements_stay_empty():
    table = table_rows(ROWS[:2], None, (1024,))
    assert table[0]["speed_1024"] is None and table[0]["crossover_length"] is None
    assert "| full | 0.400 | 0.700 | 0.550 | - | - | - |" in markdown_table(table)
    with pytest.raises(ValueError, match="table: expected at least one row"):
        markdown_table([])


def test_charts_are_written(tmp_path):
    speed = _speed({"full": [1.0, 1.0, 1.0], "linear": [0.5, 2.0, 4.0]})
    table = table_rows(ROWS, speed, (4096,))
    assert lra_chart(table, 4096, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert crossover_chart(speed, tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="no attention has both"):
        lra_chart(table_rows(ROWS, None, (4096,)), 4096, tmp_path / "none.png")
