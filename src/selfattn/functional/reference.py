"""The lecture's matrix form of self-attention, literally: the oracle of every kernel.

Slides 21-25 write the inputs as columns, ``I = [a_1 ... a_N]``, and compute

    Q = Wq I,  K = Wk I,  V = Wv I       (one column per vector)
    A = K^T Q                            (A[j, i] = k_j . q_i: key j's score for query i)
    A' = softmax(A), column by column    (each query's scores over the keys)
    O = V A'                             (o_i = sum_j A'[j, i] v_j)

``reference_self_attention`` is exactly that, for one set of vectors. ``reference_attention``
does the same from already-projected batch-first ``q, k, v`` (the layout of every other
kernel): it transposes them into the column form, applies the masks, bias and
normalisation column by column, and transposes back. It is kept obvious, not fast; the
tests compare every fast kernel with it in float64.
"""

from __future__ import annotations

from typing import Any

import torch

from .bias import ScoreBias
from .call import make_call
from .normalize import check_normalize

__all__ = ["reference_attention", "reference_self_attention"]


def _normalize_columns(A: torch.Tensor, allowed: torch.Tensor, normalize: str) -> torch.Tensor:
    """A' from A, one column (one query) at a time, over that column's allowed keys.

    Written independently of ``normalize_scores`` (which the fast kernels use) so that the
    two check each other. A column with no allowed key is all zero.
    """
    check_normalize(normalize)
    allowed = allowed & (float("-inf") < A)
    columns = []
    for i in range(A.shape[-1]):
        a, sel = A[..., i], allowed[..., i]  # (..., Lk)
        n = sel.sum(-1, keepdim=True)
        if normalize == "softmax":
            # Columns without keys softmax their raw (finite) scores and are then zeroed.
            fill = torch.where(n > 0, float("-inf"), 0.0).to(a.dtype).expand_as(a)
            w = torch.softmax(torch.where(sel, a, fill), dim=-1)
        elif normalize == "relu":
            w = torch.relu(torch.where(sel, a, 0.0)) / n.clamp_min(1)
        else:
            w = torch.sigmoid(torch.where(sel, a, 0.0) - torch.log(n.clamp_min(1).to(a.dtype)))
        columns.append(torch.where(sel & (n > 0), w, 0.0))
    if not columns:
        return torch.zeros_like(A)
    return torch.stack(columns, dim=-1)


def reference_self_attention(
    I: torch.Tensor,
    Wq: torch.Tensor,
    Wk: torch.Tensor,
    Wv: torch.Tensor,
    normalize: str = "softmax",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One head of self-attention on one set, in the lecture's notation.

    Args:
        I: ``(d_in, N)``: the N input vectors as columns.
        Wq, Wk: ``(d_k, d_in)``; Wv: ``(d_v, d_in)``.
        normalize: see ``selfattn.functional.normalize``.

    Returns:
        ``(O, A_prime)``: ``O`` is ``(d_v, N)`` (column i is b_i) and ``A_prime`` is
        ``(N, N)`` with ``A_prime[j, i]`` = alpha'_{i,j}, the weight of key j for query i.
        Note: no 1/sqrt(d_k) scaling here, exactly as on the slides.
    """
    Q = Wq @ I
    K = Wk @ I
    V = Wv @ I
    A = K.T @ Q
    A_prime = _normalize_columns(A, torch.ones_like(A, dtype=torch.bool), normalize)
    O = V @ A_prime
    return O, A_prime


def reference_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
    key_lengths: torch.Tensor | None = None,
    causal: bool = False,
    bias: torch.Tensor | ScoreBias | None = None,
    score: Any = "dot",
    normalize: str = "softmax",
    scale: float | None = None,
    pattern: Any = None,
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention computed in the lecture's column form; same arguments as ``attention``.

    Shapes: ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H, Lk, Dv)``; returns
    ``(B, H, Lq, Dv)`` and, with ``return_weights``, weights ``(B, H, Lq, Lk)``.
    Masks: ``True`` = may attend. No dropout (the oracle is deterministic). Half-precision
    inputs are computed in float32 and the results returned in their dtype.
    """
    call = make_call(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                     causal=causal, bias=bias, score=score, normalize=normalize,
                     scale=scale, pattern=pattern)
    if q.dtype in (torch.float16, torch.bfloat16):
        # Half precision: computed in float32 (as every kernel), returned in the input dtype.
        res = reference_attention(
            q.float(), k.float(), v.float(), mask=mask, key_mask=call.key_mask, causal=causal,
            bias=bias.float() if isinstance(bias, torch.Tensor) else bias, score=score,
            normalize=normalize, scale=call.scale, pattern=pattern, return_weights=True)
        out, w = res[0].to(q.dtype), res[1].to(q.dtype)
        return (out, w) if return_weights else out
    B, H, Lq, Lk = call.shape
    # Columns: Q is (B, H, D, Lq), K is (B, H, D, Lk), V is (B, H, Dv, Lk).
    Q = q.transpose(-1, -2)
    K = k.transpose(-1, -2)
    V = v.transpose(-1, -2)
    if score == "dot":
        A = K.transpose(-1, -2) @ Q  # (B, H, Lk, Lq): A[j, i] = k_j . q_i
    elif hasattr(score, "column_scores"):
        A = score.column_scores(Q, K)
    else:
        A = score(q, k).transpose(-1, -2)
    A = A * call.scale

    # allowed[b, h, j, i]: may query i attend to key j? Built pair by pair from each rule.
    allowed = torch.ones(B, H, Lk, Lq, dtype=torch.bool, device=q.device)
    j = torch.arange(Lk, device=q.device)[:, None]
    i = torch.arange(Lq, device=q.device)[None, :]
    if mask is not None:
        m = mask if mask.dim() == 4 else mask[None, None]
        allowed = allowed & m.transpose(-1, -2)
    if causal:
        allowed = allowed & (j <= i + (Lk - Lq))
    if call.key_mask is not None:
        allowed = allowed & call.key_mask[:, None, :, None]
    if pattern is not None:
        pm = pattern.dense_mask(Lq, Lk, device=q.device)
        allowed = allowed & (pm if pm.dim() == 4 else pm[None, None]).transpose(-1, -2)

    if isinstance(bias, ScoreBias):
        q_pos = torch.arange(Lq, device=q.device) + (Lk - Lq)
        k_pos = torch.arange(Lk, device=q.device)
        A = A + bias.pairwise(q_pos[None, :], k_pos[:, None]).to(A.dtype)[None]
    elif bias is not None:
        A = A + (bias if bias.dim() == 4 else bias[None, None]).transpose(-1, -2)

    A_prime = _normalize_columns(A, allowed, normalize)
    O = V @ A_prime  # (B, H, Dv, Lq)
    out = O.transpose(-1, -2)
    if return_weights:
        return out, A_prime.transpose(-1, -2)
    return out
