"""Which positions of one long sequence each rank holds: contiguous or zigzag shards.

A sequence of ``L`` positions is split over the ``N`` ranks of a process group along its
length axis. Two layouts:

* ``"contiguous"``: rank ``r`` holds ``r*c ... min((r+1)*c, L) - 1`` with ``c = ceil(L/N)``
  (the last shards may be shorter, or empty when ``L`` is small);
* ``"zigzag"``: the sequence is cut into ``2N`` chunks of ``ceil(L/(2N))`` and rank ``r``
  holds chunks ``r`` and ``2N-1-r``, in that order. Under a causal mask a query at
  position ``p`` sees ``p + 1`` keys, so contiguous shards give rank ``N-1`` about
  ``2N-1`` times the work of rank 0; zigzag pairs an early chunk with a late one and every
  rank gets the same work (the load-balancing idea of striped / zigzag ring attention).

A ``Layout`` lists each rank's *runs* (contiguous ranges of global positions, in local
order) so the ring and the halo exchange work on positions, not on layout names.
``shard_sequence`` cuts a full tensor into this rank's shard (for tests, benchmarks and
data loaders); ``unshard_sequence`` puts the shards of all ranks back in position order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["SHARDINGS", "Layout", "layout_from_lengths", "shard_runs", "shard_sequence",
           "unshard_sequence"]

SHARDINGS = ("contiguous", "zigzag")

Run = tuple[int, int]  # [start, stop) of global positions


def _check(total: int, world: int, sharding: str) -> None:
    if sharding not in SHARDINGS:
        raise ValueError(f"sharding: expected one of {SHARDINGS}, got {sharding!r}")
    if world < 1:
        raise ValueError(f"world: expected at least 1 process, got {world}")
    if total < 0:
        raise ValueError(f"length: expected a non-negative sequence length, got {total}")


def shard_runs(total: int, world: int, rank: int, sharding: str = "contiguous") -> tuple[Run, ...]:
    """The global position runs ``((start, stop), ...)`` rank ``rank`` holds, in local order."""
    _check(total, world, sharding)
    if not 0 <= rank < world:
        raise ValueError(f"rank: expected 0 <= rank < {world}, got {rank}")
    if sharding == "contiguous":
        c = -(-total // world)
        return ((min(rank * c, total), min((rank + 1) * c, total)),)
    c = -(-total // (2 * world))

    def chunk(i: int) -> Run:
        return (min(i * c, total), min((i + 1) * c, total))

    return (chunk(rank), chunk(2 * world - 1 - rank))


@dataclass(frozen=True)
class Layout:
    """Every rank's runs of global positions; ``total`` positions in all."""

    runs: tuple[tuple[Run, ...], ...]
    total: int

    @property
    def world(self) -> int:
        return len(self.runs)

    def length(self, rank: int) -> int:
        """Rows rank ``rank`` holds."""
        return sum(e - s for s, e in self.runs[rank])

    def local_runs(self, rank: int) -> list[tuple[int, int, int]]:
        """``(local_start, global_start, global_stop)`` of each non-empty run of ``rank``."""
        out, at = [], 0
        for s, e in self.runs[rank]:
            if e > s:
                out.append((at, s, e))
            at += e - s
        return out


def layout_from_lengths(lengths: list[int], sharding: str = "contiguous") -> Layout:
    """The layout given every rank's local length (all-gathered by the caller).

    Contiguous shards may have any lengths (rank ``r`` starts where rank ``r-1`` stops);
    zigzag shards must be the ones ``shard_runs`` gives for the total length.
    """
    total, world = sum(lengths), len(lengths)
    _check(total, world, sharding)
    if sharding == "contiguous":
        starts = [sum(lengths[:r]) for r in range(world)]
        return Layout(tuple(((s, s + n),) for s, n in zip(starts, lengths, strict=True)), total)
    runs = tuple(shard_runs(total, world, r, "zigzag") for r in range(world))
    want = [sum(e - s for s, e in rr) for rr in runs]
    if want != list(lengths):
        raise ValueError(f"sharding: zigzag shards of a sequence of {total} positions over "
                         f"{world} ranks have lengths {want} (shard_sequence gives them), got "
                         f"local lengths {list(lengths)}")
    return Layout(runs, total)


def shard_sequence(x: torch.Tensor, world: int, rank: int, *, dim: int = 2,
                   sharding: str = "contiguous") -> torch.Tensor:
    """Rank ``rank``'s shard of ``x`` along ``dim`` (a view for contiguous shards)."""
    runs = shard_runs(x.shape[dim], world, rank, sharding)
    pieces = [x.narrow(dim, s, e - s) for s, e in runs]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim)


def unshard_sequence(shards: list[torch.Tensor], *, dim: int = 2,
                     sharding: str = "contiguous") -> torch.Tensor:
    """Every rank's shard (in rank order) -> the full tensor in position order."""
    world = len(shards)
    total = sum(s.shape[dim] for s in shards)
    layout = layout_from_lengths([s.shape[dim] for s in shards], sharding)
    pieces: list[tuple[int, torch.Tensor]] = []
    for r, shard in enumerate(shards):
        for local, s, e in layout.local_runs(r):
            pieces.append((s, shard.narrow(dim, local, e - s)))
    pieces.sort(key=lambda p: p[0])
    if not pieces:
        return shards[0].narrow(dim, 0, 0) if world else torch.empty(0)
    out = torch.cat([p for _, p in pieces], dim)
    assert out.shape[dim] == total
    return out
