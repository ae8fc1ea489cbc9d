"""T5's relative position bias (Raffel et al. 2020): one learned scalar per head and bucket.

The score of query ``i`` and key ``j`` gets ``b_h[bucket(j - i)]``, a learned number for
each head ``h`` and each bucket of relative distance. Buckets are exact for small
distances and logarithmic for larger ones, all distances beyond ``max_distance`` share the
last bucket:

* bidirectional: half of the buckets for keys after the query (``j > i``), half for the
  others; with ``n = |j - i|`` and ``B' = num_buckets / 2`` of them per side,
* causal (``bidirectional=False``): all buckets for keys at or before the query,
  ``n = max(i - j, 0)``, ``B' = num_buckets``;
* ``n < B'/2`` is its own bucket; otherwise bucket
  ``B'/2 + floor(log(n / (B'/2)) / log(max_distance / (B'/2)) * (B' - B'/2))``,
  at most ``B' - 1``.

The bucket boundaries are computed once, in float64, into a lookup table (the fast path);
``pairwise`` is a gather, so the bias depends on positions only through ``j - i`` and
reaches every kernel as a ``ScoreBias``: the fused kernel as a float mask, sparse kernels
at the pairs they compute. It has no maximum length (far pairs share a bucket).

``dense(Lq, Lk)`` (what dense kernels use, once per layer and call) is a Toeplitz matrix:
it looks up the ``Lq + Lk - 1`` offsets ``j - i`` once and lays them out by diagonals
(``unfold`` + ``flip``), the same values as ``pairwise`` on the grid. Its backward sums
diagonals (``unfold``'s backward) into ``Lq + Lk - 1`` numbers before reaching the table,
instead of scattering ``H * Lq * Lk`` gradients into ``num_buckets`` rows (an ``index_put_``
with accumulation): 6 ms instead of 27 ms forward + backward at H = 4, L = 1024.

Shapes: ``pairwise`` -> ``(H, *broadcast(q_pos, k_pos))``; ``dense(Lq, Lk)`` -> ``(H, Lq, Lk)``;
``weight (num_buckets, H)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ..functional import ScoreBias
from .base import PositionalScheme, check_heads

__all__ = ["T5RelativeBias", "t5_bucket"]


def _log_bucket_table(side_buckets: int, max_distance: int) -> torch.Tensor:
    """``table[n]`` = the bucket of distance ``n`` within one side, for ``n`` in
    ``0 .. max_distance`` (every larger ``n`` is in ``table[max_distance]``)."""
    exact = side_buckets // 2
    if exact < 1 or max_distance <= exact:
        raise ValueError(f"max_distance: expected more than {exact} (the distances that have a "
                         f"bucket of their own), got {max_distance}")
    n = torch.arange(max_distance + 1, dtype=torch.float64)
    ratio = math.log(max_distance / exact)
    log_part = exact + torch.floor(
        torch.log(n.clamp_min(exact) / exact) / ratio * (side_buckets - exact)).long()
    table = torch.where(n < exact, n.long(), log_part)
    return table.clamp(max=side_buckets - 1)


def t5_bucket(relative: torch.Tensor, num_buckets: int = 32, max_distance: int = 128,
              bidirectional: bool = True) -> torch.Tensor:
    """Bucket index in ``[0, num_buckets)`` of each relative position ``j - i`` (int)."""
    side = num_buckets // 2 if bidirectional else num_buckets
    table = _log_bucket_table(side, max_distance).to(relative.device)
    return _lookup(table, relative, side, max_distance, bidirectional)


def _lookup(table: torch.Tensor, relative: torch.Tensor, side: int, max_distance: int,
            bidirectional: bool) -> torch.Tensor:
    if bidirectional:
        return table[relative.abs().clamp(max=max_distance)] + (relative > 0).long() * side
    return table[(-relative).clamp(min=0, max=max_distance)]


class T5RelativeBias(ScoreBias, PositionalScheme):
    """``b_h[bucket(j - i)]`` with a learned ``(num_buckets, H)`` table.

    Args:
        num_heads: ``H``. num_buckets: buckets in all (even when bidirectional).
        max_distance: distances from here on share the last bucket.
        bidirectional: buckets for both directions (encoders) or only the past (decoders).
        init_std: the table starts as ``N(0, init_std^2)``.
    """

    name: ClassVar[str] = "t5"
    where: ClassVar[str] = "attention"

    def __init__(self, num_heads: int, num_buckets: int = 32, max_distance: int = 128,
                 bidirectional: bool = True, init_std: float = 0.1) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads: expected at least 1, got {num_heads}")
        if num_buckets < 2 or (bidirectional and (num_buckets % 2 or num_buckets < 4)):
            raise ValueError(f"num_buckets: expected an even number >= 4 (half per direction), "
                             f"got {num_buckets}" if bidirectional else
                             f"num_buckets: expected at least 2, got {num_buckets}")
        side = num_buckets // 2 if bidirectional else num_buckets
        self.num_heads, self.num_buckets = num_heads, num_buckets
        self.max_distance, self.bidirectional, self.side = max_distance, bidirectional, side
        self.register_buffer("table", _log_bucket_table(side, max_distance), persistent=False)
        self.weight = nn.Parameter(torch.randn(num_buckets, num_heads) * init_std)

    def buckets(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """Bucket of each pair, shape ``broadcast(q_pos, k_pos)``."""
        return _lookup(self.table, k_pos - q_pos, self.side, self.max_distance, self.bidirectional)

    def pairwise(self, q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        return self.weight.T[:, self.buckets(q_pos, k_pos)]  # (H, *S), contiguous

    def dense(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(H, Lq, Lk)`` bias for queries at ``Lk - Lq + i`` and keys at ``j`` (contiguous).

        Entry ``(i, j)`` depends on ``j - i`` only, so the ``Lq + Lk - 1`` offsets
        ``-(Lk - 1) .. Lq - 1`` are looked up once: row ``i`` is ``vals[Lq-1-i : Lq-1-i+Lk]``.
        """
        if lq == 0 or lk == 0:
            return super().dense(lq, lk, device)  # keeps the empty result in the graph
        rel = torch.arange(-(lk - 1), lq, device=device)
        vals = self.weight.T[:, self.buckets(rel.new_zeros(()), rel)]  # (H, Lq + Lk - 1)
        # unfold's window s is row Lq - 1 - s; flip copies the rows into place (keeping the
        # view's layout, which for Lk > Lq is not row-major: contiguous() copies it then).
        return vals.unfold(-1, lk, 1).flip(-2).contiguous()

    def attention_kwargs(self, num_heads: int, head_dim: int) -> dict[str, Any]:
        check_heads(self, self.num_heads, num_heads)
        return {"position_bias": self}

    def extra_repr(self) -> str:
        return (f"num_heads={self.num_heads}, num_buckets={self.num_buckets}, "
                f"max_distance={self.max_distance}, bidirectional={self.bidirectional}")
