"""The conv-stem + self-attention classifier, its CNN twin and the batch augmentation."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.conv_attention import ConvAttentionClassifier, augment


def _slow_augment(x, pad, flip, generator):
    """One image at a time, from the same draws as ``augment`` (mirror, then row and column offsets)."""
    b, _, h, w = x.shape
    mirror = torch.rand(b, generator=generator) < flip if flip > 0 else torch.zeros(b, dtype=torch.bool)
    if pad > 0:
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
    out = torch.zeros_like(x)
    for i in range(b):
        image = x[i].flip(-1) if mirror[i] else x[i]
        if pad == 0:
            out[i] = image
            continue
        big = torch.zeros(x.shape[1], h + 2 * pad, w + 2 * pad)
        big[:, pad:pad + h, pad:pad + w] = image
        out[i] = big[:, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
    return out


@pytest.mark.parametrize(("pad", "flip", "channels"), [(2, 0.5, 1), (1, 0.0, 3), (0, 1.0, 1), (3, 0.3, 2)])
def test_augment_equals_one_image_at_a_time(pad, flip, channels):
    x = torch.rand(9, channels, 8, 6)
    fast = augment(x, pad, flip, torch.Generator().manual_seed(3))
    slow = _slow_augment(x, pad, flip, torch.Generator().manual_seed(3))
    assert torch.equal(fast, slow)


def test_augment_moves_pixels_and_keeps_their_values():
    x = torch.rand(64, 1, 10, 10) + 1.0            # no zero pixel in the images themselves
    out = augment(x, 2, 0.5, torch.Generator().manual_seed(0))
    assert not torch.equal(out, x)
    shifted = (out == 0).flatten(1).any(1)          # padding came in: the image moved
    assert 0.5 < shifted.float().mean() < 1.0       # offsets (2, 2) keep it in place: 1/25 of images
    kept = out[out != 0]
    assert torch.isin(kept, x).all()                # no value is made up
    assert torch.equal(augment(x, 0, 0.0), x)


@pytest.mark.parametrize("kind", ["attention", "cnn"])
@pytest.mark.parametrize(("downsample", "grid"), [(2, (7, 7)), (1, (14, 14))])
def test_shapes_grid_and_attention_rows(kind, downsample, grid):
    torch.manual_seed(0)
    model = ConvAttentionClassifier(10, kind, width=16, depth=1, heads=2, ff=32, stem=(8,),
                                    downsample=downsample).eval()
    x = torch.randn(3, 1, 28, 28)
    out, weights = model(x, return_weights=True)
    assert out.shape == (3, 10) and model.grid == grid
    if kind == "attention":
        (w,) = weights
        cells = grid[0] * grid[1]
        assert w.shape == (3, 2, cells, cells)
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 2, cells))
    else:
        assert weights is None
    # a batch is a set of independent images: each output is that of the image alone
    torch.testing.assert_close(out[1:2], model(x[1:2]), rtol=1e-5, atol=1e-5)


def test_every_cell_has_its_own_position_and_the_model_uses_them():
    from selfattn.nn.detr import sine_positions_2d

    torch.manual_seed(0)
    x = torch.randn(2, 1, 28, 28)
    for positional in ("sine2d", "learned2d"):
        model = ConvAttentionClassifier(10, "attention", width=16, depth=1, heads=2, ff=32, stem=(8,),
                                        positional=positional).eval()
        pos = model.positions()
        assert pos.shape == (49, 16) and len(torch.unique(pos, dim=0)) == 49
        if positional == "sine2d":
            torch.testing.assert_close(pos, sine_positions_2d(7, 7, 16))
            with_pos = model(x)
            model.pos.zero_()
        else:
            # learned: row r + column c, so two cells of a row differ by their columns' difference
            torch.testing.assert_close(pos[0] - pos[1], pos[7] - pos[8])
            with_pos = model(x)
            with torch.no_grad():
                model.rows.zero_()
                model.cols.zero_()
        assert not torch.allclose(with_pos, model(x), atol=1e-6)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kind"):
        ConvAttentionClassifier(kind="rnn")
    with pytest.raises(ValueError, match="positional"):
        ConvAttentionClassifier(positional="rope")
    with pytest.raises(ValueError, match="downsample"):
        ConvAttentionClassifier(downsample=3)   # 28 is not divisible by 8
    with pytest.raises(ValueError, match=r"x: expected \(batch, channels"):
        ConvAttentionClassifier()(torch.zeros(28, 28))


@pytest.mark.parametrize("kind", ["attention", "cnn"])
def test_tiny_model_learns_two_classes(kind):
    torch.manual_seed(0)
    x = torch.zeros(16, 1, 16, 16)
    y = torch.arange(16) % 2
    x[y == 0, :, 2:14, 6:10] = 1.0                  # a vertical bar
    x[y == 1, :, 6:10, 2:14] = 1.0                  # a horizontal bar
    model = ConvAttentionClassifier(2, kind, width=16, depth=1, heads=2, ff=32, stem=(8,), size=16)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(25):
        loss = torch.nn.functional.cross_entropy(model(augment(x, 1, 0.5)), y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    with torch.no_grad():  # batch statistics: 25 steps do not settle batch norm's running averages
        assert (model(x).argmax(-1) == y).float().mean() == 1.0
