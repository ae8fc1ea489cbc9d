"""A small Self-Attention GAN for 32x32 grey images (Zhang et al. 2019), with or without attention.

Generator: ``z`` (``latent``) -> linear -> ``4 x 4`` map of ``8 w`` channels -> three
(nearest upsample x2, 3x3 conv, batch norm, ReLU) blocks to ``32 x 32`` -> 3x3 conv -> tanh.
Discriminator: three (3x3 conv, LeakyReLU 0.1, 4x4 stride-2 conv, LeakyReLU) blocks from
``32 x 32`` to ``4 x 4`` -> linear -> one score. With ``attention=True`` a
:class:`~selfattn.nn.SelfAttention2d` block (gate ``gamma`` at 0, so both start as the plain
CNN) sits on the ``16 x 16`` map of each network, where the paper found attention on
middle-to-high level features most useful. As in SAGAN, every convolution and linear
layer of both networks is spectrally normalised, the loss is the hinge loss

    L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],     L_G = -E[D(G(z))]

and the two networks learn at two time scales (TTUR: Adam, betas ``(0, 0.9)``, the
discriminator at 4e-4, the generator at 1e-4; see :func:`sagan_step`).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from .attention2d import SelfAttention2d

__all__ = ["Discriminator", "Generator", "make_optimizers", "sagan_step"]


class Generator(nn.Module):
    """``z (B, latent)`` -> images ``(B, channels, 32, 32)`` in ``[-1, 1]``."""

    def __init__(self, latent: int = 64, width: int = 32, channels: int = 1, attention: bool = True) -> None:
        super().__init__()
        self.latent, self.width = latent, width
        self.fc = spectral_norm(nn.Linear(latent, 4 * 4 * 8 * width))
        chans = [8 * width, 4 * width, 2 * width, width]
        self.blocks = nn.ModuleList(nn.Sequential(
            nn.Upsample(scale_factor=2), spectral_norm(nn.Conv2d(a, b, 3, padding=1)), nn.BatchNorm2d(b),
            nn.ReLU()) for a, b in pairwise(chans))
        self.attention = SelfAttention2d(2 * width, spectral_norm=True) if attention else None
        self.to_image = spectral_norm(nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, z: torch.Tensor, return_weights: bool = False):
        x = self.fc(z).reshape(z.shape[0], 8 * self.width, 4, 4)
        weights = None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == 1 and self.attention is not None:   # the 16 x 16 map
                if return_weights:
                    x, weights = self.attention(x, return_weights=True)
                else:
                    x = self.attention(x)
        image = torch.tanh(self.to_image(x))
        return (image, weights) if return_weights else image


class Discriminator(nn.Module):
    """Images ``(B, channels, 32, 32)`` -> scores ``(B,)`` (higher = real)."""

    def __init__(self, width: int = 32, channels: int = 1, attention: bool = True) -> None:
        super().__init__()
        chans = [channels, width, 2 * width, 4 * width]
        self.blocks = nn.ModuleList(nn.Sequential(
            spectral_norm(nn.Conv2d(a, b, 3, padding=1)), nn.LeakyReLU(0.1),
            spectral_norm(nn.Conv2d(b, b, 4, stride=2, padding=1)), nn.LeakyReLU(0.1))
            for a, b in pairwise(chans))
        self.attention = SelfAttention2d(width, spectral_norm=True) if attention else None
        self.fc = spectral_norm(nn.Linear(4 * width * 4 * 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == 0 and self.attention is not None:   # the 16 x 16 map
                x = self.attention(x)
        return self.fc(x.flatten(1)).squeeze(1)


def make_optimizers(g: Generator, d: Discriminator, lr_g: float = 1e-4, lr_d: float = 4e-4):
    """TTUR: Adam with betas ``(0, 0.9)``, the discriminator 4x faster by default."""
    return (torch.optim.Adam(g.parameters(), lr=lr_g, betas=(0.0, 0.9)),
            torch.optim.Adam(d.parameters(), lr=lr_d, betas=(0.0, 0.9)))


def sagan_step(g: Generator, d: Discriminator, opt_g, opt_d, real: torch.Tensor,
               generator: torch.Generator | None = None) -> dict[str, float]:
    """One discriminator and one generator update with the hinge loss on a batch of ``real``
    images in ``[-1, 1]``; returns both losses and the mean scores."""
    z = torch.randn(real.shape[0], g.latent, generator=generator).to(real)
    fake = g(z)
    d_real, d_fake = d(real), d(fake.detach())
    loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    loss_g = -d(fake).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": d_real.mean().item(),
            "d_fake": d_fake.mean().item()}
