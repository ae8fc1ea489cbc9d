"""Self-attention can do exactly what a CNN does (the lecture [36-37]; Cordonnier et al. 2020).

Cordonnier, Loukas & Jaggi, "On the Relationship between Self-Attention and Convolutional
Layers" (ICLR 2020), Theorem 1: a multi-head self-attention layer with K^2 heads and a
relative positional encoding expresses any K x K convolution. The construction (their
eq. 9, the *quadratic encoding*): queries and keys carry no content (``W_qry = W_key = 0``);
head h scores the relative shift ``delta = key_pixel - query_pixel`` with

    score_h(delta) = v_h . r_delta,   v_h = -alpha (1, -2 Delta_h1, -2 Delta_h2),
                                      r_delta = (|delta|^2, delta_1, delta_2)
                   = -alpha (|delta - Delta_h|^2 - |Delta_h|^2),

so as ``alpha`` grows, head h's softmax concentrates on the one pixel at shift ``Delta_h``
(the ``-alpha |Delta_h|^2`` term is the same for every key and cancels in the softmax).
Each head's value projection is the kernel's slice at that shift, ``W_val^(h) =
W[:, :, Delta_h]``, and summing the heads (``W_out`` = stacked identities) gives the
convolution. Zero padding: the keys are the image surrounded by K//2 rings of zero pixels,
so a shift that leaves the image lands on a zero vector, exactly like the convolution's
padding. The error against ``F.conv2d`` falls like ``exp(-alpha)``.

``ConvAsAttention.from_conv(conv, alpha)`` builds the layer from an ``nn.Conv2d``; ``run``
is the experiment (error against alpha, and each head's attention around one pixel).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..bench.results import save_results
from ..functional import attention

__all__ = ["ConvAsAttention", "QuadraticEncoding", "run"]


class QuadraticEncoding(nn.Module):
    """The quadratic relative encoding: score of head h for a key at shift delta.

    ``shifts (H, 2)``: each head's centre Delta_h (row, column). ``alpha (H,)``: sharpness.
    ``dense(height, width, pad)`` -> ``(H, height*width, (height+2p)*(width+2p))``: bias of every
    query pixel of the image against every key pixel of the zero-padded image.
    """

    def __init__(self, shifts: torch.Tensor, alpha: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("shifts", shifts.double())
        self.alpha = nn.Parameter(alpha.double())

    def dense(self, height: int, width: int, pad: int) -> torch.Tensor:
        dev = self.shifts.device
        qr, qc = torch.meshgrid(torch.arange(height, device=dev) + pad,
                                torch.arange(width, device=dev) + pad, indexing="ij")
        kr, kc = torch.meshgrid(torch.arange(height + 2 * pad, device=dev),
                                torch.arange(width + 2 * pad, device=dev), indexing="ij")
        d1 = (kr.reshape(1, -1) - qr.reshape(-1, 1)).double()  # (Nq, Nk) row shift
        d2 = (kc.reshape(1, -1) - qc.reshape(-1, 1)).double()
        r = torch.stack([d1 * d1 + d2 * d2, d1, d2])  # r_delta: (3, Nq, Nk)
        ones = torch.ones_like(self.alpha)
        v = -self.alpha[:, None] * torch.stack(
            [ones, -2 * self.shifts[:, 0], -2 * self.shifts[:, 1]], dim=1)  # (H, 3)
        return torch.einsum("hc,cqk->hqk", v, r)


class ConvAsAttention(nn.Module):
    """A multi-head self-attention layer over the pixels of an image that computes a conv.

    Input ``x (B, C_in, H, W)``; output ``(B, C_out, H, W)``. Pixels are the vectors of the
    set (the lecture's image-as-vector-set view); there are ``K*K`` heads, head dim ``C_out``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, alpha: float) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size: expected an odd size (centred shifts), got {kernel_size}")
        k = kernel_size // 2
        shifts = torch.tensor([(i, j) for i in range(-k, k + 1) for j in range(-k, k + 1)])
        self.kernel_size, self.pad = kernel_size, k
        self.encoding = QuadraticEncoding(shifts, torch.full((len(shifts),), float(alpha)))
        self.value = nn.Parameter(torch.zeros(len(shifts), in_channels, out_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, alpha: float = 50.0) -> ConvAsAttention:
        """The construction of Theorem 1 for a stride-1, zero-padded ('same') ``nn.Conv2d``."""
        kh, kw = conv.kernel_size
        if kh != kw or conv.stride != (1, 1) or conv.dilation != (1, 1) or conv.groups != 1:
            raise ValueError(
                f"conv: expected a square kernel, stride 1, dilation 1, groups 1; got kernel "
                f"{conv.kernel_size}, stride {conv.stride}, dilation {conv.dilation}, groups {conv.groups}")
        if conv.padding != (kh // 2, kw // 2) or conv.padding_mode != "zeros":
            raise ValueError(f"conv: expected zero padding {kh // 2} ('same'), got {conv.padding} "
                             f"({conv.padding_mode})")
        layer = cls(conv.in_channels, conv.out_channels, kh, alpha).to(conv.weight.dtype)
        with torch.no_grad():
            for h, (i, j) in enumerate(layer.encoding.shifts.long().tolist()):
                # W_val^(h) = W[:, :, Delta_h]: (C_out, C_in) -> stored as (C_in, C_out).
                layer.value[h] = conv.weight[:, :, i + layer.pad, j + layer.pad].T
            if conv.bias is not None:
                layer.bias.copy_(conv.bias)
        return layer

    def forward(self, x: torch.Tensor, return_weights: bool = False):
        if x.dim() != 4 or x.shape[1] != self.value.shape[1]:
            raise ValueError(f"x: expected (batch, {self.value.shape[1]}, height, width), "
                             f"got shape {tuple(x.shape)}")
        b, _, height, width = x.shape
        heads, p = self.value.shape[0], self.pad
        keys = F.pad(x, (p, p, p, p)).flatten(2).transpose(1, 2)  # (B, Nk, C_in): zero rings
        v = torch.einsum("bnc,hco->bhno", keys, self.value)  # each head's values
        nq, nk = height * width, keys.shape[1]
        q = x.new_zeros(b, heads, nq, 1)  # W_qry = 0
        k = x.new_zeros(b, heads, nk, 1)  # W_key = 0
        bias = self.encoding.dense(height, width, p).to(x.dtype)[None]
        out, w = attention(q, k, v, bias=bias, scale=1.0, return_weights=True)
        y = out.sum(1) + self.bias  # concatenate heads, W_out = stacked identities
        y = y.transpose(1, 2).reshape(b, -1, height, width)
        return (y, w) if return_weights else y


def run(out_dir: str | Path = "runs/experiments/attention-is-a-cnn", scale: str = "small",
        seed: int = 0) -> dict:
    """Random 3x3 conv (3 -> 4 channels) on random 16x16 images (32x32 at full scale), float64.

    Writes ``results.json`` (max |error| against F.conv2d for each alpha) and ``figure.png``.
    """
    torch.manual_seed(seed)
    size = 16 if scale == "small" else 32
    conv = nn.Conv2d(3, 4, 3, padding=1).double()
    x = torch.randn(2, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        target = conv(x)
    alphas = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    errors = []
    with torch.no_grad():
        for a in alphas:
            y = ConvAsAttention.from_conv(conv, a)(x)
            errors.append(float((y - target).abs().max()))
        layer = ConvAsAttention.from_conv(conv, 64.0)
        _, weights = layer(x, return_weights=True)
    result = {
        "experiment": "attention-is-a-cnn",
        "claim": "multi-head self-attention with relative positions can compute any 3x3 convolution",
        "setup": {"image": [size, size], "channels": [3, 4], "heads": 9, "seed": seed,
                  "dtype": "float64", "encoding": "quadratic (Cordonnier et al. 2020, eq. 9)"},
        "alpha": alphas,
        "max_abs_error": errors,
        "output_scale": float(target.abs().max()),
        "exact_at_alpha_64": errors[-1] < 1e-9 * max(1.0, float(target.abs().max())),
    }
    return save_results(result, out_dir, lambda r, path: _plot(r, weights[0], size, layer.pad, path))


def _plot(result: dict, weights: torch.Tensor, size: int, pad: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(11, 4.2))
    ax = fig.add_subplot(1, 2, 1)
    ax.semilogy(result["alpha"], [max(e, 1e-17) for e in result["max_abs_error"]], "o-")
    ax.set_xlabel("alpha (sharpness of each head's attention)")
    ax.set_ylabel("max |attention - conv2d|")
    ax.set_title("9-head self-attention vs a 3x3 convolution")
    ax.grid(True, which="both", alpha=0.3)
    centre = (size // 2) * size + size // 2
    side = size + 2 * pad
    for h in range(weights.shape[0]):
        sub = fig.add_subplot(3, 6, 4 + (h // 3) * 6 + (h % 3))
        sub.imshow(weights[h, centre].reshape(side, side)[size // 2 - 2 + pad: size // 2 + 3 + pad,
                                                        size // 2 - 2 + pad: size // 2 + 3 + pad],
                   cmap="viridis", vmin=0, vmax=1)
        sub.set_xticks([])
        sub.set_yticks([])
        sub.set_title(f"head {h}", fontsize=7)
    fig.text(0.73, 0.02, "each head's attention around the centre pixel (5x5 window)",
             ha="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))
