"""The window kernel's tile-size table is the committed measurement, and plans use it."""

from __future__ import annotations

import json
from pathlib import Path

from selfattn.functional.sparse import tile_sizes, window_parts
from selfattn.patterns import WindowPattern

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "sparse_tile_sizes.json"


def test_table_equals_the_measured_winners():
    rows = json.loads(RESULTS.read_text())["rows"]
    measured = {(r["width"], r["head_dim"], r["L"]): r["best_bq"] for r in rows}
    assert measured == tile_sizes.WINDOW_BQ


def test_nearest_entry_by_width_then_head_dim_then_length():
    table = tile_sizes.WINDOW_BQ
    for (width, d, n), bq in table.items():
        assert tile_sizes.window_block_size(width, d, n) == min(bq, n)
        # Slightly off every axis still lands on the same entry when it is the only one that near.
        near = [k for k in table if k[0] == width and k[1] == d]
        if len(near) == 1:
            assert tile_sizes.window_block_size(width, d, n + 1) == min(bq, n + 1)
    assert tile_sizes.window_block_size(257, 64, 3) == 3  # never more rows per tile than L


def test_window_plans_take_the_table_size_for_their_head_dim():
    for d in (32, 64, 128):
        for n in (2048, 8192):
            part = window_parts(WindowPattern(128), n, n, head_dim=d).parts[0]
            assert part.bq == tile_sizes.window_block_size(257, d, n)
            assert part.m == part.bq + 256
