"""When a sparse kernel beats the dense ones: the measured crossovers, as dispatch reasons.

Each ``*_speed_reason(call)`` returns None when its sparse kernel is faster than the dense
kernels for the call, else a sentence saying why not; ``attention(kernel="auto")`` then
falls through to the dense kernels with the pattern's dense mask (exact too). The
thresholds come from ``benchmarks/sparse_crossover.py`` (fp32, CPU, forward+backward,
medians of interleaved runs; see ``benchmarks/results/sparse_crossover.json``).
``selfattn.functional.sparse.sparse_attention`` runs the sparse kernel whatever the size.
"""

from __future__ import annotations

from ..call import AttentionCall

__all__ = ["keys_per_query", "speed_reason"]

# Below this many (query, key) pairs per head the dense kernels win whatever the pattern
# (forward+backward, 8 heads x 64, one thread): a window of 33 keys breaks even between
# L = 128 (dense 1.2x faster) and 256 (sparse 2.1x); a graph of degree 16 between 128
# (dense 2.4x) and 256 (sparse 1.8x); a 7 x 7 neighbourhood between 16^2 (dense 1.2x) and
# 24^2 (sparse 1.5x); BigBird(32) and Strided(32) between 512 (even) and 1024 (1.3x, 2.1x).
MIN_DENSE_PAIRS = {"window": 176 * 176, "graph": 176 * 176, "neighborhood2d": 320 * 320,
                   "block_sparse": 640 * 640}
# Above this fraction of keys per query dense wins: a window of 129 keys is even with dense
# at L = 256 (density 0.5), one of 513 keys wins 1.5x at density 0.5 and loses 1.4x at 1.0;
# a graph on 1024 nodes wins 3.3x at density 0.06, is even at 0.22 and loses 1.9x at 0.39.
# Small sizes are noisy on shared cores (graph at N = 128 measured 0.4x and 2.3x in two runs).
MAX_DENSITY = {"window": 0.5, "graph": 0.2, "neighborhood2d": 0.3, "block_sparse": 0.4}


def keys_per_query(pattern: object, n: int) -> float:
    """About how many keys a query of a sequence of ``n`` keys sees under ``pattern``."""
    from ...patterns import (
        BigBirdPattern,
        BlockSparsePattern,
        FixedPattern,
        GraphPattern,
        LongformerPattern,
        Neighborhood2DPattern,
        StridedPattern,
        WindowPattern,
    )
    from ...patterns.block import num_blocks

    if isinstance(pattern, WindowPattern):
        return min(pattern.width, n)
    if isinstance(pattern, GraphPattern):
        return pattern.num_edges / max(pattern.num_targets, 1)
    if isinstance(pattern, LongformerPattern):
        return 2 * pattern.window + 1 + len(pattern.global_tokens)
    if isinstance(pattern, BigBirdPattern):
        blocks = pattern.window_blocks + 2 * len(pattern.global_blocks) + pattern.random_blocks
        return blocks * pattern.block_size
    if isinstance(pattern, BlockSparsePattern):
        nb = num_blocks(n, pattern.block_size)
        return float(pattern.layout(nb).float().mean()) * n if nb else 0.0
    if isinstance(pattern, StridedPattern):
        return pattern.stride + n / pattern.stride
    if isinstance(pattern, FixedPattern):
        return pattern.block + pattern.summary * n / pattern.block
    if isinstance(pattern, Neighborhood2DPattern):
        return pattern.kernel_size[0] * pattern.kernel_size[1]
    raise TypeError(f"pattern: no sparse kernel for {type(pattern).__name__}")


def speed_reason(kernel: str, call: AttentionCall) -> str | None:
    """None if ``kernel`` is faster than dense attention with the pattern's mask."""
    _, _, lq, lk = call.shape
    if lq * lk < MIN_DENSE_PAIRS[kernel]:
        return (f"Lq*Lk = {lq}*{lk} is below the measured crossover of {MIN_DENSE_PAIRS[kernel]} "
                "pairs: dense attention with the pattern's mask is faster")
    keys = keys_per_query(call.pattern, lk)
    if keys >= MAX_DENSITY[kernel] * lk:
        return (f"each query sees about {keys:.0f} of {lk} keys (>= {MAX_DENSITY[kernel]:.0%}, the "
                "measured crossover): dense attention with the pattern's mask is faster")
    return None
