"""Baselines: the context each one sees, and that padding never leaks into real vectors."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.baselines import BASELINES, ConvEncoder, WindowMLP, build_baseline


def _x(b=2, length=9, d=6, seed=0):
    return torch.randn(b, length, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", [k for k in BASELINES if k != "cnn2d"])
def test_padding_does_not_change_real_outputs(kind):
    torch.manual_seed(0)
    model = build_baseline(kind, 6, 8, depth=2, dropout=0.0).eval()
    x = _x()
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[1, 5:] = False
    out = model(x, mask)
    assert out.shape == (2, 9, 8)
    short = model(x[1:, :5], torch.ones(1, 5, dtype=torch.bool))
    assert torch.allclose(out[1, :5], short[0], atol=1e-5)
    assert bool((out[1, 5:] == 0).all())


def test_vector_mlp_sees_one_vector_window_mlp_sees_k_each_side():
    torch.manual_seed(0)
    x = _x(1)
    mlp = build_baseline("mlp", 6, 8, dropout=0.0).eval()
    win = WindowMLP(6, 8, k=2, dropout=0.0).eval()
    for model, reach in ((mlp, 0), (win, 2)):
        changed = x.clone()
        changed[0, 4] += 1.0
        diff = (model(changed) - model(x)).abs().sum(-1)[0]
        assert [int(i) for i in torch.nonzero(diff > 0)] == list(range(4 - reach, 5 + reach))


def test_cnn_context_grows_with_depth_and_rnn_sees_everything():
    torch.manual_seed(0)
    x = _x(1, length=12)
    cnn = ConvEncoder(6, 8, kernel=3, depth=2, dropout=0.0).eval()
    rnn = build_baseline("gru", 6, 8, dropout=0.0).eval()
    changed = x.clone()
    changed[0, 6] += 1.0
    cnn_diff = (cnn(changed) - cnn(x)).abs().sum(-1)[0]
    assert [int(i) for i in torch.nonzero(cnn_diff > 0)] == list(range(4, 9))
    assert bool(((rnn(changed) - rnn(x)).abs().sum(-1)[0] > 0).all())  # bidirectional


def test_cnn2d_uses_the_grid_and_checks_it():
    torch.manual_seed(0)
    model = build_baseline("cnn2d", 3, 4, depth=1, dropout=0.0).eval()
    x = _x(2, length=12, d=3)
    grids = torch.tensor([[3, 4], [3, 4]])
    changed = x.clone()
    changed[0, 5] += 1.0                       # cell (1, 1) of a 3 x 4 grid
    diff = (model(changed, grids=grids) - model(x, grids=grids)).abs().sum(-1)[0]
    assert [int(i) for i in torch.nonzero(diff > 0)] == [0, 1, 2, 4, 5, 6, 8, 9, 10]
    with pytest.raises(ValueError, match="grids: a 2-D convolution needs"):
        model(x)
    with pytest.raises(ValueError, match=r"grids: expected one grid h x w = 12"):
        model(x, grids=torch.tensor([[3, 4], [2, 6]]))


def test_bad_names_and_sizes():
    with pytest.raises(ValueError, match=r"kind: expected one of \['mlp', 'window_mlp'"):
        build_baseline("transformer", 4, 4)
    with pytest.raises(ValueError, match="kernel: expected an odd size"):
        ConvEncoder(4, 4, kernel=2)
    with pytest.raises(ValueError, match="width: expected an even size for a bidirectional RNN, got 5"):
        build_baseline("lstm", 4, 5)
