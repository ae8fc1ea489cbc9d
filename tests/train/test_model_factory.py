"""The model factory: every encoder kind, variant, positional scheme and pattern by name."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.model import build_model, pattern_mask
from selfattn.nn.variants import attention_names

SPEC = {"task": "vector", "target": "class", "outputs": 5, "max_len": 12,
        "input": {"kind": "tokens", "vocab_sizes": [30, 7]}}
BASE = {"kind": "transformer", "width": 16, "depth": 2, "heads": 4, "ff": 32, "dropout": 0.0, "norm": "pre",
        "attention": "full", "attention_options": {}, "positional": "sinusoidal", "positional_options": {},
        "pattern": "none", "window": 2, "pooling": "mean", "head_hidden": 0}


def _batch():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(2, 7, (3, 9, 2), generator=g)
    mask = torch.arange(9)[None] < torch.tensor([9, 5, 1])[:, None]
    return x.masked_fill(~mask[..., None], 0), mask


@pytest.mark.parametrize(("change", "task"), [
    ({}, "vector"), ({"norm": "post"}, "vector"), ({"positional": "rope"}, "vector"),
    ({"positional": "alibi"}, "vector"), ({"positional": "t5"}, "vector"), ({"positional": "learned"}, "vector"),
    ({"attention": "performer"}, "vector"), ({"attention": "linformer"}, "vector"),
    ({"attention": "nystrom", "positional": "none"}, "vector"),
    ({"pattern": "window"}, "vector"), ({"kind": "lstm"}, "vector"), ({"kind": "window_mlp"}, "vector"),
    ({"kind": "cnn"}, "set"), ({"pooling": "first"}, "set"), ({"pooling": "attention"}, "set"),
])
def test_every_choice_builds_and_padding_never_changes_real_outputs(change, task):
    torch.manual_seed(0)
    model = build_model({**BASE, **change}, {**SPEC, "task": task}).eval()
    x, mask = _batch()
    out = model(x, mask)
    assert out.shape == ((3, 9, 5) if task == "vector" else (3, 5)) and not torch.isnan(out).any()
    alone = model(x[1:2, :5], mask[1:2, :5])
    if change.get("attention") in ("performer", "linformer", "nystrom"):
        return  # approximations: padding-exactness is their own package's test
    expected = out[1:2, :5] if task == "vector" else out[1:2]
    assert torch.allclose(alone, expected, atol=1e-5)


def test_window_pattern_limits_what_each_vector_sees():
    torch.manual_seed(0)
    model = build_model({**BASE, "pattern": "window", "window": 1, "depth": 1, "positional": "none"}, SPEC).eval()
    x, mask = _batch()
    changed = x.clone()
    changed[0, 6] = 3 if int(x[0, 6, 0]) != 3 else 4
    diff = (model(changed, mask) - model(x, mask)).abs().sum(-1)[0]
    assert [int(i) for i in torch.nonzero(diff > 1e-6)] == [5, 6, 7]
    _, weights = model(x, mask, return_weights=True)
    assert bool((weights[0][0, :, 0, 2:] == 0).all())


def test_graph_mask_follows_edges_of_each_padded_set():
    # two graphs padded to 4 nodes: 0 -> 1 in the first, 2 -> 0 in the second (node b * 4 + i)
    edge_index = torch.tensor([[0, 6], [1, 4]])
    mask = pattern_mask("graph", 4, edge_index=edge_index, batch_size=2)
    assert mask.shape == (2, 1, 4, 4)
    assert bool(mask[0, 0, 1, 0]) and not bool(mask[0, 0, 0, 1])      # 1 attends to its source 0
    assert bool(mask[1, 0, 0, 2]) and int(mask[1, 0].sum()) == 4 + 1     # self-loops + one edge
    with pytest.raises(ValueError, match="edge_index: the 'graph' pattern needs"):
        pattern_mask("graph", 4)
    with pytest.raises(ValueError, match=r"pattern: expected one of \['none', 'window', 'graph', 'grid'\]"):
        pattern_mask("ring", 4)


def test_features_are_standardised_and_regression_outputs_rescaled():
    spec = {"task": "set", "target": "regression", "outputs": 1, "input": {"kind": "features", "dim": 3}}
    model = build_model(BASE, spec).eval()
    model.embed.mean.fill_(10.0)
    model.target_mean.fill_(-4.0)
    model.target_std.fill_(2.0)
    x = torch.full((1, 4, 3), 10.0)
    out = model(x)
    assert torch.allclose(model.embed(x), model.embed.proj(torch.zeros(1, 4, 3)))
    assert torch.allclose(model.denormalize(out), out * 2 - 4)


def test_a_scheme_inside_attention_is_refused_by_approximate_variants():
    with pytest.raises(ValueError, match=r"positional: 'rope' works inside full attention only, got "
                                         r"attention='performer'"):
        build_model({**BASE, "attention": "performer", "positional": "rope"}, SPEC)


@pytest.mark.parametrize("name", attention_names())
def test_every_registered_variant_builds_by_name_from_a_config(name):
    """The factory reads what a variant needs (``max_len``) from the registry: a new variant
    needs no list of its own here."""
    torch.manual_seed(0)
    model = build_model({**BASE, "attention": name, "positional": "none"}, SPEC).eval()
    x, mask = _batch()
    out = model(x, mask)
    assert out.shape == (3, 9, 5) and torch.isfinite(out).all()


def test_conv_kernel_sets_the_cnn_width():
    model = build_model({**BASE, "kind": "cnn", "conv_kernel": 5}, {**SPEC, "task": "set"})
    sizes = {m.kernel_size for m in model.modules() if isinstance(m, torch.nn.Conv1d)}
    assert sizes == {(5,)}
