"""A convolutional stem + self-attention image classifier, and its CNN twin (the lecture's
CNN vs self-attention comparison on images).

Shapes: ``x (B, C, H, W)`` -> logits ``(B, classes)``.

* The **stem** (shared by both models): a 3x3 convolution at full resolution, then
  ``downsample`` stride-2 3x3 convolutions (batch norm + GELU after each), so a 28x28 image
  becomes ``14x14`` (one) or ``7x7`` (two) cells of ``width`` channels. Small convolutions
  see local strokes; what the stem does not give is context across the whole image.
* ``kind="attention"``: the ``h * w`` cells become a set of vectors with 2-D positions added
  (``selfattn.nn.detr.sine_positions_2d``, or learned row + column embeddings), then
  ``depth`` pre-norm self-attention layers (``selfattn.nn.Encoder``): every cell attends to
  every other cell in one layer.
* ``kind="cnn"``: the same stem, then ``depth`` residual blocks of two 3x3 convolutions at
  the same resolution: context grows by 4 cells per block instead.

Both end in mean pooling over the cells, a layer norm and a linear classifier.
:func:`augment` is the training augmentation as batch tensor ops (random translation by
zero padding + crop, horizontal flip), written here because ``torchvision`` has no working
CPU wheel for this torch (see pyproject's ``train`` extra).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .detr import sine_positions_2d
from .encoder import Encoder, EncoderLayer

__all__ = ["ConvAttentionClassifier", "augment"]


def _conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.GELU())


class _ResBlock(nn.Module):
    def __init__(self, width: int, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(width, width, 1), nn.Dropout(dropout),
                                  nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class ConvAttentionClassifier(nn.Module):
    """Conv stem -> ``depth`` self-attention layers (``kind="attention"``) or residual conv
    blocks (``kind="cnn"``) -> mean pool -> classes. ``size``: the input's side (for the
    positions); ``channels``: the stem's widths before the last, which is ``width``."""

    def __init__(self, classes: int = 10, kind: str = "attention", width: int = 96, depth: int = 2,
                 heads: int = 4, ff: int = 192, dropout: float = 0.1, stem: tuple[int, ...] = (32,),
                 downsample: int = 2, size: int = 28, in_channels: int = 1,
                 positional: str = "sine2d") -> None:
        super().__init__()
        if kind not in ("attention", "cnn"):
            raise ValueError(f"kind: expected 'attention' or 'cnn', got {kind!r}")
        if positional not in ("sine2d", "learned2d"):
            raise ValueError(f"positional: expected 'sine2d' or 'learned2d', got {positional!r}")
        if downsample < 0 or size % (2 ** downsample):
            raise ValueError(f"downsample: expected a number of halvings dividing the size {size}, "
                             f"got {downsample}")
        widths = [*stem, width]
        layers = [_conv(in_channels, widths[0], 1)]
        # the stride-2 convolutions come last, so the widest channels run at the smallest map
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(_conv(a, b, 2 if i >= len(widths) - 1 - downsample else 1))
        for _ in range(downsample - (len(widths) - 1)):
            layers.append(_conv(width, width, 2))
        self.stem = nn.Sequential(*layers)
        self.kind, self.grid = kind, (size >> downsample, size >> downsample)
        h, w = self.grid
        if kind == "attention":
            if positional == "sine2d":
                self.register_buffer("pos", sine_positions_2d(h, w, width), persistent=False)
                self.rows = self.cols = None
            else:
                self.rows = nn.Parameter(torch.randn(h, 1, width) * 0.02)
                self.cols = nn.Parameter(torch.randn(1, w, width) * 0.02)
            self.body = Encoder(EncoderLayer(width, heads, ff, dropout), depth)
        else:
            self.body = nn.Sequential(*(_ResBlock(width, dropout) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def positions(self) -> torch.Tensor:
        """``(h * w, width)``: the 2-D positions added to the cells (attention only)."""
        if self.rows is None:
            return self.pos
        return (self.rows + self.cols).reshape(-1, self.rows.shape[-1])

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        if x.dim() != 4:
            raise ValueError(f"x: expected (batch, channels, height, width), got shape {tuple(x.shape)}")
        f = self.stem(x)                                         # (B, width, h, w)
        weights = None
        if self.kind == "attention":
            h = f.flatten(2).transpose(1, 2) + self.positions()  # (B, h*w, width)
            res = self.body(h, return_weights=return_weights)
            h, weights = res if return_weights else (res, None)
            pooled = h.mean(1)
        else:
            pooled = self.body(f).mean((2, 3))
        out = self.head(self.norm(pooled))
        return (out, weights) if return_weights else out


def augment(x: torch.Tensor, pad: int = 2, flip: float = 0.5, generator: torch.Generator | None = None
            ) -> torch.Tensor:
    """Random translation (zero-pad by ``pad``, crop back at a random offset per image) and a
    left-right mirror with probability ``flip``: ``(B, C, H, W)`` -> same shape."""
    b, _, hh, ww = x.shape
    if flip > 0:
        mirror = torch.rand(b, generator=generator) < flip
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    if pad > 0:
        padded = nn.functional.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=generator)
        rows = (dy[:, None] + torch.arange(hh))[:, None, :, None]          # (B, 1, H, 1)
        cols = (dx[:, None] + torch.arange(ww))[:, None, None, :]          # (B, 1, 1, W)
        batch = torch.arange(b)[:, None, None, None]
        chans = torch.arange(x.shape[1])[None, :, None, None]
        x = padded[batch, chans, rows, cols]
    return x
