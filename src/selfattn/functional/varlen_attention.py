"""Attention on the packed form: every set attends only within itself, without paying for padding.

Packed input holds all vectors of all sets concatenated, ``(N, H, D)``, with ``offsets``
``(B + 1,)`` marking where each set starts (see ``selfattn.varlen``). Attention is
block-diagonal: set ``b``'s queries see only set ``b``'s keys.

Padding the whole batch to its longest set wastes work quadratically (64 sets with
lengths uniform in 16..512 spend ~3x the needed attention work on padding), and calling
a kernel once per set wastes it on per-call overhead when sets are many and short. This
kernel sorts the sets by length and groups neighbours while the padding a group adds
stays under ``max_waste`` of its work. By default (``max_waste=0``) only sets of equal
length share a call, which then needs neither padding nor a mask (a ``cat`` and a
``view``); a set whose length no other set shares runs alone on a view of the input.
Measured on 2 cores (``benchmarks/core_varlen.py`` and the README): padding groups to
within 15% or 30% was slower than this for 64 sets of 16..512, 200 of 64..160 and 1,000
of 10..40 vectors: the fused kernel's per-call overhead is small next to padded work.
Inputs are cut with ``split`` and outputs joined with ``cat`` (never per-set slicing), so
backward is one pass over each tensor however many sets there are.
"""

from __future__ import annotations

from typing import Any

import torch

from .._checks import check_ndim, check_same_device, check_same_dtype
from ..varlen import check_offsets, lengths_to_offsets, pad
from .bias import ScoreBias
from .dispatch import attention

__all__ = ["group_by_length", "varlen_attention"]


def group_by_length(lengths: list[int], max_waste: float = 0.0) -> list[list[int]]:
    """Indices of sets grouped so that padding each group to its longest set wastes at
    most ``max_waste`` of the group's (quadratic) attention work. Longest groups first."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups: list[list[int]] = []
    group: list[int] = []
    useful = 0
    for i in order:
        n = lengths[i]
        if group:
            top = lengths[group[0]]
            new_useful = useful + n * n
            if 1.0 - new_useful / ((len(group) + 1) * top * top) <= max_waste:
                group.append(i)
                useful = new_useful
                continue
            groups.append(group)
        group, useful = [i], n * n
    if group:
        groups.append(group)
    return groups


def _stack(pieces: list[torch.Tensor], g: int, n: int) -> torch.Tensor:
    """``g`` pieces ``(n, H, D)`` of equal length -> ``(g, H, n, D)`` (a view for one piece)."""
    x = pieces[0][None] if g == 1 else torch.cat(pieces).view(g, n, *pieces[0].shape[1:])
    return x.transpose(1, 2)


def _pad_group(pieces: list[torch.Tensor]) -> torch.Tensor:
    """``[(n_g, H, D)]`` -> ``(G, H, max n_g, D)``, zero-padded, in one differentiable copy."""
    lengths = torch.tensor([p.shape[0] for p in pieces], device=pieces[0].device)
    padded, _ = pad(torch.cat(pieces), lengths_to_offsets(lengths))
    return padded.transpose(1, 2)


def _group_bias(bias: ScoreBias | None, lq: list[int], lk: list[int],
                like: torch.Tensor) -> torch.Tensor | None:
    """``(G, H|1, max lq, max lk)`` bias with each set's own positions (lower-right aligned)."""
    if bias is None:
        return None
    dev = like.device
    shift = torch.tensor([b - a for a, b in zip(lq, lk, strict=True)], device=dev)
    q_pos = torch.arange(max(lq), device=dev)[None, :] + shift[:, None]
    k_pos = torch.arange(max(lk), device=dev)[None, :].expand(len(lq), max(lk))
    dense = bias.pairwise(q_pos[:, :, None], k_pos[:, None, :])
    return dense.to(like.dtype).movedim(0, 1)


