"""One call from a :class:`SetDataset` to a ``DataLoader`` of length-bucketed batches.

``set_loader(data, labels="vector", batch_size=32)`` = a ``DataLoader`` whose batch
sampler is a :class:`~selfattn.data.LengthBucketSampler` over ``data.lengths()`` and
whose ``collate_fn`` is :class:`~selfattn.data.Collate`: every batch is a
:class:`~selfattn.data.Batch`, padded ``(B, L, *feature)`` + mask or packed
``(N, *feature)`` + offsets, with sets of similar length together.
"""

from __future__ import annotations

from torch.utils.data import DataLoader

from .bucketing import LengthBucketSampler
from .collate import Collate, LabelKind, Layout
from .sets import SetDataset

__all__ = ["set_loader"]


def set_loader(data: SetDataset, labels: LabelKind = "none", batch_size: int | None = 32,
               max_tokens: int | None = None, layout: Layout = "padded", shuffle: bool = True,
               pool_batches: int = 50, seed: int = 0, num_workers: int = 0,
               drop_last: bool = False) -> DataLoader:
    """A bucketed, collated ``DataLoader``; give ``batch_size`` or ``max_tokens`` (then set
    ``batch_size=None``). For evaluation pass ``shuffle=False`` (sorted by length).
    Call ``loader.batch_sampler.set_epoch(epoch)`` to reshuffle each epoch."""
    if max_tokens is not None and batch_size is not None:
        raise ValueError("set_loader: give batch_size= or max_tokens=, not both "
                         "(set batch_size=None to use max_tokens)")
    sampler = LengthBucketSampler(data.lengths(), batch_size=batch_size, max_tokens=max_tokens,
                                  pool_batches=pool_batches, shuffle=shuffle,
                                  drop_last=drop_last, seed=seed)
    return DataLoader(data, batch_sampler=sampler, collate_fn=Collate(layout, labels),
                      num_workers=num_workers)
