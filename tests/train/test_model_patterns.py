"""Models attend under window, grid and graph patterns through the sparse kernels exactly as
through the patterns' dense masks (``SetModel.sparse = False``, the slow twin): outputs,
weights and gradients, over random batches of sets (lengths 0 and 1 included)."""

from __future__ import annotations

import copy

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfattn.nn.model import build_model

SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = {"kind": "transformer", "width": 16, "depth": 2, "heads": 2, "ff": 32, "dropout": 0.0, "norm": "pre",
        "attention": "full", "attention_options": {}, "positional_options": {}, "pooling": "mean",
        "head_hidden": 0}


KERNELS = {"window": "window", "graph": "graph", "grid": "neighborhood2d"}


def _twins(cfg: dict, spec: dict, seed: int, forced: bool = True):
    """``forced``: the fast model's layers run the pattern's sparse kernel whatever the size
    (else the dispatcher picks, which at these sizes is dense attention with the mask)."""
    torch.manual_seed(seed)
    fast = build_model(cfg, spec).double()
    slow = copy.deepcopy(fast)
    slow.sparse = False
    if forced:
        for layer in fast.encoder.layers:
            layer.self_attn.kernel = KERNELS[cfg["pattern"]]
    return fast, slow


def _compare(fast, slow, x, mask, **kw):
    out1, w1 = fast(x, mask, return_weights=True, **kw)
    out2, w2 = slow(x, mask, return_weights=True, **kw)
    torch.testing.assert_close(out1, out2)
    for a, b in zip(w1, w2, strict=True):
        torch.testing.assert_close(a, b)
    assert torch.isfinite(out1).all()
    out1.pow(2).sum().backward()
    out2.pow(2).sum().backward()
    for (name, p1), p2 in zip(fast.named_parameters(), slow.parameters(), strict=True):
        g1 = p1.grad if p1.grad is not None else torch.zeros_like(p1)
        g2 = p2.grad if p2.grad is not None else torch.zeros_like(p2)
        torch.testing.assert_close(g1, g2, msg=lambda m, name=name: f"{name}: {m}")


@SETTINGS
@given(lengths=st.lists(st.integers(0, 10), min_size=1, max_size=3), window=st.integers(0, 3),
       positional=st.sampled_from(["none", "sinusoidal", "rope", "alibi"]), forced=st.booleans(),
       seed=st.integers(0, 999))
def test_window_model_equals_dense_mask_model(lengths, window, positional, forced, seed):
    spec = {"task": "vector", "target": "class", "outputs": 3, "max_len": 16,
            "input": {"kind": "tokens", "vocab_sizes": [20]}}
    length = max(lengths)
    fast, slow = _twins({**BASE, "positional": positional, "pattern": "window", "window": window}, spec, seed,
                        forced and length > 0)
    mask = torch.arange(length)[None] < torch.tensor(lengths)[:, None]
    x = torch.randint(1, 20, (len(lengths), length), generator=torch.Generator().manual_seed(seed))
    _compare(fast, slow, x.masked_fill(~mask, 0), mask)


@SETTINGS
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=3), density=st.floats(0, 0.5),
       positional=st.sampled_from(["none", "rope"]), forced=st.booleans(), seed=st.integers(0, 999))
def test_graph_model_equals_dense_mask_model(sizes, density, positional, forced, seed):
    """Sets of different sizes padded to one length; the batch runs as one flattened graph."""
    g = torch.Generator().manual_seed(seed)
    length = max(sizes)
    parts = []
    for b, n in enumerate(sizes):
        pairs = torch.cartesian_prod(torch.arange(n), torch.arange(n)).T
        keep = torch.rand(pairs.shape[1], generator=g) < density
        parts.append(pairs[:, keep] + b * length)
    edge_index = torch.cat(parts, 1)
    spec = {"task": "set", "target": "class", "outputs": 2, "max_len": 16, "input": {"kind": "features", "dim": 5}}
    fast, slow = _twins({**BASE, "positional": positional, "pattern": "graph"}, spec, seed, forced)
    mask = torch.arange(length)[None] < torch.tensor(sizes)[:, None]
    x = torch.randn(len(sizes), length, 5, generator=g, dtype=torch.float64) * mask[..., None]
    _compare(fast, slow, x, mask, edge_index=edge_index)


def test_grid_model_equals_dense_mask_model():
    spec = {"task": "set", "target": "class", "outputs": 4, "max_len": 12, "input": {"kind": "features", "dim": 3}}
    fast, slow = _twins({**BASE, "positional": "learned", "positional_options": {"max_len": 12},
                         "pattern": "grid", "window": 1}, spec, 0)
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    mask = torch.ones(2, 12, dtype=torch.bool)
    _compare(fast, slow, x, mask, grids=torch.tensor([[3, 4], [3, 4]]))