def varlen_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    offsets: torch.Tensor,
    key_offsets: torch.Tensor | None = None,
    *,
    causal: bool = False,
    bias: ScoreBias | None = None,
    score: Any = "dot",
    normalize: str = "softmax",
    scale: float | None = None,
    dropout_p: float = 0.0,
    kernel: str = "auto",
    max_waste: float = 0.0,
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
    """Block-diagonal attention over packed sets.

    Args:
        q: ``(Nq, H, D)`` queries of all sets, concatenated. k: ``(Nk, H, D)``;
            v: ``(Nk, H, Dv)``.
        offsets: ``(B + 1,)`` set boundaries of the queries (and of the keys when
            ``key_offsets`` is None, i.e. self-attention).
        key_offsets: ``(B + 1,)`` set boundaries of the keys, for cross-attention.
        causal: within each set, query ``i`` sees keys ``j <= i`` (self-attention only).
        bias: a ``ScoreBias``; positions restart at 0 in every set.
        score, normalize, scale, dropout_p, kernel: as in ``attention``.
        max_waste: the fraction of padded work a length group may add (0 = one call per
            distinct length).
        return_weights: also return one ``(H, n_b, m_b)`` weight tensor per set.

    Returns:
        ``(Nq, H, Dv)`` and, with ``return_weights``, the list of weights.
    """
    check_ndim("q", q, 3, "(total_queries, heads, head_dim)")
    check_ndim("k", k, 3, "(total_keys, heads, head_dim)")
    check_ndim("v", v, 3, "(total_keys, heads, value_dim)")
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v, offsets=offsets, key_offsets=key_offsets)
    self_attention = key_offsets is None
    key_offsets = offsets if key_offsets is None else key_offsets
    check_offsets(offsets, q.shape[0], "offsets")
    check_offsets(key_offsets, k.shape[0], "key_offsets")
    if key_offsets.shape != offsets.shape:
        raise ValueError(f"key_offsets: expected shape {tuple(offsets.shape)} (one entry per "
                         f"set, as offsets), got {tuple(key_offsets.shape)}")
    if v.shape[0] != k.shape[0]:
        raise ValueError(f"v: expected {k.shape[0]} rows (as k), got shape {tuple(v.shape)}")
    if causal and not (self_attention or torch.equal(offsets, key_offsets)):
        raise ValueError("causal: packed causal attention needs the same sets for queries "
                         "and keys (key_offsets=None)")
    if not 0.0 <= max_waste < 1.0:
        raise ValueError(f"max_waste: expected a fraction in [0, 1), got {max_waste}")
    if bias is not None and not isinstance(bias, ScoreBias):
        raise TypeError(f"bias: packed attention takes a ScoreBias (positions restart in "
                        f"every set), got {type(bias).__name__}")

    lq = (offsets[1:] - offsets[:-1]).tolist()
    lk = (key_offsets[1:] - key_offsets[:-1]).tolist()
    h, dv = q.shape[1], v.shape[2]
    # split/cat (not slicing) so that backward is one pass over each tensor, not one per set.
    q_sets, k_sets, v_sets = q.split(lq), k.split(lk), v.split(lk)
    outs: list[torch.Tensor | None] = [None] * len(lq)
    weights: list[torch.Tensor | None] = [None] * len(lq)
    work = [max(a, 1) * max(b, 1) for a, b in zip(lq, lk, strict=True)]
    for sets in group_by_length([round(w**0.5) for w in work], max_waste):
        if max(lq[s] for s in sets) == 0:
            for s in sets:
                outs[s] = q.new_zeros(0, h, dv)
                weights[s] = q.new_zeros(h, 0, lk[s])
            continue
        if len({lq[s] for s in sets}) == 1 and len({lk[s] for s in sets}) == 1:
            # Equal lengths: stack the sets as a batch, no padding and no mask.
            g, n, m = len(sets), lq[sets[0]], lk[sets[0]]
            qg = _stack([q_sets[s] for s in sets], g, n)
            kg = _stack([k_sets[s] for s in sets], g, m)
            vg = _stack([v_sets[s] for s in sets], g, m)
            key_lengths, dense_bias = None, _group_bias(bias, [n], [m], q)
        else:
            qg = _pad_group([q_sets[s] for s in sets])
            kg = _pad_group([k_sets[s] for s in sets])
            vg = _pad_group([v_sets[s] for s in sets])
            key_lengths = torch.tensor([lk[s] for s in sets], device=q.device)
            dense_bias = _group_bias(bias, [lq[s] for s in sets], [lk[s] for s in sets], q)
        res = attention(qg, kg, vg, key_lengths=key_lengths, causal=causal, bias=dense_bias,
                        score=score, normalize=normalize, scale=scale, dropout_p=dropout_p,
                        kernel=kernel, return_weights=return_weights)
        og, wg = res if return_weights else (res, None)
        og = og.transpose(1, 2)  # (G, Lq_max, H, Dv)
        if key_lengths is None:
            for s, piece in zip(sets, og.unbind(0), strict=True):
                outs[s] = piece
        else:
            valid = torch.arange(og.shape[1], device=q.device) < torch.tensor(
                [lq[s] for s in sets], device=q.device)[:, None]
            for s, piece in zip(sets, og[valid].split([lq[s] for s in sets]), strict=True):
                outs[s] = piece
        if wg is not None:
            for g, s in enumerate(sets):
                weights[s] = wg[g, :, : lq[s], : lk[s]]
    out = torch.cat(outs) if outs else q.new_zeros(0, h, dv)  # type: ignore[arg-type]
    if not out.requires_grad and torch.is_grad_enabled() and (q.requires_grad or v.requires_grad):
        # No set had a query: keep the result on the graph so backward() still works.
        out = out + 0.0 * (q.sum() + k.sum() + v.sum())
    if return_weights:
        return out, weights  # type: ignore[return-value]
    return out
