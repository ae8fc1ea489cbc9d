"""Graph attention: scores along the edges, a segment softmax over each node's incoming edges.

For every edge ``e = (j -> i)`` (PyG ``edge_index``: row 0 sources, row 1 targets) the score
is ``s_e = q_i . k_j * scale (+ bias_e)``; node ``i``'s weights are the normalisation of the
scores of its incoming edges (a *segment* softmax, or relu / sigmoid by its in-degree),
and its output is ``o_i = sum_e w_e v_j``. A node without incoming edges gets zeros. The
normalisation is ``functional.normalize.normalize_groups`` (groups = targets), the one the
tile engine uses as well.
Time and memory are O(E * D) and O(E * H): scores and sums are sparse products on the CSR
form of the graph (``csr.py``), never an ``(E, D)`` gather.

Packed batches of graphs (PyG ``Batch``) need nothing special: their edges never cross
graphs. ``graph_attention`` takes node features ``(N, H, D)``; ``attention(...,
pattern=GraphPattern(...))`` takes ``(B, H, N, D)`` (the same graph for each batch entry).

Dot-product softmax attention runs in one autograd Function (the softmax backward fused
into the sparse products); other scores, normalisations, dropout and weights run through
autograd on the same primitives. Half precision runs in float32 (``run_graph``).
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

import torch
import torch.nn.functional as F

from ..._checks import (
    check_dtype,
    check_finite_positive,
    check_ndim,
    check_same_device,
    check_same_dtype,
    check_tensor,
)
from ...patterns.graph import GraphPattern
from ..bias import ScoreBias
from ..call import AttentionCall
from ..normalize import check_normalize, normalize_groups
from ..precision import HALF
from .csr import CSR, _sddmm, _spmm, sddmm, spmm

__all__ = ["edge_kernel", "graph_attention", "graph_csr", "has_edge_plan", "plan_edges", "segment_softmax"]

_NEG_INF = float("-inf")


def graph_csr(pattern: GraphPattern, device: torch.device | None = None) -> tuple[CSR, torch.Tensor]:
    """The pattern's CSR structure on ``device`` and ``order`` (CSR slot -> edge)."""
    crow, col, order, crow_t, col_t, order_t = pattern.csr(device)
    rows = torch.repeat_interleave(torch.arange(pattern.num_targets, device=crow.device),
                                   crow[1:] - crow[:-1], output_size=int(col.shape[0]))
    return CSR(crow, col, crow_t, col_t, order_t, rows, pattern.num_targets, pattern.num_sources), order


@singledispatch
def plan_edges(pattern: object, lq: int, lk: int, device: torch.device) -> CSR:
    """The edges that compute ``pattern`` on ``Lq`` targets and ``Lk`` sources, as CSR (one
    registration per pattern type: ``@plan_edges.register``)."""
    raise TypeError(f"pattern: no edge planner for {type(pattern).__name__}")


def has_edge_plan(pattern: object) -> bool:
    return plan_edges.dispatch(type(pattern)) is not plan_edges.dispatch(object)


@plan_edges.register
def _plan(pattern: GraphPattern, lq: int, lk: int, device: torch.device) -> CSR:
    pattern.check_lengths(lq, lk)
    return graph_csr(pattern, device)[0]


