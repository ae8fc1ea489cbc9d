"""Argument checks shared by the pattern classes."""

from __future__ import annotations

import torch

__all__ = ["check_int", "check_self_lengths", "pair_or_int", "positions"]


def check_int(name: str, value: object, minimum: int) -> int:
    """An ``int`` (not a bool) that is at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


def pair_or_int(name: str, value: object, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (one per grid axis: height, width)."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an int or a pair (height, width), got {value!r}")
        return (check_int(f"{name}[0]", value[0], minimum), check_int(f"{name}[1]", value[1], minimum))
    v = check_int(name, value, minimum)
    return (v, v)


def check_self_lengths(pattern: object, lq: int, lk: int) -> None:
    """Patterns defined on one sequence (block-sparse, grids) need ``Lq == Lk``."""
    if lq != lk:
        raise ValueError(f"pattern: {pattern!r} is a self-attention pattern; expected Lq == Lk, "
                         f"got Lq={lq}, Lk={lk}")


def positions(lq: int, lk: int, device: torch.device | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower-right aligned positions: ``(lq, 1)`` query positions and ``(1, lk)`` key positions."""
    q = torch.arange(lq, device=device)[:, None] + (lk - lq)
    k = torch.arange(lk, device=device)[None, :]
    return q, k
