"""Fréchet distance between image sets, in the features of a Fashion-MNIST classifier.

FID (Heusel et al. 2017) fits a Gaussian to the features of each set and measures

    FID = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

with the matrix square root from ``scipy.linalg.sqrtm``. The usual extractor, Inception-v3
on ImageNet, cannot be fetched here and sees nothing of clothing on black, so the features
are the 128-d penultimate layer (after ReLU) of :class:`FashionClassifier`: a 4-layer CNN on
32x32 images in ``[-1, 1]`` (Fashion-MNIST padded by 2 pixels), trained on the training
images (``train_classifier``). Its FIDs compare models with each other under the same
extractor; they are not comparable with Inception FIDs reported elsewhere.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FashionClassifier", "features", "frechet_distance", "gaussian", "train_classifier"]


class FashionClassifier(nn.Module):
    """``(B, 1, 32, 32)`` in ``[-1, 1]`` -> ``(B, 10)`` logits; ``embed`` gives the 128-d features."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 16
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),     # 8
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 4
            nn.Flatten(), nn.Linear(128 * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 2, batch: int = 128,
                     seed: int = 0, lr: float = 2e-3) -> FashionClassifier:
    """Adam on ``(N, 1, 32, 32)`` images in ``[-1, 1]`` with their labels; returns it in eval mode."""
    torch.manual_seed(seed)
    model = FashionClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=g)
        for i in range(0, len(images), batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def features(model: FashionClassifier, images: torch.Tensor, batch: int = 500) -> np.ndarray:
    """``(N, 1, 32, 32)`` -> ``(N, 128)`` float64 features."""
    model.eval()
    parts = [model.embed(images[i:i + batch]) for i in range(0, len(images), batch)]
    return torch.cat(parts).double().numpy()


def gaussian(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``N - 1`` normalised) of ``(N, d)`` features."""
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise ValueError(f"feats: expected (N >= 2, d) features, got shape {feats.shape}")
    return feats.mean(0), np.cov(feats, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians (see the module doc); ``scipy.linalg.sqrtm``, real part
    (the imaginary part is rounding); where the product is singular (fewer samples than
    features) a 1e-6 diagonal offset is added, as in the reference implementation."""
    from scipy import linalg

    diff = mu1 - mu2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if caught or not np.isfinite(covmean).all():   # singular (fewer samples than features)
        offset = np.eye(sigma1.shape[0]) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))
