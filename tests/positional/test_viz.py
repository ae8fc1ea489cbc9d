"""The heat maps: each panel holds the scheme's own numbers; the PNG is written."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from selfattn.positional import SinusoidalEncoding, alibi_slopes
from selfattn.viz.positional import plot_positional, positional_panels


def test_panels_hold_each_schemes_values():
    panels = {p.name: p for p in positional_panels(length=16, dim=8, num_heads=4)}
    assert list(panels) == ["sinusoidal", "learned", "floater", "rnn", "rope", "shaw", "t5", "alibi"]
    np.testing.assert_allclose(panels["sinusoidal"].values,
                               SinusoidalEncoding(8).table(16, torch.float64).numpy())
    # RoPE of (1, 0, 1, 0, ...) is (cos p theta_m, sin p theta_m): pair 0 turns 1 rad per step.
    np.testing.assert_allclose(panels["rope"].values[:, :2],
                               np.stack([np.cos(np.arange(16)), np.sin(np.arange(16))], axis=1))
    alibi = panels["alibi"]
    assert alibi.values.shape == (17, 4) and alibi.row_start == -8
    np.testing.assert_allclose(alibi.values[0], [-8 * m for m in alibi_slopes(4)])
    for p in panels.values():
        assert np.isfinite(p.values).all() and p.values.std() > 0, p.name


def test_trained_modules_are_drawn_instead(tmp_path):
    from selfattn.positional import LearnedEncoding

    learned = LearnedEncoding(8, max_len=16)
    with torch.no_grad():
        learned.weight.copy_(torch.arange(16.0)[:, None].expand(16, 8))
    panel = positional_panels(length=16, dim=8, modules={"learned": learned})[1]
    assert panel.title == "learned embedding"
    np.testing.assert_allclose(panel.values[:, 0], np.arange(16.0))
    with pytest.raises(ValueError, match=r"modules: expected names among .* got \['nope'\]"):
        positional_panels(length=16, dim=8, modules={"nope": learned})


def test_png_is_written_at_the_figure_size(tmp_path):
    path = plot_positional(tmp_path / "sub" / "pos.png", length=12, dim=8, num_heads=2, dpi=20)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (18 * 20, 170)  # figsize (18, 8.5) inches at 20 dpi
    with pytest.raises(ValueError, match="length, dim, num_heads: expected"):
        plot_positional(tmp_path / "x.png", length=12, dim=7)
