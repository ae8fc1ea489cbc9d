"""Variable-length sets of vectors: the padded form and the packed form, and one call each way.

A batch of ``B`` sets whose lengths ``n_0 .. n_{B-1}`` differ can be held two ways:

* **padded**: ``x`` of shape ``(B, L_max, *feature)`` plus a boolean ``mask`` of shape
  ``(B, L_max)`` where ``True`` marks a real vector (the same "True = present / may be
  attended" convention as every mask in selfattn), or equivalently ``lengths`` ``(B,)``;
* **packed**: ``values`` of shape ``(N, *feature)`` with ``N = sum(n_b)`` (all vectors of
  all sets concatenated, set after set) plus ``offsets`` of shape ``(B + 1,)``, int64,
  ``offsets[0] = 0``, ``offsets[b + 1] - offsets[b] = n_b`` (the ``cu_seqlens`` of varlen
  kernels and the ``ptr`` of PyG batches).

``pad`` and ``pack`` convert between them; ``segment_ids`` and ``positions`` give each
packed vector its set and its position inside the set (starting at 0).
"""

from __future__ import annotations

import torch

from ._checks import check_dtype, check_ndim, check_tensor

__all__ = [
    "check_offsets",
    "lengths_to_mask",
    "lengths_to_offsets",
    "mask_to_lengths",
    "offsets_to_lengths",
    "pack",
    "pad",
    "positions",
    "segment_ids",
]


def check_offsets(offsets: torch.Tensor, total: int | None = None, name: str = "offsets") -> None:
    """Validate packed offsets: 1-D integer, starts at 0, non-decreasing, ends at ``total``."""
    check_ndim(name, offsets, 1, "(batch + 1,)")
    check_dtype(name, offsets, "integer")
    if offsets.numel() == 0:
        raise ValueError(f"{name}: expected at least one entry (offsets[0] = 0), got an empty tensor")
    if int(offsets[0]) != 0:
        raise ValueError(f"{name}: expected offsets[0] == 0, got {int(offsets[0])}")
    steps = offsets[1:] - offsets[:-1]
    if bool((steps < 0).any()):
        bad = int(torch.nonzero(steps < 0)[0, 0])
        raise ValueError(
            f"{name}: expected non-decreasing offsets, got offsets[{bad}]={int(offsets[bad])} > "
            f"offsets[{bad + 1}]={int(offsets[bad + 1])}"
        )
    if total is not None and int(offsets[-1]) != total:
        raise ValueError(
            f"{name}: expected offsets[-1] == {total} (the number of packed vectors), "
            f"got {int(offsets[-1])}"
        )


def lengths_to_offsets(lengths: torch.Tensor) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B + 1,)`` int64 offsets."""
    check_ndim("lengths", lengths, 1, "(batch,)")
    check_dtype("lengths", lengths, "integer")
    if bool((lengths < 0).any()):
        raise ValueError(f"lengths: expected non-negative lengths, got {lengths.tolist()}")
    out = torch.zeros(lengths.numel() + 1, dtype=torch.long, device=lengths.device)
    torch.cumsum(lengths.long(), 0, out=out[1:])
    return out


def offsets_to_lengths(offsets: torch.Tensor) -> torch.Tensor:
    """``(B + 1,)`` offsets -> ``(B,)`` int64 lengths."""
    check_offsets(offsets)
    return (offsets[1:] - offsets[:-1]).long()


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(B,)`` lengths -> ``(B, max_len)`` bool mask, ``True`` = a real vector."""
    check_ndim("lengths", lengths, 1, "(batch,)")
    check_dtype("lengths", lengths, "integer")
    longest = int(lengths.max()) if lengths.numel() else 0
    if max_len is None:
        max_len = longest
    elif longest > max_len:
        raise ValueError(
            f"max_len: expected at least the longest length {longest}, got {max_len} "
            "(sets are never truncated)"
        )
    return torch.arange(max_len, device=lengths.device) < lengths[:, None]


