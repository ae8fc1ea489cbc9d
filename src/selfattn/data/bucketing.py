"""Length bucketing: put sets of similar length in one batch to cut padding.

A padded batch costs ``B * L_max`` slots for ``sum n_b`` real vectors, and attention costs
grow with ``L_max^2``. :class:`LengthBucketSampler` shuffles the data set, cuts it into
pools of ``pool_batches`` batches, sorts each pool by length and slices it into batches,
then shuffles the batch order: batches hold similar lengths, yet every epoch differs.
Batches are limited by a count (``batch_size``) or by padded slots (``max_tokens`` >=
``B * L_max``). Deterministic for a given ``seed`` and epoch (``set_epoch``).

Resuming inside an epoch: ``start_at(epoch, batches_done)`` makes the next iteration skip
the batches an interrupted run already trained on, so a resumed run sees exactly the
batches the uninterrupted one would have.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["LengthBucketSampler", "padding_fraction"]


class LengthBucketSampler(Sampler[list[int]]):
    """A batch sampler (``DataLoader(batch_sampler=...)``) yielding index lists.

    Args:
        lengths: ``(num_sets,)`` the length of each set (``SetDataset.lengths()``).
        batch_size: sets per batch; or
        max_tokens: the most padded slots ``B * L_max`` per batch (a single set longer than
            this still gets a batch of its own: nothing is dropped).
        pool_batches: how many batches' worth of sets are sorted together; 1 = no bucketing
            beyond the batch, large = nearly sorted batches.
        shuffle: shuffle sets before pooling and batches after; False = sorted order.
        drop_last: drop a final smaller batch (only with ``batch_size``).
        seed: the base seed; the epoch is added (``set_epoch``).
    """

    def __init__(self, lengths: Sequence[int] | torch.Tensor, batch_size: int | None = None,
                 max_tokens: int | None = None, pool_batches: int = 50, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0):
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        if self.lengths.dim() != 1:
            raise ValueError(f"lengths: expected a 1-D sequence, got shape {tuple(self.lengths.shape)}")
        if (batch_size is None) == (max_tokens is None):
            raise ValueError("LengthBucketSampler: give exactly one of batch_size= or max_tokens=")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        if max_tokens is not None and max_tokens < 1:
            raise ValueError(f"max_tokens: expected >= 1, got {max_tokens}")
        if pool_batches < 1:
            raise ValueError(f"pool_batches: expected >= 1, got {pool_batches}")
        self.batch_size, self.max_tokens = batch_size, max_tokens
        self.pool_batches, self.shuffle = pool_batches, shuffle
        self.drop_last, self.seed, self.epoch = drop_last, seed, 0
        self.start = 0  # batches of this epoch to skip on the next iteration (a resumed run)

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the next iteration (its shuffle is seeded by ``seed + epoch``)."""
        self.epoch = int(epoch)

    def start_at(self, epoch: int, batches_done: int) -> None:
        """The next iteration is epoch ``epoch`` from its batch ``batches_done`` on."""
        if batches_done < 0:
            raise ValueError(f"batches_done: expected >= 0, got {batches_done}")
        self.epoch, self.start = int(epoch), int(batches_done)

    def _batches(self) -> list[list[int]]:
        n = self.lengths.numel()
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        if self.batch_size is not None:
            pool = self.batch_size * self.pool_batches
        else:
            typical = max(1, int(self.lengths.float().mean().ceil()) if n else 1)
            pool = max(1, self.max_tokens // typical) * self.pool_batches
        batches: list[list[int]] = []
        for start in range(0, n, pool):
            chunk = order[start:start + pool]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches.extend(self._slice(chunk.tolist()))
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in perm]
        return batches

    def _slice(self, indices: list[int]) -> list[list[int]]:
        if self.batch_size is not None:
            out = [indices[i:i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
            if self.drop_last and out and len(out[-1]) < self.batch_size:
                out.pop()
            return out
        out, current, longest = [], [], 0
        for i in indices:
            length = int(self.lengths[i])
            if current and max(longest, length) * (len(current) + 1) > self.max_tokens:
                out.append(current)
                current, longest = [], 0
            current.append(i)
            longest = max(longest, length)
        if current:
            out.append(current)
        return out

    def __iter__(self) -> Iterator[list[int]]:
        start, self.start = self.start, 0
        return iter(self._batches()[start:])

    def __len__(self) -> int:
        return len(self._batches())


def padding_fraction(lengths: Sequence[int] | torch.Tensor, batches: Sequence[Sequence[int]]) -> float:
    """Share of padded slots over all batches: ``1 - sum n / sum (B * L_max)``."""
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    real = slots = 0
    for batch in batches:
        picked = lengths[list(batch)]
        real += int(picked.sum())
        slots += int(picked.max()) * len(batch) if len(batch) else 0
    return 1.0 - real / slots if slots else 0.0
