"""The baselines the lecture argues against, with the encoder interface of self-attention.

Each maps a batch of padded sets ``x (B, L, d_in)`` with ``mask (B, L)`` (bool, ``True`` =
real vector) to ``(B, L, width)`` output vectors, so the same heads
(``selfattn.nn.heads``) and data serve every model:

* ``VectorMLP``: each vector alone [4]: no context at all (a tagger that sees one word);
* ``WindowMLP``: each vector with ``k`` neighbours on each side, concatenated [9]: a fixed
  window, the lecture's "window covering the whole sequence" only for short sets;
* ``ConvEncoder``: stacked 1-D convolutions (or 2-D over an image grid): context grows by
  ``kernel - 1`` per layer;
* ``RNNEncoder``: an RNN / LSTM / GRU over the sequence (bidirectional for labeling):
  context from everywhere, but computed step by step, not in parallel.

Padding never leaks into real vectors: padded slots are zeroed before every layer, and
the RNN packs the sequences so each sees only its own length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._checks import check_ndim

__all__ = ["BASELINES", "ConvEncoder", "RNNEncoder", "VectorMLP", "WindowMLP", "build_baseline"]


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask[..., None].to(x.dtype)


def _mlp(d_in: int, width: int, depth: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), nn.GELU(), nn.Dropout(dropout)]
    return nn.Sequential(*layers)


class VectorMLP(nn.Module):
    """``depth`` GELU layers applied to each vector alone: ``(B, L, d_in) -> (B, L, width)``."""

    def __init__(self, d_in: int, width: int, depth: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = _mlp(d_in, width, max(depth, 1), dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        check_ndim("x", x, 3, "(batch, length, dim)")
        return _masked(self.net(x), mask)


class WindowMLP(nn.Module):
    """Vector ``i`` sees ``x[i-k .. i+k]`` (zeros beyond the set), concatenated, then an MLP."""

    def __init__(self, d_in: int, width: int, k: int = 2, depth: int = 2, dropout: float = 0.1) -> None:
        super().__init__()
        if k < 0:
            raise ValueError(f"k: expected neighbours on each side >= 0, got {k}")
        self.k = k
        self.net = _mlp(d_in * (2 * k + 1), width, max(depth, 1), dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        check_ndim("x", x, 3, "(batch, length, dim)")
        x = _masked(x, mask)
        padded = F.pad(x, (0, 0, self.k, self.k))               # (B, L + 2k, d)
        windows = padded.unfold(1, 2 * self.k + 1, 1)           # (B, L, d, 2k + 1)
        windows = windows.transpose(2, 3).reshape(x.shape[0], x.shape[1], -1)
        return _masked(self.net(windows), mask)


class ConvEncoder(nn.Module):
    """``depth`` same-padded convolutions with GELU and a residual after the first.

    ``dims=1``: along the sequence. ``dims=2``: over each set's ``grid`` (image rows x
    columns, vectors in row-major order); every set of a batch must share one grid.
    """

    def __init__(self, d_in: int, width: int, kernel: int = 3, depth: int = 2, dims: int = 1,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel: expected an odd size >= 1 (same padding), got {kernel}")
        if dims not in (1, 2):
            raise ValueError(f"dims: expected 1 or 2, got {dims}")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.dims = dims
        self.convs = nn.ModuleList(
            conv(d_in if i == 0 else width, width, kernel, padding=kernel // 2) for i in range(depth))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                grids: torch.Tensor | None = None, **_) -> torch.Tensor:
        check_ndim("x", x, 3, "(batch, length, dim)")
        b, length, _ = x.shape
        if self.dims == 2:
            if grids is None:
                raise ValueError("grids: a 2-D convolution needs each set's (height, width) grid")
            h, w = (int(v) for v in grids[0])
            if not bool((grids == grids[0]).all()) or h * w != length:
                raise ValueError(f"grids: expected one grid h x w = {length} for the whole batch, "
                                 f"got {grids.tolist()}")
        h = _masked(x, mask)
        for i, conv in enumerate(self.convs):
            inp = h.transpose(1, 2)                                     # (B, d, L)
            if self.dims == 2:
                inp = inp.reshape(b, inp.shape[1], *(int(v) for v in grids[0]))
            out = F.gelu(conv(inp)).flatten(2).transpose(1, 2)          # (B, L, width)
            out = _masked(self.drop(out), mask)
            h = out if i == 0 else h + out
        return h


class RNNEncoder(nn.Module):
    """An ``rnn`` / ``lstm`` / ``gru`` over each set in order; ``width`` is the output size
    (split over the two directions when ``bidirectional``)."""

    def __init__(self, d_in: int, width: int, cell: str = "lstm", depth: int = 1,
                 bidirectional: bool = True, dropout: float = 0.1) -> None:
        super().__init__()
        cells = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in cells:
            raise ValueError(f"cell: expected one of {sorted(cells)}, got {cell!r}")
        if bidirectional and width % 2:
            raise ValueError(f"width: expected an even size for a bidirectional RNN, got {width}")
        hidden = width // 2 if bidirectional else width
        self.rnn = cells[cell](d_in, hidden, num_layers=depth, batch_first=True,
                               bidirectional=bidirectional, dropout=dropout if depth > 1 else 0.0)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, **_) -> torch.Tensor:
        check_ndim("x", x, 3, "(batch, length, dim)")
        if mask is None:
            return self.drop(self.rnn(x)[0])
        lengths = mask.sum(1).clamp_min(1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return _masked(self.drop(out), mask)


BASELINES = ("mlp", "window_mlp", "cnn", "cnn2d", "rnn", "lstm", "gru")


def build_baseline(kind: str, d_in: int, width: int, *, depth: int = 2, dropout: float = 0.1,
                   window: int = 2, kernel: int = 3, bidirectional: bool = True) -> nn.Module:
    """A baseline encoder by name (``BASELINES``): ``(B, L, d_in)`` -> ``(B, L, width)``."""
    if kind == "mlp":
        return VectorMLP(d_in, width, depth, dropout)
    if kind == "window_mlp":
        return WindowMLP(d_in, width, window, depth, dropout)
    if kind in ("cnn", "cnn2d"):
        return ConvEncoder(d_in, width, kernel, depth, 1 if kind == "cnn" else 2, dropout)
    if kind in ("rnn", "lstm", "gru"):
        return RNNEncoder(d_in, width, kind, depth, bidirectional, dropout)
    raise ValueError(f"kind: expected one of {list(BASELINES)}, got {kind!r}")
