"""Graph attention equals the oracle and its per-node loop twin, outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sparse_helpers import F64, assert_close, check_vs_reference, grads, option_sets, qkv, via_attention

from selfattn.functional import choose_kernel
from selfattn.functional.sparse import (
    graph_attention,
    pattern_varlen_attention,
    segment_softmax,
    sparse_attention,
)
from selfattn.patterns import GraphPattern
from selfattn.varlen import lengths_to_offsets

OPTIONS = sorted(option_sets(1, 2, 1, 1, 1, 0))


@st.composite
def graphs(draw: st.DrawFn, n_max: int = 25) -> tuple[GraphPattern, int]:
    n = draw(st.integers(0, n_max))
    e = draw(st.integers(0, 4 * n)) if n else 0
    seed = draw(st.integers(0, 2**16))
    ei = torch.randint(0, max(n, 1), (2, e), generator=torch.Generator().manual_seed(seed))
    if n and draw(st.booleans()):  # self-loops on some nodes
        loops = torch.arange(0, n, 2)
        ei = torch.cat([ei, torch.stack([loops, loops])], 1)
    return GraphPattern(ei, n, duplicates="merge"), n


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=graphs(), b=st.integers(1, 2), h=st.integers(1, 2), d=st.integers(1, 4),
       option=st.sampled_from(OPTIONS), weights=st.booleans(), seed=st.integers(0, 2**16))
def test_graph_kernel_matches_reference(graph, b, h, d, option, weights, seed):
    pattern, n = graph
    q, k, v = qkv(b, h, n, n, d, seed)
    options = option_sets(h, d, n, n, b, seed)[option]
    check_vs_reference(sparse_attention, q, k, v, pattern, options, seed, weights=weights)


def loop_graph_attention(q, k, v, edge_index, bias, normalize="softmax"):
    """The slow twin: node by node, a normalisation over its incoming edges."""
    nt, h, d = q.shape
    out = []
    for i in range(nt):
        inc = torch.nonzero(edge_index[1] == i)[:, 0]
        if inc.numel() == 0:
            out.append(q.new_zeros(h, v.shape[-1]))
            continue
        src = edge_index[0, inc]
        s = (q[i][None] * k[src]).sum(-1) / d**0.5 + bias[inc]  # (deg, H)
        if normalize == "softmax":
            w = torch.softmax(s, 0)
        else:
            w = torch.relu(s) / inc.numel()
        out.append((w[..., None] * v[src]).sum(0))
    anchor = 0 * (q.sum() + k.sum() + v.sum() + bias.sum())  # empty graphs still have gradients
    return (torch.stack(out) if out else q.new_zeros(0, h, v.shape[-1])) + anchor


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nt=st.integers(0, 15), ns=st.integers(1, 15), e=st.integers(0, 50),
       normalize=st.sampled_from(["softmax", "relu"]), seed=st.integers(0, 2**16))
def test_graph_attention_matches_its_loop_twin_on_bipartite_graphs(nt, ns, e, normalize, seed):
    g = torch.Generator().manual_seed(seed)
    e = e if nt else 0
    ei = torch.stack([torch.randint(0, ns, (e,), generator=g), torch.randint(0, max(nt, 1), (e,), generator=g)])
    pattern = GraphPattern(ei, (ns, nt), duplicates="merge")
    h, d = 2, 3
    q = torch.randn(nt, h, d, generator=g, dtype=F64, requires_grad=True)
    k = torch.randn(ns, h, d, generator=g, dtype=F64, requires_grad=True)
    v = torch.randn(ns, h, 4, generator=g, dtype=F64, requires_grad=True)
    bias = torch.randn(pattern.num_edges, h, generator=g, dtype=F64, requires_grad=True)
    out, w = graph_attention(q, k, v, pattern, bias=bias, normalize=normalize, return_weights=True)
    fast = graph_attention(q, k, v, pattern, bias=bias, normalize=normalize)  # fused path
    ref = loop_graph_attention(q, k, v, pattern.edge_index, bias, normalize)
    assert w.shape == (pattern.num_edges, h)
    assert_close(out, ref, "output")
    assert_close(fast, ref, "fused output")
    for a, f, r in zip(grads(out, [q, k, v, bias], seed), grads(fast, [q, k, v, bias], seed),
                       grads(ref, [q, k, v, bias], seed), strict=True):
        assert_close(a, r, "gradient")
        assert_close(f, r, "fused gradient")
    if normalize == "softmax" and pattern.num_edges:
        per_target = torch.zeros(nt, h, dtype=F64).index_add(0, pattern.edge_index[1], w)
        has = torch.bincount(pattern.edge_index[1], minlength=nt) > 0
        assert_close(per_target[has], torch.ones_like(per_target[has]), "weights sum to 1")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e=st.integers(0, 40), n=st.integers(1, 10), seed=st.integers(0, 2**16))
def test_segment_softmax_matches_a_loop(e, n, seed):
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(0, n, (e,), generator=g)
    s = torch.randn(e, 3, generator=g, dtype=F64)
    s[torch.rand(e, generator=g) < 0.2] = float("-inf")
    w = segment_softmax(s, index, n)
    expect = torch.zeros_like(s)
    for i in range(n):
        sel = index == i
        for c in range(3):
            col = s[sel, c]
            if torch.isfinite(col).any():
                expect[sel, c] = torch.softmax(col, 0)
    assert_close(w, expect, "segment softmax")


def test_isolated_nodes_get_zeros_and_finite_gradients():
    ei = torch.tensor([[0, 1, 3], [1, 1, 0]])  # node 2 and 3 receive nothing
    q, k, v = (x[0].transpose(0, 1).detach().requires_grad_() for x in qkv(1, 2, 4, 4, 3, 0))
    out = graph_attention(q, k, v, ei)
    assert (out[2:] == 0).all()
    assert all(torch.isfinite(g).all() for g in grads(out, [q, k, v], 0))
    empty = graph_attention(q, k, v, torch.zeros(2, 0, dtype=torch.long))
    assert (empty == 0).all() and empty.shape == (4, 2, 3)


def test_packed_batch_of_graphs():
    lengths = [3, 0, 4]
    offsets = lengths_to_offsets(torch.tensor(lengths))
    ei = torch.tensor([[0, 1, 2, 3, 4, 6], [1, 2, 0, 4, 5, 3]])  # edges inside each graph
    q, k, v = (x[0].transpose(0, 1).detach().requires_grad_() for x in qkv(1, 2, 7, 7, 3, 1))
    out = pattern_varlen_attention(q, k, v, offsets, GraphPattern(ei, 7))
    assert_close(out, graph_attention(q, k, v, ei), "packed graphs = one graph")
    with pytest.raises(ValueError, match="joins two different sets"):
        pattern_varlen_attention(q, k, v, offsets, GraphPattern(torch.tensor([[0], [5]]), 7))


def test_dispatch_and_auto_exactness():
    n = 260
    ei = torch.randint(0, n, (2, 1000), generator=torch.Generator().manual_seed(0))
    pattern = GraphPattern(ei, n, duplicates="merge")
    x = torch.zeros(1, 1, n, 4)
    assert choose_kernel(x, x, x, pattern=pattern).name == "graph"
    small = GraphPattern(torch.tensor([[0], [1]]), 20)
    y = torch.zeros(1, 1, 20, 4)
    assert "crossover" in choose_kernel(y, y, y, pattern=small).passed_over["graph"]
    q, k, v = qkv(1, 2, n, n, 3, 0)
    check_vs_reference(via_attention, q, k, v, pattern, {"normalize": "sigmoid"}, 0)


def test_graph_attention_rejects_bad_input():
    q = torch.zeros(4, 2, 3)
    ei = torch.tensor([[0, 1], [1, 2]])
    with pytest.raises(ValueError, match=r"source nodes \(row 0\) in \[0, 4\), got 9"):
        graph_attention(q, q, q, torch.tensor([[9], [0]]))
    with pytest.raises(TypeError, match="int64"):
        graph_attention(q, q, q, ei.int())
    with pytest.raises(ValueError, match="3-D"):
        graph_attention(q[0], q, q, ei)
    with pytest.raises(ValueError, match="heads"):
        graph_attention(q, torch.zeros(4, 3, 3), q, ei)
    with pytest.raises(ValueError, match=r"bias: expected a per-edge tensor of shape \(2,\)"):
        graph_attention(q, q, q, ei, bias=torch.zeros(3))
    with pytest.raises(ValueError, match="GraphPattern has 5 sources"):
        graph_attention(q, q, q, GraphPattern(ei, 5))
    x = torch.zeros(1, 2, 5, 3)
    with pytest.raises(ValueError, match=r"needs Lq = 4"):
        sparse_attention(x, x, x, GraphPattern(ei, 4))


def test_a_transformerconv_layer_on_our_kernel_equals_pyg():
    """With PyG's weights copied in, projections + graph_attention + skip = TransformerConv."""
    pyg = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(0)
    n, h, d = 30, 2, 4
    conv = pyg.TransformerConv(h * d, d, heads=h).double()
    x = torch.randn(n, h * d, dtype=F64)
    ei = torch.randint(0, n, (2, 120), generator=torch.Generator().manual_seed(0))
    pattern = GraphPattern(ei, n, duplicates="merge")
    q, k, v = (lin(x).view(n, h, d) for lin in (conv.lin_query, conv.lin_key, conv.lin_value))
    ours = graph_attention(q, k, v, pattern).reshape(n, h * d) + conv.lin_skip(x)
    assert_close(ours, conv(x, pattern.edge_index), "TransformerConv output")
