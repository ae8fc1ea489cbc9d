"""Shaw-style relative position representations (Shaw, Uszkoreit and Vaswani 2018).

Each clipped relative distance ``r = clip(j - i, -K, K)`` has two learned vectors, ``a^K_r``
and ``a^V_r`` (shared by the heads of a layer), that enter attention twice:

    e_ij = q_i . (k_j + a^K_{r(i,j)}) * scale        (scores)
    z_i  = sum_j alpha_ij (v_j + a^V_{r(i,j)})        (outputs)

Where it runs, and why. The key term ``q_i . a^K_r`` depends on the query, so it is not
a ``ScoreBias`` (a function of positions only); but it is an additive score, so it is
computed as a dense ``(B, H, Lq, Lk)`` float bias (``q @ A^K`` gathered by relative index,
O(L^2 + L K D)) and handed to ``selfattn.functional.attention`` with
``return_weights=True``, since the value term needs the weights: they are summed per
relative index, ``W^r (B, H, Lq, 2K + 1)``, and ``W^r A^V`` is added to the output.
Any dense kernel can take it. With ``kernel="auto"``: without gradients (inference) the
dispatcher sends it to the fused ``sdpa`` kernel, whose weights come from its log-sum-exp
at the cost of one extra pass; when the tables or q need gradients, ``flash_bias`` runs it
(the flash forward, weights from its log-sum-exp, an exact chunked backward that also
gives the bias its gradient), where that kernel is exact (softmax, float32/64 on CPU) and
there is no dropout; otherwise ``explicit`` does, never ``sdpa``: PyTorch's fused CPU flash
op has no gradient for its mask, so ``sdpa`` would compute the attention twice (F.sdpa's
math path for the output and a softmax for the weights). Kernels that never form dense
weights (sliding windows, graph edges) cannot take this scheme: ``ShawMultiHeadAttention``
accepts only the dense kernels and says so. With attention dropout in training, the output is recomputed
from the dropped-out weights (``w_drop @ v``) so that both terms see the same weights.

``shaw_attention_reference`` is the slow twin: the paper's formulas with the full
``(Lq, Lk, D)`` tensors ``a^K_ij`` and ``a^V_ij`` and a plain masked softmax.

Shapes: ``q (B, H, Lq, D)``, ``k (B, H, Lk, D)``, ``v (B, H, Lk, Dv)``; ``rel_k (2K+1, D)``,
``rel_v (2K+1, Dv)``; positions lower-right aligned (query ``i`` at ``i + Lk - Lq``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..functional import ScoreBias, attention, causal_mask, make_call
from ..functional.bias_grad import flash_bias_unsupported

__all__ = ["relative_index", "shaw_attention", "shaw_attention_reference"]


def relative_index(q_pos: torch.Tensor, k_pos: torch.Tensor, max_distance: int) -> torch.Tensor:
    """``clip(k - q, -K, K) + K``: rows of the ``(2K + 1, .)`` tables, for broadcastable
    integer positions."""
    return (k_pos - q_pos).clamp(-max_distance, max_distance) + max_distance


def _default_positions(lq: int, lk: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(lq, device=device) + (lk - lq), torch.arange(lk, device=device)


def _check_tables(q, v, rel_k, rel_v, max_distance) -> None:
    rows = 2 * max_distance + 1
    for name, t, width, what in (("rel_k", rel_k, q.shape[-1], "head_dim of q"),
                                 ("rel_v", rel_v, v.shape[-1], "head_dim of v")):
        if t.dim() != 2 or tuple(t.shape) != (rows, width):
            raise ValueError(f"{name}: expected shape ({rows}, {width}) (2 * max_distance + 1 "
                             f"rows, the {what}), got {tuple(t.shape)}")


def _trainable_kernel(q, k, v, rel_scores, mask, key_mask, key_lengths, causal, normalize,
                      scale, dropout_p) -> str:
    """The kernel for a key term that needs a gradient: ``flash_bias`` where it is exact,
    else ``explicit`` ("auto" could pick ``sdpa``, whose CPU flash op cannot differentiate
    its mask, so F.sdpa's math path and a softmax for the weights would both run).
    ``flash_bias`` took 0.38 s against explicit's 0.50 s per layer, forward + backward
    (B=2, H=4, L=1024, D=64, K=16, one thread, interleaved)."""
    if dropout_p > 0:
        return "explicit"  # the output is recomputed from the dropped weights: no flash pass
    call = make_call(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                     causal=causal, bias=rel_scores, normalize=normalize, scale=scale,
                     need_weights=True)
    return "flash_bias" if flash_bias_unsupported(call) is None else "explicit"


def shaw_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
    rel_k: torch.Tensor, rel_v: torch.Tensor, max_distance: int, *,
    q_pos: torch.Tensor | None = None, k_pos: torch.Tensor | None = None,
    mask: torch.Tensor | None = None, key_mask: torch.Tensor | None = None,
    key_lengths: torch.Tensor | None = None, causal: bool = False,
    bias: torch.Tensor | ScoreBias | None = None, normalize: str = "softmax",
    dropout_p: float = 0.0, kernel: str = "auto", return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Attention with Shaw's relative keys and values, on a dense kernel (see module doc).

    Args:
        q, k, v, rel_k, rel_v, max_distance: see the module docstring.
        q_pos: int ``(Lq,)`` or ``(B, Lq)`` query positions (default lower-right aligned);
        k_pos: int ``(Lk,)`` or ``(B, Lk)`` key positions (default ``0 .. Lk-1``).
        mask, key_mask, key_lengths, causal, normalize, kernel: as in ``attention``
            (masks: bool, ``True`` = may attend).
        bias: an extra additive bias, a float tensor ``(Lq, Lk)`` / ``(B|1, H|1, Lq, Lk)``
            or a ``ScoreBias``.
        dropout_p: dropout on the weights (both terms use the same dropped weights).
        return_weights: also return the weights ``(B, H, Lq, Lk)`` (before dropout).

    Returns:
        ``(B, H, Lq, Dv)``, and the weights with ``return_weights``.
    """
    b, h, lq, d = q.shape
    lk = k.shape[2]
    _check_tables(q, v, rel_k, rel_v, max_distance)
    dq, dk = _default_positions(lq, lk, q.device)
    q_pos = dq if q_pos is None else q_pos
    k_pos = dk if k_pos is None else k_pos
    # (B|1, 1, Lq, Lk) index into the tables; the heads share them.
    idx = relative_index(q_pos[..., :, None], k_pos[..., None, :], max_distance)
    idx = idx.reshape(-1, 1, lq, lk).expand(b, h, lq, lk)
    scale = 1.0 / math.sqrt(d)
    rel_scores = torch.matmul(q, rel_k.T.to(q.dtype)).gather(-1, idx) * scale
    if isinstance(bias, ScoreBias):
        rel_scores = rel_scores + bias.dense(lq, lk, device=q.device).to(q.dtype)[None]
    elif bias is not None:
        rel_scores = rel_scores + (bias if bias.dim() == 4 else bias[None, None])
    if kernel == "auto" and torch.is_grad_enabled() and rel_scores.requires_grad:
        kernel = _trainable_kernel(q, k, v, rel_scores, mask, key_mask, key_lengths, causal,
                                   normalize, scale, dropout_p)
    out, w = attention(q, k, v, mask=mask, key_mask=key_mask, key_lengths=key_lengths,
                       causal=causal, bias=rel_scores, normalize=normalize, scale=scale,
                       kernel=kernel, return_weights=True)
    wd = w
    if dropout_p > 0:
        wd = F.dropout(w, dropout_p)
        out = torch.matmul(wd, v)
    w_rel = wd.new_zeros(b, h, lq, rel_v.shape[0]).scatter_add(-1, idx, wd)
    out = out + torch.matmul(w_rel, rel_v.to(out.dtype))
    return (out, w) if return_weights else out


def shaw_attention_reference(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
    rel_k: torch.Tensor, rel_v: torch.Tensor, max_distance: int, *,
    q_pos: torch.Tensor | None = None, k_pos: torch.Tensor | None = None,
    mask: torch.Tensor | None = None, key_mask: torch.Tensor | None = None,
    causal: bool = False, bias: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's formulas literally, for testing: ``(out, weights)``; a query with no
    allowed key gets zeros. Same shapes as ``shaw_attention``; ``bias`` a float tensor."""
    b, h, lq, d = q.shape
    lk = k.shape[2]
    dq, dk = _default_positions(lq, lk, q.device)
    q_pos = (dq if q_pos is None else q_pos).expand(b, lq)
    k_pos = (dk if k_pos is None else k_pos).expand(b, lk)
    rows = []
    for s in range(b):
        # a^K_ij = w^K_{clip(j - i, -K, K)}, pair by pair: (Lq, Lk, D).
        r = [[min(max(kp - qp, -max_distance), max_distance) + max_distance
              for kp in k_pos[s].tolist()] for qp in q_pos[s].tolist()]
        a_k = torch.stack([torch.stack([rel_k[c] for c in row]) for row in r])
        a_v = torch.stack([torch.stack([rel_v[c] for c in row]) for row in r])
        e = (torch.einsum("hid,hjd->hij", q[s], k[s])
             + torch.einsum("hid,ijd->hij", q[s], a_k)) / math.sqrt(d)
        if bias is not None:
            e = e + (bias if bias.dim() == 2 else bias[min(s, bias.shape[0] - 1)])
        allowed = torch.ones(h, lq, lk, dtype=torch.bool, device=q.device)
        if mask is not None:
            allowed = allowed & (mask if mask.dim() == 2 else mask[min(s, mask.shape[0] - 1)])
        if causal:
            allowed = allowed & causal_mask(lq, lk, q.device)
        if key_mask is not None:
            allowed = allowed & key_mask[s][None, None, :]
        has_key = allowed.any(-1, keepdim=True)
        # Rows without keys softmax finite zeros (no NaN, forward or backward), then drop.
        e = torch.where(allowed, e, torch.where(has_key, float("-inf"), 0.0))
        w = torch.where(has_key & allowed, torch.softmax(e, dim=-1), 0.0)
        z = w @ v[s] + torch.einsum("hij,ijd->hid", w, a_v)
        rows.append((z, w))
    return torch.stack([z for z, _ in rows]), torch.stack([w for _, w in rows])

