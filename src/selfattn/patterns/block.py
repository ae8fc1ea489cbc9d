"""Block-sparse patterns: a local window plus global tokens (Longformer) plus random blocks (BigBird).

A block-sparse pattern is described at two levels:

* ``block_layout(length, block_size)``: an ``(nb, nb)`` bool matrix (``nb = ceil(length /
  block_size)``) that is True for every (query block, key block) holding at least one
  allowed pair. Kernels compute only these tiles, so the cost is
  ``O(nnz(layout) * block_size^2)`` instead of ``O(L^2)``.
* ``allows(q_pos, k_pos, length)``: the exact rule for single pairs, applied inside each
  tile, so the result is exact on the pattern, not on its blocks.

``dense_mask(lq, lk)`` is the ``(L, L)`` form of ``allows`` for the reference path. These are
self-attention patterns: they need ``Lq == Lk``.

* ``LongformerPattern(window, global_tokens)``: Beltagy et al. 2020. Query ``i`` sees key
  ``j`` iff ``|i - j| <= window``, or ``i`` or ``j`` is a global token (global tokens see
  everything and are seen by everyone).
* ``BigBirdPattern(block_size, window_blocks, global_blocks, random_blocks, seed)``: Zaheer
  et al. 2020 (ITC form), at block granularity: query block ``I`` sees key block ``J`` iff
  ``|I - J| <= window_blocks // 2``, or ``I`` or ``J`` is a global block, or ``J`` is one of
  ``random_blocks`` blocks drawn for ``I`` (seeded, among the blocks not already seen).
* ``BlockSparsePattern(layout_fn, block_size)``: any block layout of your own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

import torch

from ._common import check_int, check_self_lengths
from .base import Pattern

__all__ = ["BigBirdPattern", "BlockSparsePattern", "LongformerPattern", "num_blocks"]


def num_blocks(length: int, block_size: int) -> int:
    return -(-length // block_size)


def _block_ids(length: int, block_size: int, device: torch.device | None) -> torch.Tensor:
    return torch.arange(length, device=device) // block_size


class BlockSparsePattern(Pattern):
    """Attention on the tiles of a block layout, exact at block granularity.

    Args:
        layout_fn: ``nb -> (nb, nb)`` bool tensor, True = query block I may attend to key
            block J (``nb`` = number of blocks of the sequence).
        block_size: tokens per block (the last block may be shorter).
    """

    name = "block_sparse"
    kernel = "block_sparse"
    min_dense_pairs = 640 * 640
    max_density = 0.4

    def __init__(self, layout_fn: Callable[[int], torch.Tensor], block_size: int) -> None:
        self.layout_fn = layout_fn
        self.block_size = check_int("block_size", block_size, 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(block_size={self.block_size})"

    def layout(self, nb: int) -> torch.Tensor:
        lay = self.layout_fn(nb)
        if not isinstance(lay, torch.Tensor) or lay.dtype != torch.bool or tuple(lay.shape) != (nb, nb):
            got = tuple(lay.shape) if isinstance(lay, torch.Tensor) else type(lay).__name__
            raise ValueError(f"layout_fn: expected a ({nb}, {nb}) bool tensor for {nb} blocks, got {got}")
        return lay

    def block_layout(self, length: int, block_size: int | None = None) -> torch.Tensor:
        if block_size not in (None, self.block_size):
            raise ValueError(f"block_size: this pattern is defined on blocks of {self.block_size}, "
                             f"got {block_size}")
        return self.layout(num_blocks(length, self.block_size))

    def keys_per_query(self, n: int) -> float:
        nb = num_blocks(n, self.block_size)
        return float(self.layout(nb).float().mean()) * n if nb else 0.0

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        assert length is not None, "a block layout depends on the sequence length"
        lay = self.layout(num_blocks(length, self.block_size)).to(q_pos.device)
        return lay[q_pos // self.block_size, k_pos // self.block_size]

    def dense_mask(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(L, L)`` bool, True = may attend."""
        check_self_lengths(self, lq, lk)
        ids = _block_ids(lq, self.block_size, device)
        return self.layout(num_blocks(lq, self.block_size)).to(device)[ids[:, None], ids[None, :]]


