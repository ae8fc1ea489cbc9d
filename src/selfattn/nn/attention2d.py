"""The Self-Attention GAN block: every pixel of a feature map attends to every other pixel.

Zhang et al., "Self-Attention Generative Adversarial Networks" (2019), section 3, on a
feature map ``x`` of ``C`` channels and ``N = H * W`` positions (``x_i`` the ``C``-vector
at position ``i``, row-major), with 1x1 convolutions ``W_f, W_g, W_h`` (``C -> C'``,
``C' = C / reduction``; the paper uses ``reduction = 8``) and ``W_v`` (``C' -> C``):

    s_ij = f(x_i)^T g(x_j),          f(x) = W_f x,  g(x) = W_g x
    beta_ji = exp(s_ij) / sum_i exp(s_ij)          (position j's weight on position i)
    o_j = W_v ( sum_i beta_ji h(x_i) ),            h(x) = W_h x
    y_j = gamma o_j + x_j,                         gamma a learned scalar, initialised at 0

So the block starts as the identity and the network learns how much non-local evidence to
mix in. In the lecture's terms the pixels are a set of vectors, ``g`` gives the queries,
``f`` the keys and ``h`` the values, and the scores are unscaled dot products (the paper's
``s_ij``; pass ``scale`` to use another). The attention runs through
``selfattn.functional.attention`` (the fused kernel where it is exact): over all ``N``
positions, or, with ``kernel_size``, over each pixel's ``k x k`` neighbourhood
(``selfattn.patterns.Neighborhood2DPattern``, border ``clip``) for large maps.
"""

from __future__ import annotations

import torch
from torch import nn

from ..functional import attention
from ..patterns import Neighborhood2DPattern

__all__ = ["SelfAttention2d"]


class SelfAttention2d(nn.Module):
    """SAGAN self-attention on ``(B, C, H, W)`` feature maps (see the module doc).

    Args:
        channels: ``C``, the input and output channels.
        reduction: ``C' = max(1, C // reduction)`` channels of the queries and keys.
        value_channels: channels of ``h(x)`` (default ``C'``, as in the paper).
        kernel_size: ``None`` for attention over all ``H * W`` positions, or an odd size
            (int or ``(kh, kw)``): each pixel attends to its neighbourhood only.
        dilation: of the neighbourhood (with ``kernel_size``).
        scale: multiplies the scores (default 1: the paper's unscaled ``s_ij``).
        spectral_norm: wrap the four 1x1 convolutions in ``torch.nn.utils.spectral_norm``
            (as SAGAN does in both networks).
        bias: biases in the 1x1 convolutions (the paper's equations have none).

    ``forward(x, mask=None, return_weights=False)``: ``x`` ``(B, C, H, W)``; ``mask`` bool
    ``(B, H, W)``, ``True`` = a real pixel (images of several sizes padded to one): padded
    pixels are never attended to and pass through unchanged. Returns ``y`` ``(B, C, H, W)``,
    and with ``return_weights`` also ``beta`` ``(B, H*W, H*W)`` (row ``j`` = query pixel
    ``j``'s weights over the key pixels, row-major).
    """

    def __init__(self, channels: int, reduction: int = 8, value_channels: int | None = None,
                 kernel_size: int | tuple[int, int] | None = None, dilation: int | tuple[int, int] = 1,
                 scale: float = 1.0, spectral_norm: bool = False, bias: bool = False) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"channels: expected a positive integer, got {channels!r}")
        if not isinstance(reduction, int) or reduction < 1:
            raise ValueError(f"reduction: expected a positive integer, got {reduction!r}")
        inner = max(1, channels // reduction)
        value_channels = inner if value_channels is None else value_channels
        if not isinstance(value_channels, int) or value_channels < 1:
            raise ValueError(f"value_channels: expected a positive integer, got {value_channels!r}")
        if kernel_size is not None:  # validated once here (odd sizes, dilation >= 1)
            Neighborhood2DPattern(1, 1, kernel_size, dilation, border="clip")
        self.channels, self.inner, self.value_channels = channels, inner, value_channels
        self.kernel_size, self.dilation, self.scale = kernel_size, dilation, float(scale)
        wrap = nn.utils.spectral_norm if spectral_norm else (lambda m: m)
        self.key = wrap(nn.Conv2d(channels, inner, 1, bias=bias))            # W_f
        self.query = wrap(nn.Conv2d(channels, inner, 1, bias=bias))          # W_g
        self.value = wrap(nn.Conv2d(channels, value_channels, 1, bias=bias))  # W_h
        self.out = wrap(nn.Conv2d(value_channels, channels, 1, bias=bias))    # W_v
        self.gamma = nn.Parameter(torch.zeros(()))

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, inner={self.inner}, value_channels={self.value_channels}, "
                f"kernel_size={self.kernel_size}, scale={self.scale}")

    def pattern(self, height: int, width: int) -> Neighborhood2DPattern | None:
        """The sparse pattern of an ``height x width`` map (None: all positions)."""
        if self.kernel_size is None:
            return None
        return Neighborhood2DPattern(height, width, self.kernel_size, self.dilation, border="clip")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_weights: bool = False):
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x: expected (batch, {self.channels}, height, width), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        key_mask = None
        if mask is not None:
            if mask.dtype != torch.bool or tuple(mask.shape) != (b, h, w):
                raise ValueError(f"mask: expected bool (batch, height, width) = {(b, h, w)}, True = a "
                                 f"real pixel; got {mask.dtype} {tuple(mask.shape)}")
            key_mask = mask.reshape(b, h * w)

        def tokens(t: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 1, H*W, C)
            # contiguous: torch's CPU flash op (the sdpa kernel's path when weights are
            # returned) reads transposed inputs wrongly (torch 2.13)
            return t.flatten(2).transpose(1, 2)[:, None].contiguous()

        q, k, v = tokens(self.query(x)), tokens(self.key(x)), tokens(self.value(x))
        res = attention(q, k, v, key_mask=key_mask, scale=self.scale, pattern=self.pattern(h, w),
                        return_weights=return_weights)
        o, weights = (res[0], res[1][:, 0]) if return_weights else (res, None)
        o = o[:, 0].transpose(1, 2).reshape(b, self.value_channels, h, w)
        o = self.out(o)
        if mask is not None:  # padded pixels pass through
            o = o * mask[:, None].to(o.dtype)
        y = x + self.gamma * o
        return (y, weights) if return_weights else y
