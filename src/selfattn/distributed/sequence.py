"""Sequence-parallel training: a step's context that sends the model's self-attention round the ring.

A padded batch ``(B, L, ...)`` is split along ``L`` over the ``N`` ranks of a group (rank
``r`` holds the positions of ``shard_runs(L, N, r)``, the same rows of every sequence).
Inside ``with sequence_parallel(shard):`` the model runs unchanged on its rows:

* every ``selfattn.functional.attention`` call (the dispatcher's ``ATTENTION_ROUTE`` hook)
  is self-attention over the sharded axis and goes to ``ring_attention`` (a
  ``WindowPattern``: the halo exchange), with the batch's *global* key lengths;
* absolute encodings (``AbsoluteEncoding.positions_of``) and RoPE
  (``RotaryEmbedding.forward``) read each row's global position from ``global_positions``.

Per-position layers (projections, feed-forward, norms, heads) need nothing. Anything the
ring cannot compute exactly (a dense mask, a score bias, dropout on the weights, another
pattern, a length that is not this rank's shard) raises one line naming the argument.
``shard_batch`` cuts a collated batch into this rank's rows; the loss reduction across
ranks is the training module's (``selfattn.train.sequence_parallel``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.distributed as dist

from ..functional.dispatch import ATTENTION_ROUTE
from ..patterns.window import WindowPattern
from .comm import group_info
from .parallel import ring_attention
from .sharding import shard_runs

__all__ = ["SequenceShard", "current_shard", "global_positions", "make_shard", "sequence_parallel",
           "shard_batch"]

_SHARD: ContextVar[SequenceShard | None] = ContextVar("selfattn_sequence_shard", default=None)


@dataclass(frozen=True)
class SequenceShard:
    """This rank's rows of a padded batch whose sequences are ``total`` positions long.

    ``positions (L_r,)``: the global position of each local row (ascending, contiguous);
    ``lengths (B,)``: each sequence's real length (global), or None (no padding).
    """

    group: dist.ProcessGroup | None
    total: int
    positions: torch.Tensor
    lengths: torch.Tensor | None

    @property
    def local_length(self) -> int:
        return int(self.positions.numel())

    def real(self) -> torch.Tensor | None:
        """``(B, L_r)`` bool: which local rows are real vectors (None: all)."""
        if self.lengths is None:
            return None
        return self.positions[None, :] < self.lengths[:, None]

    def _check_length(self, name: str, n: int) -> None:
        if n != self.local_length:
            raise ValueError(f"{name}: inside a sequence-parallel step every call runs over this "
                             f"rank's {self.local_length} rows of {self.total} positions; got "
                             f"{n} (a layer that changes the sequence length cannot be sharded)")

    def attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, mask=None,
                  key_mask=None, key_lengths=None, causal: bool = False, bias=None, score="dot",
                  normalize: str = "softmax", scale=None, dropout_p: float = 0.0, pattern=None,
                  kernel: str = "auto", return_weights: bool = False) -> torch.Tensor:
        """``attention``'s arguments -> ``ring_attention`` on the shards (route of the dispatcher)."""
        for name, bad in (("mask", mask is not None), ("bias", bias is not None),
                          ("score", not (isinstance(score, str) and score == "dot")),
                          ("normalize", normalize != "softmax"), ("dropout_p", dropout_p > 0),
                          ("return_weights", return_weights),
                          ("pattern", pattern is not None and not isinstance(pattern, WindowPattern))):
            if bad:
                raise ValueError(f"{name}: ring attention (sequence parallel) computes dot-product "
                                 f"softmax attention with key padding, causal and a WindowPattern "
                                 f"only; got {name}={_short(locals()[name])}")
        self._check_length("q", q.shape[2])
        self._check_length("k", k.shape[2])
        real = self.real()
        if key_lengths is not None:
            key_mask = torch.arange(k.shape[2], device=k.device)[None, :] < key_lengths[:, None]
        if key_mask is not None:
            want = real if real is not None else torch.ones_like(key_mask)
            if key_mask.shape != want.shape or not bool((key_mask == want.to(key_mask.device)).all()):
                raise ValueError("key_mask: expected this rank's rows of the batch's padding mask "
                                 "(the first lengths[b] positions of each sequence are real)")
        lengths = None if key_mask is None or self.lengths is None else self.lengths.to(q.device)
        token = ATTENTION_ROUTE.set(None)  # the ring's own local calls run locally
        try:
            return ring_attention(q, k, v, group=self.group, causal=causal, key_lengths=lengths,
                                  pattern=pattern, scale=scale)
        finally:
            ATTENTION_ROUTE.reset(token)


def _short(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return type(value).__name__ if callable(value) else repr(value)


def make_shard(total: int, lengths: torch.Tensor | None, group: dist.ProcessGroup | None = None,
               device: torch.device | str = "cpu") -> SequenceShard:
    """This rank's contiguous shard of sequences padded to ``total`` positions."""
    rank, world = group_info(group)
    (start, stop), = shard_runs(total, world, rank, "contiguous")
    positions = torch.arange(start, stop, device=device)
    if lengths is not None:
        lengths = lengths.to(device=device, dtype=torch.long)
    return SequenceShard(group, total, positions, lengths)


def shard_batch(batch: Any, shard: SequenceShard) -> Any:
    """A padded ``selfattn.data.Batch`` -> this rank's rows of it (``x``, ``mask``, ``y``,
    ``y_mask`` along dim 1; ``lengths`` and ``offsets`` stay global)."""
    if getattr(batch, "layout", "padded") != "padded":
        raise ValueError(f"batch: sequence parallel shards padded batches; got layout {batch.layout!r}")
    for name in ("edge_index", "grids"):
        if getattr(batch, name, None) is not None:
            raise ValueError(f"batch: {name} links positions across shards; sequence parallel "
                             "shards sets of vectors with no graph or grid")
    cut = {}
    for f in fields(batch):
        value = getattr(batch, f.name)
        if f.name in ("x", "mask", "y", "y_mask") and isinstance(value, torch.Tensor):
            if value.dim() < 2 or value.shape[1] != shard.total:
                raise ValueError(f"batch.{f.name}: expected (batch, {shard.total}, ...), got shape "
                                 f"{tuple(value.shape)}")
            cut[f.name] = value[:, shard.positions.to(value.device)]
    return replace(batch, **cut)


def current_shard() -> SequenceShard | None:
    """The shard of the sequence-parallel step running now, or None."""
    return _SHARD.get()


def global_positions(local: torch.Tensor, length: int) -> torch.Tensor:
    """Positions ``local`` of a sequence of ``length`` vectors -> global positions inside a
    sequence-parallel step (unchanged outside one)."""
    shard = _SHARD.get()
    if shard is None:
        return local
    shard._check_length("positions", length)
    return shard.positions.to(local.device)[local]


@contextmanager
def sequence_parallel(shard: SequenceShard) -> Iterator[SequenceShard]:
    """Run the model on this rank's rows: attention round the ring, positions global."""
    token_shard = _SHARD.set(shard)
    token_route = ATTENTION_ROUTE.set(shard.attention)
    try:
        yield shard
    finally:
        ATTENTION_ROUTE.reset(token_route)
        _SHARD.reset(token_shard)
