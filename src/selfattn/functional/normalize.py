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
"""

from __future__ import annotations

import torch

NORMALIZATIONS = ("softmax", "relu", "sigmoid")

__all__ = ["NORMALIZATIONS", "check_normalize", "normalize_scores"]


def check_normalize(normalize: str) -> None:
    if normalize not in NORMALIZATIONS:
        raise ValueError(
            f"normalize: expected one of {', '.join(repr(n) for n in NORMALIZATIONS)}, "
            f"got {normalize!r}"
        )


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
    check_normalize(normalize)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    finite = scores > float("-inf")
    count = finite.sum(dim, keepdim=True)
    has_key = count > 0
    if normalize == "softmax":
        # Shifting by the (detached) row maximum leaves the softmax and its gradient
        # unchanged; rows with no allowed key shift by 0 so exp(-inf) = 0, not NaN.
        top = scores.detach().amax(dim, keepdim=True) if scores.shape[dim] else count.to(scores)
        top = torch.where(has_key, top, torch.zeros_like(top))
        e = torch.exp(scores - top)
        denom = e.sum(dim, keepdim=True)
        return e / torch.where(has_key, denom, torch.ones_like(denom))
    n = count.clamp_min(1).to(scores.dtype)
    safe = torch.where(finite, scores, torch.zeros_like(scores))
    w = torch.relu(safe) / n if normalize == "relu" else torch.sigmoid(safe - torch.log(n))
    return torch.where(finite, w, torch.zeros_like(w))