def mask_to_lengths(mask: torch.Tensor) -> torch.Tensor:
    """``(B, L)`` bool padding mask (``True`` = real, all real vectors first) -> ``(B,)`` lengths.

    Raises if a row has a gap (a padded slot before a real one): such a mask is not a
    padding mask and converting it to lengths would silently change its meaning.
    """
    check_ndim("mask", mask, 2, "(batch, length)")
    check_dtype("mask", mask, "bool")
    lengths = mask.sum(-1)
    expected = torch.arange(mask.shape[1], device=mask.device) < lengths[:, None]
    if not torch.equal(expected, mask):
        bad = int(torch.nonzero((expected != mask).any(-1))[0, 0])
        raise ValueError(
            f"mask: expected each row to be True for its first n entries then False "
            f"(a padding mask), row {bad} is {mask[bad].int().tolist()}"
        )
    return lengths.long()


def segment_ids(offsets: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """``(N,)`` int64: for each packed vector, the index of its set."""
    check_offsets(offsets, total)
    lengths = offsets[1:] - offsets[:-1]
    return torch.repeat_interleave(
        torch.arange(lengths.numel(), device=offsets.device), lengths,
        output_size=int(offsets[-1]),
    )


def positions(offsets: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """``(N,)`` int64: for each packed vector, its position inside its own set (from 0)."""
    seg = segment_ids(offsets, total)
    return torch.arange(seg.numel(), device=offsets.device) - offsets[seg]


def pad(
    values: torch.Tensor,
    offsets: torch.Tensor,
    max_len: int | None = None,
    padding_value: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed -> padded.

    Args:
        values: ``(N, *feature)`` all vectors of all sets, concatenated.
        offsets: ``(B + 1,)`` set boundaries.
        max_len: padded length; default the longest set. Shorter than the longest set
            raises (nothing is truncated).
        padding_value: written into padded slots.

    Returns:
        ``(padded, mask)``: ``(B, max_len, *feature)`` and ``(B, max_len)`` bool, ``True`` =
        real vector. Differentiable with respect to ``values``.
    """
    check_tensor("values", values)
    if values.dim() < 1:
        raise ValueError(f"values: expected at least 1-D (N, *feature), got shape {tuple(values.shape)}")
    check_offsets(offsets, values.shape[0])
    lengths = offsets[1:] - offsets[:-1]
    mask = lengths_to_mask(lengths, max_len)
    out = values.new_full((mask.shape[0], mask.shape[1], *values.shape[1:]), padding_value)
    out = out.index_put(mask.nonzero(as_tuple=True), values)
    return out, mask


def pack(
    padded: torch.Tensor,
    lengths: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Padded -> packed.

    Args:
        padded: ``(B, L, *feature)``.
        lengths: ``(B,)`` number of real vectors per set; or
        mask: ``(B, L)`` bool padding mask (``True`` = real, real vectors first). Give exactly one.

    Returns:
        ``(values, offsets)``: ``(N, *feature)`` and ``(B + 1,)`` int64.
    """
    check_tensor("padded", padded)
    if padded.dim() < 2:
        raise ValueError(
            f"padded: expected at least 2-D (batch, length, *feature), got shape {tuple(padded.shape)}"
        )
    if (lengths is None) == (mask is None):
        raise ValueError("pack: give exactly one of lengths= or mask=")
    if mask is not None:
        if tuple(mask.shape) != tuple(padded.shape[:2]):
            raise ValueError(
                f"mask: expected shape {tuple(padded.shape[:2])} (batch, length of padded), "
                f"got {tuple(mask.shape)}"
            )
        lengths = mask_to_lengths(mask)
    assert lengths is not None
    check_ndim("lengths", lengths, 1, "(batch,)")
    if lengths.shape[0] != padded.shape[0]:
        raise ValueError(
            f"lengths: expected {padded.shape[0]} entries (the batch size of padded), "
            f"got {lengths.shape[0]}"
        )
    if lengths.numel() and int(lengths.max()) > padded.shape[1]:
        raise ValueError(
            f"lengths: expected every length <= {padded.shape[1]} (the padded length), "
            f"got {int(lengths.max())}"
        )
    keep = lengths_to_mask(lengths.to(padded.device), padded.shape[1])
    return padded[keep], lengths_to_offsets(lengths.to(padded.device))
