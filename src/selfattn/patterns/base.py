"""What every pattern is: a self-describing value, and the one registry of them.

A pattern says which (query, key) pairs may interact and everything a dispatcher needs to
run it, so no kernel ever switches on its type:

* ``allows(q_pos, k_pos, length=None)``: the pair rule on broadcastable position tensors
  (lower-right aligned, ``length`` = keys of the sequence);
* ``dense_mask(lq, lk, device=None)``: the ``(Lq, Lk)`` bool form (True = may attend) for
  the reference path and small inputs;
* ``keys_per_query(n)``: about how many of ``n`` keys a query sees (its density);
* ``check_lengths(lq, lk)``: raises ``ValueError`` for lengths it is not defined on;
* ``kernel``: the sparse kernel that computes it (``selfattn.functional`` holds a planner
  per pattern type for that kernel's engine);
* ``min_dense_pairs``, ``max_density``: its measured crossovers, below which (``Lq * Lk``
  pairs) or above which (``keys_per_query / Lk``) dense attention with its mask is faster
  (``benchmarks/sparse_crossover.py``, ``benchmarks/results/sparse_crossover.json``);
* ``name``: its registry name. A subclass of ``Pattern`` that sets ``name`` in its body is
  registered (``PATTERNS``, ``get_pattern``); a subclass without one (a variant of a
  registered pattern) is not.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from ._common import check_self_lengths, positions

__all__ = ["PATTERNS", "Pattern", "get_pattern", "pattern_names"]

PATTERNS: dict[str, type[Pattern]] = {}


class Pattern:
    """Base of every sparse pattern (see the module docstring)."""

    name: ClassVar[str]
    kernel: ClassVar[str]
    min_dense_pairs: ClassVar[int]
    max_density: ClassVar[float]
    self_attention: ClassVar[bool] = True  # defined on one sequence: needs Lq == Lk

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return
        for attr in ("kernel", "min_dense_pairs", "max_density"):
            if not hasattr(cls, attr):
                raise TypeError(f"{cls.__name__}: a registered pattern sets {attr!r} "
                                "(see selfattn.patterns.base)")
        other = PATTERNS.get(cls.name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise ValueError(f"name: {cls.__name__} and {other.__name__} both call themselves {cls.name!r}")
        PATTERNS[cls.name] = cls

    def allows(self, q_pos: torch.Tensor, k_pos: torch.Tensor, length: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    def keys_per_query(self, n: int) -> float:
        raise NotImplementedError

    def check_lengths(self, lq: int, lk: int) -> None:
        if self.self_attention:
            check_self_lengths(self, lq, lk)

    def dense_mask(self, lq: int, lk: int, device: torch.device | None = None) -> torch.Tensor:
        """``(Lq, Lk)`` bool, True = may attend: ``allows`` on every pair."""
        self.check_lengths(lq, lk)
        qp, kp = positions(lq, lk, device)
        return self.allows(qp, kp, lk)


def get_pattern(name: str) -> type[Pattern]:
    """The pattern class registered as ``name``."""
    if name not in PATTERNS:
        raise ValueError(f"pattern: expected one of {pattern_names()}, got {name!r}")
    return PATTERNS[name]


def pattern_names() -> list[str]:
    return sorted(PATTERNS)
