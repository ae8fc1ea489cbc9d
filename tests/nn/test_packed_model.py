"""``SetModel`` with ``packed=True`` (``trainer.packed``): padding removed once after the
embeddings, every layer on the ``(N, d)`` real vectors, padded again for the head. Its slow
twin is the padded path of the same model: outputs on real vectors and every gradient equal
(float64 <= 1e-10, float32 <= 1e-5) for every positional scheme and pattern it accepts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn.model import build_model, packing_blocker
from selfattn.positional import SCHEMES

WIDTH = 8


def _model(positional: str, pattern: str, task: str, pooling: str, dtype: torch.dtype, packed: bool = False):
    cfg = {"kind": "transformer", "width": WIDTH, "depth": 2, "heads": 2, "ff": 12, "dropout": 0.0,
           "positional": positional, "pattern": pattern, "window": 2, "pooling": pooling, "packed": packed}
    if positional == "learned":
        cfg["positional_options"] = {"max_len": 16}
    spec = {"input": {"kind": "features", "dim": 5}, "task": task, "outputs": 3, "max_len": 16}
    model = build_model(cfg, spec).to(dtype)
    with torch.no_grad():  # non-trivial input statistics, so the standardisation is exercised
        model.embed.mean.uniform_(-0.5, 0.5)
        model.embed.std.uniform_(0.5, 2.0)
    return model


def _chain_edges(lengths: list[int], length: int, seed: int) -> torch.Tensor:
    """Random edges inside each set, numbered ``b * length + i`` (the collate's convention)."""
    g = torch.Generator().manual_seed(seed)
    edges = []
    for b, n in enumerate(lengths):
        for _ in range(2 * n):
            i, j = torch.randint(0, n, (2,), generator=g).tolist()
            edges.append((b * length + i, b * length + j))
    return torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T


def _both_paths(model, x, mask, edge_index, cot_fn):
    outs, grads = [], []
    for packed in (False, True):
        model.packed = packed
        xi = x.detach().clone().requires_grad_(True)
        out = model(xi, mask, edge_index=edge_index)
        grads.append(torch.autograd.grad(cot_fn(out), [xi, *model.parameters()], allow_unused=True))
        outs.append(out)
    return outs, grads


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 9), min_size=1, max_size=4),
       positional=st.sampled_from(sorted(SCHEMES)), pattern=st.sampled_from(["none", "window", "graph"]),
       dtype=st.sampled_from([torch.float64, torch.float32]), seed=st.integers(0, 100))
def test_packed_vector_model_equals_padded(lengths, positional, pattern, dtype, seed):
    torch.manual_seed(seed)
    model = _model(positional, pattern, "vector", "mean", dtype)
    length = max(max(lengths), 1)
    mask = torch.arange(length)[None] < torch.tensor(lengths)[:, None]
    x = torch.randn(len(lengths), length, 5, dtype=dtype)
    edges = _chain_edges(lengths, length, seed) if pattern == "graph" else None
    cot = torch.randn(int(mask.sum()), 3, dtype=dtype)
    outs, grads = _both_paths(model, x, mask, edges, lambda out: (out[mask] * cot).sum())
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(outs[1][mask], outs[0][mask], atol=tol, rtol=0)
    assert bool((outs[1][~mask] == 0).all())  # padded slots: zeros, not the head of garbage
    for padded, packed in zip(*grads, strict=True):
        if padded is None or packed is None:
            assert padded is None or not bool(padded.any())
            assert packed is None or not bool(packed.any())
            continue
        torch.testing.assert_close(packed, padded, atol=10 * tol, rtol=0)


@settings(max_examples=30, deadline=None)
@given(lengths=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       positional=st.sampled_from(["sinusoidal", "rope", "t5", "shaw", "none"]),
       pattern=st.sampled_from(["none", "window", "graph"]),
       pooling=st.sampled_from(["mean", "first", "attention", "max"]),
       dtype=st.sampled_from([torch.float64, torch.float32]), seed=st.integers(0, 100))
def test_packed_set_model_equals_padded(lengths, positional, pattern, pooling, dtype, seed):
    if pooling == "first" and pattern != "none":  # refused (packing_blocker), tested below
        pattern = "none"
    torch.manual_seed(seed)
    model = _model(positional, pattern, "set", pooling, dtype)
    length = max(lengths)
    mask = torch.arange(length)[None] < torch.tensor(lengths)[:, None]
    x = torch.randn(len(lengths), length, 5, dtype=dtype)
    edges = _chain_edges(lengths, length, seed) if pattern == "graph" else None
    cot = torch.randn(len(lengths), 3, dtype=dtype)
    outs, grads = _both_paths(model, x, mask, edges, lambda out: (out * cot).sum())
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(outs[1], outs[0], atol=tol, rtol=0)
    for padded, packed in zip(*grads, strict=True):
        if padded is not None and packed is not None:
            torch.testing.assert_close(packed, padded, atol=10 * tol, rtol=0)


def test_packed_grid_pattern_equals_padded():
    torch.manual_seed(0)
    cfg = {"kind": "transformer", "width": WIDTH, "depth": 1, "heads": 2, "dropout": 0.0,
           "positional": "learned", "positional_options": {"max_len": 12}, "pattern": "grid", "window": 1}
    spec = {"input": {"kind": "features", "dim": 5}, "task": "set", "outputs": 3}
    model = build_model(cfg, spec).double()
    x, grids = torch.randn(3, 12, 5, dtype=torch.float64), torch.tensor([[3, 4]] * 3)
    mask = torch.ones(3, 12, dtype=torch.bool)
    outs = []
    for packed in (False, True):
        model.packed = packed
        outs.append(model(x, mask, grids=grids))
    torch.testing.assert_close(outs[1], outs[0], atol=1e-10, rtol=0)


def test_packed_attention_weights_come_from_the_padded_path():
    model = _model("rope", "window", "vector", "mean", torch.float64, packed=True)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    x = torch.randn(2, 3, 5, dtype=torch.float64)
    out, weights = model(x, mask, return_weights=True)
    assert len(weights) == 2 and weights[0].shape == (2, 2, 3, 3)
    torch.testing.assert_close(out[mask], model(x, mask)[mask], atol=1e-12, rtol=0)


def test_the_combinations_that_cannot_be_packed_are_named():
    base = {"kind": "transformer", "attention": "full", "pattern": "none", "pooling": "mean"}
    assert packing_blocker(base) is None
    assert packing_blocker({**base, "kind": "pretrained"}) is None
    assert "model.kind='lstm'" in packing_blocker({**base, "kind": "lstm"})
    assert "model.attention='performer' is an approximate variant" in packing_blocker(
        {**base, "attention": "performer"})
    assert "model.pattern='window' with model.pooling='first'" in packing_blocker(
        {**base, "pattern": "window", "pooling": "first"})
    assert packing_blocker({**base, "pattern": "window", "pooling": "first"}, task="vector") is None
    spec = {"input": {"kind": "features", "dim": 5}, "task": "set", "outputs": 2}
    with pytest.raises(ValueError, match=r"packed: model.attention='linformer' is an approximate"):
        build_model({**base, "width": 8, "depth": 1, "heads": 2, "attention": "linformer",
                     "attention_options": {"max_len": 8}, "packed": True}, spec)
