"""``ring_attention`` and ``ring_varlen_attention``: attention over a sequence split across ranks.

Each rank passes its shard of one long sequence, ``(B, H, L_r, D)`` (packed:
``(N_r, H, D)``), and gets its shard of the output, equal to single-process ``attention``
(``varlen_attention``) on the gathered sequence, forward and backward. Dense and causal
attention, ``key_lengths`` and packed sets go round the ring (``ring.py``); a
``WindowPattern`` exchanges only the halo (``halo.py``). Masks are bool, True = may attend,
as everywhere in selfattn; a query with no allowed key gets zeros, never NaN.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from .._checks import check_dtype, check_ndim, check_same_device, check_same_dtype
from ..patterns.window import WindowPattern
from ..varlen import check_offsets
from .blocks import Masking
from .comm import all_lengths, group_info
from .halo import halo_attention
from .ring import chunk_rows, run_ring
from .sharding import SHARDINGS, layout_from_lengths

__all__ = ["ring_attention", "ring_varlen_attention"]

LAYOUT = "(batch, heads, local_length, head_dim)"


def _check(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, pattern, sharding: str,
           scale: float | None) -> float:
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_ndim(name, t, 4, LAYOUT)
    check_dtype("q", q, "float")
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v)
    if q.device.type != "cpu":
        raise ValueError(f"q: the block kernel is PyTorch's CPU flash op; expected a CPU tensor, "
                         f"got device {q.device}")
    if k.shape[:3] != q.shape[:3] or v.shape[:3] != q.shape[:3]:
        raise ValueError(f"k, v: expected this rank's shard of the same positions as q, "
                         f"(batch, heads, local_length) = {tuple(q.shape[:3])}, got "
                         f"k {tuple(k.shape)} and v {tuple(v.shape)}")
    if k.shape[3] != q.shape[3]:
        raise ValueError(f"k: expected head_dim {q.shape[3]} (from q), got shape {tuple(k.shape)}")
    if sharding not in SHARDINGS:
        raise ValueError(f"sharding: expected one of {SHARDINGS}, got {sharding!r}")
    if pattern is not None and not isinstance(pattern, WindowPattern):
        raise ValueError(f"pattern: ring attention takes None or a WindowPattern, got "
                         f"{type(pattern).__name__}")
    if pattern is not None and sharding != "contiguous":
        raise ValueError("sharding: a WindowPattern exchanges halos between contiguous shards; "
                         f"expected sharding='contiguous', got {sharding!r} (a window's work "
                         "is balanced without zigzag)")
    if scale is None:
        return 1.0 / math.sqrt(q.shape[3]) if q.shape[3] else 1.0
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: expected a finite positive number, got {scale!r}")
    return float(scale)


def _rows(chunk: int | None, q: torch.Tensor, v: torch.Tensor) -> int:
    if chunk is None:
        return chunk_rows(q.shape[0], q.shape[1], q.shape[3], v.shape[3])
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk: expected a positive number of positions, got {chunk!r}")
    return chunk


def ring_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *,
                   group: dist.ProcessGroup | None = None, causal: bool = False,
                   key_lengths: torch.Tensor | None = None, pattern: WindowPattern | None = None,
                   scale: float | None = None, sharding: str = "contiguous",
                   chunk: int | None = None, overlap: bool = True) -> torch.Tensor:
    """Exact attention over one sequence sharded along its length across ``group``.

    Args:
        q, k, v: this rank's shard, ``(B, H, L_r, D)``, ``(B, H, L_r, D)``, ``(B, H, L_r, Dv)``.
            ``sharding="contiguous"``: rank ``r`` holds the positions after those of rank
            ``r - 1`` (any lengths, empty shards included; ``shard_sequence`` gives
            ``ceil(L/N)`` each, the last ones shorter); ``"zigzag"``: the two chunks
            ``shard_sequence(..., sharding="zigzag")`` gives, which balance causal work.
        group: the process group (default: the world).
        causal: position ``i`` sees keys ``j <= i`` (global positions).
        key_lengths: ``(B,)`` int, global: keys at positions ``>= key_lengths[b]`` are padding.
        pattern: None (all pairs) or a ``WindowPattern`` (only the halo is exchanged;
            contiguous shards).
        scale: score scale, default ``1/sqrt(D)``.
        chunk: positions per message and per flash call (the same on every rank; default
            ``ring.chunk_rows``: about 2^16 elements per buffer, at least 256 rows); a rank
            holds a few chunk-sized buffers besides its shard's output and gradients.
        overlap: post each transfer before the compute it hides behind (default); False
            waits for every transfer first (the same messages: for measuring the overlap).

    Returns:
        ``(B, H, L_r, Dv)``: this rank's shard of ``attention(Q, K, V, ...)`` on the gathered
        sequence; rows with no allowed key are zeros.
    """
    scale = _check(q, k, v, pattern, sharding, scale)
    rank, _ = group_info(group)
    layout = layout_from_lengths(all_lengths(q.shape[2], group, q.device), sharding)
    if key_lengths is not None:
        check_ndim("key_lengths", key_lengths, 1, "(batch,)")
        check_dtype("key_lengths", key_lengths, "integer")
        if key_lengths.shape[0] != q.shape[0]:
            raise ValueError(f"key_lengths: expected {q.shape[0]} entries (the batch size), "
                             f"got shape {tuple(key_lengths.shape)}")
        if q.shape[0] and (int(key_lengths.min()) < 0 or int(key_lengths.max()) > layout.total):
            raise ValueError(f"key_lengths: expected values in [0, {layout.total}] (the global "
                             f"length), got {key_lengths.tolist()}")
        key_lengths = key_lengths.to(device=q.device, dtype=torch.long)
    if pattern is not None:
        return halo_attention(q, k, v, pattern, layout, rank, group, causal=causal,
                              key_lengths=key_lengths, scale=scale, overlap=overlap)
    return run_ring(q, k, v, layout, Masking(causal, key_lengths, None), scale, group, rank,
                    _rows(chunk, q, v), overlap)


def ring_varlen_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, offsets: torch.Tensor,
                          *, group: dist.ProcessGroup | None = None, causal: bool = False,
                          pattern: WindowPattern | None = None, scale: float | None = None,
                          sharding: str = "contiguous", chunk: int | None = None,
                          overlap: bool = True) -> torch.Tensor:
    """Packed variable-length sets whose rows are split across ``group``; sets may span ranks.

    Args:
        q, k, v: this rank's rows of the packed sets, ``(N_r, H, D)``, ``(N_r, H, D)``,
            ``(N_r, H, Dv)``, sharded as in ``ring_attention``.
        offsets: ``(S + 1,)`` int, the *global* set boundaries (the same on every rank),
            ``offsets[-1]`` = the total rows of all ranks.
        causal, pattern, scale, sharding, chunk, overlap: as in ``ring_attention``; positions (and a
            window) restart in every set.

    Returns:
        ``(N_r, H, Dv)``: this rank's rows of ``varlen_attention(Q, K, V, offsets)`` on the
        gathered rows.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_ndim(name, t, 3, "(local_rows, heads, head_dim)")
    q4, k4, v4 = (x.transpose(0, 1)[None] for x in (q, k, v))
    scale = _check(q4, k4, v4, pattern, sharding, scale)
    rank, _ = group_info(group)
    layout = layout_from_lengths(all_lengths(q.shape[0], group, q.device), sharding)
    check_offsets(offsets, layout.total, "offsets")
    offsets = offsets.to(device=q.device, dtype=torch.long)
    if pattern is not None:
        out = halo_attention(q4, k4, v4, pattern, layout, rank, group, causal=causal,
                             offsets=offsets, scale=scale, overlap=overlap)
    else:
        rows = _rows(chunk, q4, v4)
        out = run_ring(q4, k4, v4, layout, Masking(causal, None, offsets), scale, group, rank, rows,
                       overlap)
    return out[0].transpose(0, 1)