def segment_softmax(scores: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Softmax of ``scores (E, *)`` within each segment of ``index (E,)`` (any order): the
    weights of the edges into one node sum to 1. ``-inf`` scores get weight 0; a segment
    with no finite score gets zeros, never NaN."""
    check_tensor("scores", scores)
    check_ndim("index", index, 1, "(num_edges,)")
    check_dtype("index", index, "integer")
    if index.shape[0] != scores.shape[0]:
        raise ValueError(f"index: expected {scores.shape[0]} entries (one per score), got {index.shape[0]}")
    w = normalize_groups(scores.movedim(0, -1), None, index, num_segments, "softmax")
    return w.movedim(-1, 0)


class _GraphSoftmax(torch.autograd.Function):
    """Dot-product softmax attention along the edges; backward ``ds = w (dw - delta)``."""

    @staticmethod
    def forward(ctx, q, k, v, csr, allowed, bias, scale):  # type: ignore[override]
        s = _sddmm(csr, q, k).mul_(scale)
        if bias is not None:
            s = s + bias
        w = normalize_groups(s, allowed, csr.rows, csr.num_targets, "softmax")
        out = _spmm(csr, w, v)
        ctx.save_for_backward(q, k, v, w, out)
        ctx.csr, ctx.scale = csr, scale
        return out

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        q, k, v, w, out = ctx.saved_tensors
        csr = ctx.csr
        g = g.contiguous()
        dv = _spmm(csr, w, g, transposed=True)
        dw = _sddmm(csr, g, v)
        delta = (g * out).sum(-1)  # (H, Nt): sum_e w_e dw_e per target
        ds = w * (dw - delta[:, csr.rows])
        ds.mul_(ctx.scale)
        dq = _spmm(csr, ds, k)
        dk = _spmm(csr, ds, q, transposed=True)
        return dq, dk, dv, None, None, None, None


def _edge_scores(score: Any, q: torch.Tensor, k: torch.Tensor, csr: CSR, b: int) -> torch.Tensor:
    """``(B*H, N, D)`` -> per-edge scores ``(B*H, E)`` (a callable sees edges as its batch)."""
    if score == "dot":
        return sddmm(csr, q, k)
    h = q.shape[0] // b
    qe = q.view(b, h, *q.shape[1:])[:, :, csr.rows].permute(0, 2, 1, 3)  # (B, E, H, D)
    ke = k.view(b, h, *k.shape[1:])[:, :, csr.col].permute(0, 2, 1, 3)
    e = csr.num_edges
    s = score(qe.reshape(b * e, h, 1, qe.shape[-1]), ke.reshape(b * e, h, 1, ke.shape[-1]))  # (B*E, H, 1, 1)
    return s.reshape(b, e, h).permute(0, 2, 1).reshape(b * h, e)


def run_graph(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, csr: CSR, *,
              allowed: torch.Tensor | None = None, bias: torch.Tensor | None = None,
              score: Any = "dot", normalize: str = "softmax", scale: float = 1.0,
              dropout_p: float = 0.0, need_weights: bool = False
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``q (B, H, Nt, D)``, ``k (B, H, Ns, D)``, ``v (B, H, Ns, Dv)``; per-edge ``allowed``
    (bool) and ``bias`` (float) broadcastable to ``(B, H, E)`` in CSR order. Returns
    ``(B, H, Nt, Dv)`` and, with ``need_weights``, ``(B, H, E)`` weights in CSR order.
    Half inputs run in float32 (PyTorch's sparse CSR products have no half kernels) and the
    results come back in their dtype."""
    if q.dtype in HALF:
        out, w = run_graph(q.float(), k.float(), v.float(), csr, allowed=allowed,
                           bias=None if bias is None else bias.float(), score=score,
                           normalize=normalize, scale=scale, dropout_p=dropout_p,
                           need_weights=need_weights)
        return out.to(q.dtype), (None if w is None else w.to(q.dtype))
    b, h, nt, _ = q.shape
    dv = v.shape[-1]
    qf, kf, vf = (x.reshape(b * h, *x.shape[2:]).contiguous() for x in (q, k, v))

    def flat(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        if t.shape[0] == 1 and t.shape[1] == 1:
            return t[0]
        return t.expand(b, h, t.shape[-1]).reshape(b * h, -1)

    allowed_f, bias_f = flat(allowed), flat(bias)
    fused = (score == "dot" and normalize == "softmax" and dropout_p == 0.0 and not need_weights
             and (bias_f is None or not bias_f.requires_grad))
    if fused:
        out = _GraphSoftmax.apply(qf, kf, vf, csr, allowed_f, bias_f, scale)
        return out.view(b, h, nt, dv), None
    s = _edge_scores(score, qf, kf, csr, b) * scale
    if bias_f is not None:
        s = s + bias_f
    w = normalize_groups(s, allowed_f, csr.rows, csr.num_targets, normalize)
    wd = F.dropout(w, dropout_p) if dropout_p > 0 else w
    out = spmm(csr, wd, vf).view(b, h, nt, dv)
    return out, (w.view(b, h, -1) if need_weights else None)


def _edge_terms(call: AttentionCall, csr: CSR) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The call's masks and bias at the edges: ``(B|1, H|1, E)`` each (or None)."""
    _, _, lq, lk = call.shape
    tgt, src = csr.rows, csr.col
    allowed = None
    if call.causal:
        allowed = (src <= tgt + (lk - lq))[None, None]
    if call.key_mask is not None:
        km = call.key_mask[:, src][:, None]
        allowed = km if allowed is None else allowed & km
    if call.mask is not None:
        m4 = call.mask if call.mask.dim() == 4 else call.mask[None, None]
        mm = m4[:, :, tgt, src]
        allowed = mm if allowed is None else allowed & mm
    bias = None
    if isinstance(call.bias, ScoreBias):
        bias = call.bias.pairwise(tgt + (lk - lq), src).to(call.q.dtype)[None]
    elif call.bias is not None:
        b4 = call.bias if call.bias.dim() == 4 else call.bias[None, None]
        bias = b4[:, :, tgt, src]
    if bias is not None and bool(torch.isneginf(bias).any()):
        finite = bias > _NEG_INF
        allowed = finite if allowed is None else allowed & finite
        bias = bias.masked_fill(~finite, 0.0)
    return allowed, bias


def edge_kernel(call: AttentionCall) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``Kernel.run`` of the edge kernel: the pattern's edges (``plan_edges``), scored and
    normalised per target; weights are dense."""
    b, h, lq, lk = call.shape
    csr = plan_edges(call.pattern, lq, lk, call.q.device)
    allowed, bias = _edge_terms(call, csr)
    out, w = run_graph(call.q, call.k, call.v, csr, allowed=allowed, bias=bias, score=call.score,
                       normalize=call.normalize, scale=call.scale, dropout_p=call.dropout_p,
                       need_weights=call.need_weights)
    if w is None:
        return out, None
    dense = w.new_zeros(b, h, lq * lk).index_add(2, csr.rows * lk + csr.col, w)
    return out, dense.view(b, h, lq, lk)


def graph_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    edge_index: torch.Tensor | GraphPattern,
    *,
    bias: torch.Tensor | ScoreBias | None = None,
    score: Any = "dot",
    normalize: str = "softmax",
    scale: float | None = None,
    dropout_p: float = 0.0,
    duplicates: str = "error",
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Each node attends over its incoming edges (PyG convention: ``edge_index[0]`` sources,
    ``edge_index[1]`` targets; node ``i`` attends over ``{j : (j, i) in edges}``).

    Args:
        q: ``(Nt, H, D)`` target-node queries. k: ``(Ns, H, D)``, v: ``(Ns, H, Dv)``
            source-node keys and values (``Ns == Nt`` for an ordinary graph; a packed
            batch of graphs is one graph with offset indices).
        edge_index: int64 ``(2, E)``, or a prebuilt ``GraphPattern`` (reuses its CSR).
        bias: per-edge float ``(E,)`` or ``(E, H|1)`` (in the pattern's edge order), or a
            ``ScoreBias`` of node indices; ``-inf`` masks an edge.
        score: ``"dot"`` or a pairwise callable ``(q, k) -> (B, H, Lq, Lk)`` (called with
            the edges as its batch). normalize, scale, dropout_p: as in ``attention``.
        duplicates: for a raw ``edge_index``: ``"error"`` or ``"merge"`` (see GraphPattern).
        return_weights: also return the weights ``(E, H)``, one row per edge of the
            pattern's ``edge_index`` (the input order, duplicates merged).

    Returns:
        ``(Nt, H, Dv)`` (zeros for nodes without incoming edges), and the weights if asked.
    """
    check_ndim("q", q, 3, "(num_target_nodes, heads, head_dim)")
    check_ndim("k", k, 3, "(num_source_nodes, heads, head_dim)")
    check_ndim("v", v, 3, "(num_source_nodes, heads, value_dim)")
    check_dtype("q", q, "float")
    check_same_dtype(q=q, k=k, v=v)
    check_same_device(q=q, k=k, v=v)
    nt, h, d = q.shape
    ns = k.shape[0]
    for name, t in (("k", k), ("v", v)):
        if t.shape[1] != h:
            raise ValueError(f"{name}: expected {h} heads (from q) on axis 1, got shape {tuple(t.shape)}")
    if v.shape[0] != ns:
        raise ValueError(f"v: expected {ns} rows (as k), got shape {tuple(v.shape)}")
    if score == "dot" and k.shape[2] != d:
        raise ValueError(f"k: expected head_dim {d} (from q) for dot-product scores, "
                         f"got shape {tuple(k.shape)}")
    if score != "dot" and not callable(score):
        raise ValueError(f"score: expected 'dot' or a callable (q, k) -> scores, got {score!r}")
    check_normalize(normalize)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p: expected a probability in [0, 1), got {dropout_p}")
    if isinstance(edge_index, GraphPattern):
        pattern = edge_index
        if (pattern.num_sources, pattern.num_targets) != (ns, nt):
            raise ValueError(f"edge_index: the GraphPattern has {pattern.num_sources} sources and "
                             f"{pattern.num_targets} targets, but k has {ns} rows and q has {nt}")
    else:
        pattern = GraphPattern(edge_index, num_nodes=(ns, nt), duplicates=duplicates)
    check_same_device(q=q, edge_index=pattern.edge_index)
    csr, order = graph_csr(pattern, q.device)
    e = csr.num_edges
    scale = (d ** -0.5 if score == "dot" else 1.0) if scale is None else check_finite_positive("scale", scale)
    edge_bias = None
    if isinstance(bias, ScoreBias):
        edge_bias = bias.pairwise(csr.rows + (ns - nt), csr.col).to(q.dtype)[None]
    elif bias is not None:
        check_tensor("bias", bias)
        check_dtype("bias", bias, "float")
        bb = bias[:, None] if bias.dim() == 1 else bias
        if bb.dim() != 2 or bb.shape[0] != e or bb.shape[1] not in (1, h):
            raise ValueError(f"bias: expected a per-edge tensor of shape ({e},) or ({e}, {h}|1), "
                             f"got {tuple(bias.shape)}")
        edge_bias = bb[order].T[None]  # (1, H|1, E) in CSR order
    allowed = None
    if edge_bias is not None and bool(torch.isneginf(edge_bias).any()):
        allowed = edge_bias > _NEG_INF
        edge_bias = edge_bias.masked_fill(~allowed, 0.0)
    out, w = run_graph(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None], csr,
                       allowed=allowed, bias=edge_bias, score=score, normalize=normalize,
                       scale=float(scale), dropout_p=dropout_p, need_weights=return_weights)
    out = out[0].transpose(0, 1)
    if not return_weights:
        return out
    assert w is not None
    weights = w.new_zeros(h, e).index_copy(1, order, w[0])
    return out, weights.T
