"""The common interface of every positional scheme, and the absolute encodings' forward.

Self-attention has no notion of position: permute the input vectors and the outputs are
permuted the same way. The lecture's fix is to give each position ``i`` a vector ``e_i``
and add it to the input, ``a_i + e_i``; the modern schemes instead put position inside the
attention scores (relative terms, rotations, biases). Every scheme says which it is:

* ``where = "inputs"``: an ``AbsoluteEncoding``; ``enc(x, offsets=None, lengths=None)``
  returns ``x + e`` for padded ``x (B, L, E)`` or packed ``x (N, E)`` with ``offsets
  (B + 1,)`` (each set's positions start at 0).
* ``where = "attention"``: the scheme is handed to ``selfattn.nn.MultiHeadAttention``:
  ``attention_kwargs(num_heads, head_dim)`` gives the keyword arguments
  (``position_bias=`` or ``rotary=``) and ``attention_module(mha)`` may replace the module
  (Shaw's relative key/value embeddings need their own forward).

Subclasses of ``AbsoluteEncoding`` implement ``encode(positions, set_lengths, dtype)`` for
integer positions ``(...,)`` and return ``(..., dim)``; most ignore ``set_lengths`` (the
length of the set each position belongs to), which only an interpolating table needs.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any, ClassVar

import torch
from torch import nn

from .._checks import check_dtype, check_ndim
from ..distributed.sequence import current_shard
from ..varlen import check_offsets, segment_ids
from ..varlen import positions as packed_positions

__all__ = ["AbsoluteEncoding", "PositionalScheme", "attention_for", "check_heads"]


class PositionalScheme:
    """Mixin shared by every scheme (not a module by itself; schemes are ``nn.Module``s).

    Attributes:
        name: the registry name (``"sinusoidal"``, ``"alibi"``, ...).
        where: ``"inputs"`` (added to the input vectors) or ``"attention"`` (inside it).
    """

    name: ClassVar[str] = ""
    where: ClassVar[str] = "inputs"

    def attention_kwargs(self, num_heads: int, head_dim: int) -> dict[str, Any]:
        """Keyword arguments for ``MultiHeadAttention(E, num_heads, **kwargs)``; checks
        that the scheme fits those heads. Absolute encodings need none."""
        return {}

    def attention_module(self, mha: nn.Module) -> nn.Module:
        """The attention module to use in place of ``mha``: ``attention_for(self, mha)``."""
        return attention_for(self, mha)


@singledispatch
def attention_for(scheme: PositionalScheme, mha: nn.Module) -> nn.Module:
    """The attention module a scheme needs in place of ``mha`` (default: ``mha`` itself).
    A scheme whose attention is a module of its own (Shaw's tables) registers it from
    ``selfattn.nn``, the layer that holds attention modules, so positions never import it."""
    return mha


def check_heads(scheme: nn.Module, built: int, num_heads: int) -> None:
    """A per-head scheme built for ``built`` heads fits attention with ``num_heads``."""
    if built not in (1, num_heads):
        raise ValueError(f"num_heads: {type(scheme).__name__} was built for {built} heads, "
                         f"the attention has {num_heads}")


class AbsoluteEncoding(nn.Module, PositionalScheme):
    """Base of the encodings added to the inputs: ``x + e_position``.

    Args:
        dim: ``E``, the width of the input vectors and of each ``e_i``.

    Forward: ``enc(x, offsets=None, lengths=None)``:
        * padded ``x (B, L, E)``: vector ``l`` of every set sits at position ``l``. With
          ``lengths (B,)`` (the number of real vectors per set), padded slots get no
          encoding (zeros are added) and each set is encoded knowing its own length.
        * packed ``x (N, E)`` with ``offsets (B + 1,)``: each vector sits at its position
          inside its own set, starting at 0 (``selfattn.varlen.positions``).
        Returns ``x + e``, same shape and dtype as ``x``.
    """

    where: ClassVar[str] = "inputs"

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"dim: expected a positive width, got {dim}")
        self.dim = dim

    def encode(self, positions: torch.Tensor, set_lengths: torch.Tensor,
               dtype: torch.dtype) -> torch.Tensor:
        """``positions (...,)`` int, ``set_lengths`` same shape -> ``(..., dim)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode()")

    def table(self, length: int, dtype: torch.dtype | None = None) -> torch.Tensor:
        """``(length, dim)``: ``e_0 .. e_{length-1}`` for one set of that length."""
        device = self._device()
        pos = torch.arange(length, device=device)
        return self.encode(pos, torch.full_like(pos, length), dtype or self._dtype())

    def _device(self) -> torch.device:
        for t in (*self.parameters(), *self.buffers()):
            return t.device
        return torch.device("cpu")

    def _dtype(self) -> torch.dtype:
        for t in self.parameters():
            return t.dtype
        return torch.get_default_dtype()

    def forward(self, x: torch.Tensor, offsets: torch.Tensor | None = None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        pos, n, real = self.positions_of(x, offsets, lengths)
        e = self.encode(pos, n, x.dtype)
        return x + (e if real is None else e * real[..., None])

    def positions_of(self, x: torch.Tensor, offsets: torch.Tensor | None = None,
                     lengths: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Check the input; return each vector's position, its set's length (both int,
        ``(L,)``, ``(B, L)`` or ``(N,)``) and, for padded input with ``lengths``, the
        ``(B, L)`` mask of real vectors (``True`` = real; padded slots get no encoding)."""
        check_dtype("x", x, "float")
        if offsets is not None:
            if lengths is not None:
                raise ValueError("lengths: not used with packed input (offsets=): the offsets "
                                 "already give each set's length")
            check_ndim("x", x, 2, f"(total, {self.dim}) with offsets=")
            self._check_width(x)
            check_offsets(offsets, x.shape[0])
            pos = packed_positions(offsets, x.shape[0])
            n = (offsets[1:] - offsets[:-1])[segment_ids(offsets, x.shape[0])]
            return pos, n, None
        check_ndim("x", x, 3, f"(batch, length, {self.dim})")
        self._check_width(x)
        b, length = x.shape[0], x.shape[1]
        pos = torch.arange(length, device=x.device)
        shard = current_shard()
        if shard is not None:  # sequence parallel: this rank's rows of longer sequences
            return _sharded_positions(shard, x, lengths)
        if lengths is None:
            return pos, torch.full_like(pos, length), None
        check_ndim("lengths", lengths, 1, "(batch,)")
        check_dtype("lengths", lengths, "integer")
        if lengths.shape[0] != b:
            raise ValueError(f"lengths: expected {b} entries (the batch size of x), got shape "
                             f"{tuple(lengths.shape)}")
        if b and (int(lengths.max()) > length or int(lengths.min()) < 0):
            raise ValueError(f"lengths: expected values in [0, {length}] (the padded length of "
                             f"x), got {lengths.tolist()}")
        real = pos[None, :] < lengths[:, None].to(x.device)  # (B, L)
        # Padded slots are encoded as position 0 of a length-1 set, then zeroed.
        p = torch.where(real, pos[None, :], 0)
        n = torch.where(real, lengths[:, None].to(x.device).expand(b, length), 1)
        return p, n, real

    def _check_width(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.dim:
            raise ValueError(f"x: expected last dimension {self.dim} (the encoding's dim), got "
                             f"shape {tuple(x.shape)}")


def _sharded_positions(shard, x: torch.Tensor, lengths: torch.Tensor | None):
    """``positions_of`` for this rank's rows inside ``selfattn.distributed.sequence_parallel``:
    global positions, and the sequences' global lengths (``lengths`` counts local real rows)."""
    from ..distributed.sequence import global_positions

    length = x.shape[1]
    pos = global_positions(torch.arange(length, device=x.device), length)
    if lengths is None or shard.lengths is None:
        return pos, torch.full_like(pos, shard.total), None
    real = shard.real().to(x.device)
    if lengths.shape != (x.shape[0],) or not bool((real.sum(1) == lengths.to(x.device)).all()):
        raise ValueError(f"lengths: expected the real rows of this rank's shard per set, "
                         f"{real.sum(1).tolist()}, got {lengths.tolist()}")
    p = torch.where(real, pos[None, :], 0)
    n = torch.where(real, shard.lengths.to(x.device)[:, None].expand_as(real), 1)
    return p, n, real
