"""When a sparse kernel beats the dense ones: each pattern's measured crossovers, as reasons.

``speed_reason(call)`` returns None when the pattern's sparse kernel is faster than the
dense kernels for the call, else a sentence saying why not; ``attention(kernel="auto")``
then falls through to the dense kernels with the pattern's dense mask (exact too). The
thresholds are the pattern's own (``min_dense_pairs``, ``max_density``, read off
``benchmarks/sparse_crossover.py``; the measurements are in
``benchmarks/results/sparse_crossover.json``).
``selfattn.functional.sparse.sparse_attention`` runs the sparse kernel whatever the size.
"""

from __future__ import annotations

from ..call import AttentionCall

__all__ = ["speed_reason"]


def speed_reason(call: AttentionCall) -> str | None:
    """None if the pattern's sparse kernel is faster than dense attention with its mask."""
    pattern = call.pattern
    _, _, lq, lk = call.shape
    if lq * lk < pattern.min_dense_pairs:
        return (f"Lq*Lk = {lq}*{lk} is below the measured crossover of {pattern.min_dense_pairs} "
                "pairs: dense attention with the pattern's mask is faster")
    keys = pattern.keys_per_query(lk)
    if keys >= pattern.max_density * lk:
        return (f"each query sees about {keys:.0f} of {lk} keys (>= {pattern.max_density:.0%}, the "
                "measured crossover): dense attention with the pattern's mask is faster")
    return None