class BigBirdPattern(BlockSparsePattern):
    """BigBird (ITC): sliding blocks + global blocks + seeded random blocks.

    Args:
        block_size: tokens per block.
        window_blocks: odd number of blocks in the sliding window (3 = the block itself and
            one on each side).
        global_blocks: indices of global blocks; negative ones count from the end
            (default: the first and the last block).
        random_blocks: random key blocks per (non-global) query block, drawn among the
            blocks it does not already see; fewer if fewer remain.
        seed: the random blocks are a deterministic function of ``(seed, nb)``.
    """

    name = "bigbird"

    def __init__(self, block_size: int, window_blocks: int = 3,
                 global_blocks: Sequence[int] = (0, -1), random_blocks: int = 3, seed: int = 0) -> None:
        check_int("window_blocks", window_blocks, 1)
        if window_blocks % 2 == 0:
            raise ValueError(f"window_blocks: expected an odd number (centred window), got {window_blocks}")
        self.window_blocks = window_blocks
        self.global_blocks = tuple(int(g) for g in global_blocks)
        self.random_blocks = check_int("random_blocks", random_blocks, 0)
        self.seed = int(seed)
        super().__init__(self._layout, block_size)

    def __repr__(self) -> str:
        return (f"BigBirdPattern(block_size={self.block_size}, window_blocks={self.window_blocks}, "
                f"global_blocks={self.global_blocks}, random_blocks={self.random_blocks}, seed={self.seed})")

    def keys_per_query(self, n: int) -> float:
        blocks = self.window_blocks + 2 * len(self.global_blocks) + self.random_blocks
        return blocks * self.block_size

    def _layout(self, nb: int) -> torch.Tensor:
        return _bigbird_layout(nb, self.window_blocks, self.global_blocks, self.random_blocks,
                               self.seed).clone()


@lru_cache(maxsize=64)
def _bigbird_layout(nb: int, window_blocks: int, global_blocks: tuple[int, ...], random_blocks: int,
                    seed: int) -> torch.Tensor:
    idx = torch.arange(nb)
    lay = (idx[:, None] - idx[None, :]).abs() <= window_blocks // 2
    glob = torch.zeros(nb, dtype=torch.bool)
    for g in global_blocks:
        if nb and -nb <= g < nb:
            glob[g] = True  # a global block beyond a short sequence does not exist there
    lay |= glob[:, None] | glob[None, :]
    if random_blocks and nb:
        gen = torch.Generator().manual_seed(seed)
        draw = torch.rand(nb, nb, generator=gen)
        draw[lay] = -1.0  # only blocks not already seen
        top = draw.topk(min(random_blocks, nb), dim=1)
        chosen = torch.zeros(nb, nb, dtype=torch.bool)
        chosen.scatter_(1, top.indices, top.values >= 0)
        lay |= chosen & ~glob[:, None]
    return lay


class LongformerPattern(Pattern):
    """Longformer: sliding window of ``window`` keys on each side plus global tokens.

    Args:
        window: keys seen on each side of the query (>= 0).
        global_tokens: positions of global tokens (negative = from the end); they attend
            to every key and every query attends to them. A position outside a sequence
            raises when the pattern is applied to it.
    """

    name = "longformer"
    kernel = "block_sparse"
    min_dense_pairs = 640 * 640
    max_density = 0.4

    def __init__(self, window: int, global_tokens: Sequence[int] = (0,)) -> None:
        self.window = check_int("window", window, 0)
        self.global_tokens = tuple(int(g) for g in global_tokens)

    def __repr__(self) -> str:
        return f"LongformerPattern(window={self.window}, global_tokens={self.global_tokens})"

    def global_positions(self, length: int, device: torch.device | None = None) -> torch.Tensor:
        """Sorted unique non-negative positions of the global tokens in a sequence of ``length``."""
        bad = [g for g in self.global_tokens if not -length <= g < length]
        if bad:
            raise ValueError(f"global_tokens: expected positions in [-{length}, {length}) for a "
                             f"sequence of length {length}, got {bad}")
        pos = sorted({g % length for g in self.global_tokens}) if length else []
        return torch.tensor(pos, dtype=torch.long, device=device)

    def is_global(self, length: int, device: torch.device | None = None) -> torch.Tensor:
        flag = torch.zeros(length, dtype=torch.bool, device=device)
        flag[self.global_positions(length, device)] = True
        return flag

    def keys_per_query(self, n: int) -> float:
        return 2 * self.window + 1 + len(self.global_tokens)

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        assert length is not None, "global tokens counted from the end depend on the sequence length"
        glob = self.is_global(length, q_pos.device)
        near = (q_pos - k_pos).abs() <= self.window
        return near | glob[q_pos.clamp(0, max(length - 1, 0))] | glob[k_pos.clamp(0, max(length - 1, 0))]

    def block_layout(self, length: int, block_size: int) -> torch.Tensor:
        """``(nb, nb)`` bool covering every allowed pair (window blocks + global rows/columns)."""
        nb = num_blocks(length, block_size)
        first = torch.arange(nb) * block_size
        last = torch.clamp(first + block_size - 1, max=max(length - 1, 0))
        lo = (first - self.window).clamp(min=0) // block_size
        hi = (last + self.window).clamp(max=max(length - 1, 0)) // block_size
        j = torch.arange(nb)
        lay = (j[None, :] >= lo[:, None]) & (j[None, :] <= hi[:, None])
        gb = torch.zeros(nb, dtype=torch.bool)
        gb[self.global_positions(length) // block_size] = True
        return lay | gb[:, None] | gb[None, :]

    def dense_mask(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(L, L)`` bool, True = may attend."""
        check_self_lengths(self, lq, lk)
        i = torch.arange(lq, device=device)
        return self.allows(i[:, None], i[None, :], lq)
