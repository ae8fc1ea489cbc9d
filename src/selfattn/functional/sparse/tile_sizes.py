"""Tile sizes of the window kernel, measured: query rows per tile by window width, head dim and L.

A window tile holds ``bq`` consecutive queries and the ``m = bq + width - 1`` keys of
their band. Small tiles waste fewer band corners (``bq - 1`` of every ``m`` key slots per
row); large ones mean fewer, larger flash calls and fewer key-gradient slots (``m / bq``
per key) to sum in the backward. Which wins depends on the width, the head dim and L, so
the choice is a table measured by ``benchmarks/sparse_tile_sizes.py`` (forward+backward,
fp32, 8 heads, one thread; ``benchmarks/results/sparse_tile_sizes.json``), not a guess.

``window_block_size`` returns the entry nearest the call (log distance in width, head dim
and L, in that order of weight); ``tests/patterns/test_tile_sizes.py`` checks the table
against that JSON.
"""

from __future__ import annotations

import math

__all__ = ["WINDOW_BQ", "window_block_size"]

# (width, head_dim, L) -> bq; measured (see the module docstring).
WINDOW_BQ: dict[tuple[int, int, int], int] = {
    (33, 64, 2048): 64,
    (33, 64, 8192): 32,
    (65, 64, 2048): 32,
    (65, 64, 8192): 32,
    (129, 64, 2048): 32,
    (129, 64, 8192): 32,
    (257, 64, 2048): 64,
    (257, 64, 8192): 64,
    (257, 32, 2048): 64,
    (257, 32, 8192): 64,
    (257, 128, 2048): 64,
    (257, 128, 8192): 64,
}


def window_block_size(width: int, head_dim: int, length: int) -> int:
    """Query rows per tile for a window of ``width`` keys (``left + right + 1``)."""
    def distance(key: tuple[int, int, int]) -> tuple[float, float, float]:
        w, d, n = key
        return (abs(math.log(w / max(width, 1))), abs(math.log(d / max(head_dim, 1))),
                abs(math.log(n / max(length, 1))))

    bq = WINDOW_BQ[min(WINDOW_BQ, key=distance)]
    return max(1, min(bq, length))
