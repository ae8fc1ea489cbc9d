"""Normalisations: how raw scores alpha become attention weights alpha'.

The lecture normalises each query's scores with a softmax and notes that other choices
(e.g. ReLU) also work [17]. Every normalisation here takes the scores of one query over
its *allowed* keys only; a query with no allowed key gets all-zero weights (never NaN,
forward or backward).

* ``"softmax"``: ``w_j = exp(s_j) / sum_{allowed} exp(s_i)``. Weights sum to 1.
* ``"relu"``: ``w_j = relu(s_j) / n`` with ``n`` the number of allowed keys of that query
  (Wortsman et al. 2023, "Replacing softmax with ReLU in vision transformers": dividing by
  the length keeps the output's scale independent of ``n``; counting only allowed keys
  makes padding invisible). Weights are >= 0 and sum to at most ``mean(relu(s))``.
* ``"sigmoid"``: ``w_j = sigmoid(s_j - log n)`` (Ramapuram et al. 2024, "Theory, analysis,
  and best practices for sigmoid self-attention": the ``-log n`` bias makes the expected
  total weight O(1) at initialisation, like a softmax). Each weight lies in (0, 1).

``allowed`` is a boolean tensor broadcastable to the scores (``True`` = may attend) or
``None`` (all allowed). Scores equal to ``-inf`` count as not allowed for every
normalisation, so an additive ``-inf`` bias masks exactly like ``allowed=False``.

One formula, two ways of grouping the scores of a query:

* ``normalize_scores``: a query's keys lie along one axis (dense ``(..., Lq, Lk)``, or one
  tile ``(..., bq, m)``);
* ``normalize_groups``: the scores lie on one flat axis ``(..., E)`` and ``groups (E,)``
  names the query of each (the edges of a graph, or the tile rows of several tile parts
  that one query spans). Reductions are ``index_add`` / ``scatter_reduce`` per group.

Both run the same body (``_weights``) and differ only in how a per-query statistic is
reduced and spread back; the graph engine and the tile engine both call
``normalize_groups``. Only ``reference.py`` (the float64 oracle) is written separately.
"""

from __future__ import annotations

import torch

NORMALIZATIONS = ("softmax", "relu", "sigmoid")

__all__ = ["NORMALIZATIONS", "check_normalize", "normalize_groups", "normalize_scores"]

_NEG_INF = float("-inf")


def check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"normalize: expected one of {', '.join(repr(n) for n in NORMALIZATIONS)}, "
            f"got {normalize!r}"
        )


class _Axis:
    """The keys of a query lie along ``dim``: statistics keep that axis with size 1."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        return x.sum(self.dim, keepdim=True)

    def max(self, x: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
        return x.amax(self.dim, keepdim=True) if x.shape[self.dim] else empty.to(x)

    def spread(self, stat: torch.Tensor) -> torch.Tensor:
        return stat


class _Groups:
    """Entry ``e`` of the last axis belongs to query ``groups[e]`` (of ``n``)."""

    def __init__(self, groups: torch.Tensor, n: int) -> None:
        self.groups, self.n = groups, n

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(*x.shape[:-1], self.n).index_add(-1, self.groups, x)

    def max(self, x: torch.Tensor, empty: torch.Tensor) -> torch.Tensor:
        top = x.new_full((*x.shape[:-1], self.n), _NEG_INF)
        return top.scatter_reduce(-1, self.groups.expand(x.shape), x, "amax")

    def spread(self, stat: torch.Tensor) -> torch.Tensor:
        return stat[..., self.groups]


def _weights(scores: torch.Tensor, allowed: torch.Tensor | None, normalize: str,
             by: _Axis | _Groups) -> torch.Tensor:
    check_normalize(normalize)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, _NEG_INF)
    finite = scores > _NEG_INF
    count = by.sum(finite.to(torch.int64))  # exact counts, whatever the score dtype
    has_key = count > 0
    if normalize == "softmax":
        # Shifting by the (detached) maximum of each query leaves the softmax and its
        # gradient unchanged; queries with no allowed key shift by 0 so exp(-inf) = 0.
        top = by.max(scores.detach(), count)
        top = torch.where(has_key, top, torch.zeros_like(top))
        e = torch.exp(scores - by.spread(top))
        denom = by.sum(e)
        return e / by.spread(torch.where(has_key, denom, torch.ones_like(denom)))
    n = by.spread(count.clamp_min(1).to(scores.dtype))
    safe = torch.where(finite, scores, torch.zeros_like(scores))
    w = torch.relu(safe) / n if normalize == "relu" else torch.sigmoid(safe - torch.log(n))
    return torch.where(finite, w, torch.zeros_like(w))


def normalize_scores(
    scores: torch.Tensor,
    allowed: torch.Tensor | None,
    normalize: str = "softmax",
    dim: int = -1,
) -> torch.Tensor:
    """Turn scores into weights along ``dim`` (the key axis), honouring ``allowed``.

    Args:
        scores: float tensor, any shape; ``dim`` is the axis of keys.
        allowed: bool tensor broadcastable to ``scores`` (``True`` = may attend), or None.
        normalize: ``"softmax"``, ``"relu"`` or ``"sigmoid"`` (see the module docstring).
        dim: the key axis (-1 for the ``(..., Lq, Lk)`` layout, -2 for the lecture's
            column form ``(..., Lk, Lq)``).

    Returns:
        weights, same shape as ``scores``; zero for disallowed keys and for queries
        without any allowed key.
    """
    return _weights(scores, allowed, normalize, _Axis(dim))


def normalize_groups(
    scores: torch.Tensor,
    allowed: torch.Tensor | None,
    groups: torch.Tensor,
    num_groups: int,
    normalize: str = "softmax",
) -> torch.Tensor:
    """Turn scores ``(..., E)`` into weights normalised within each group of entries.

    Args:
        scores: float ``(..., E)``.
        allowed: bool broadcastable to ``scores``, or None (``-inf`` scores are never
            allowed either way).
        groups: int64 ``(E,)`` in ``[0, num_groups)``: the query each score belongs to
            (any order; a group may be empty).
        normalize: ``"softmax"``, ``"relu"`` (``n`` = allowed entries of the group) or
            ``"sigmoid"``.

    Returns:
        ``(..., E)`` weights; a group without an allowed entry gets zeros, never NaN.
    """
    return _weights(scores, allowed, normalize, _Groups(groups, num_groups))
