"""Image as a pixel sequence (LRA, Section 3.4, "Image classification on sequences of pixels").

LRA flattens a CIFAR-10 image into a sequence of 1,024 grey-scale pixels (8-bit ids) and
classifies it; there is no 2-D inductive bias. No CIFAR-10 exists offline here
(``shared/DATA.md``), so the tiny scale uses scikit-learn's handwritten digits (1,797
images, 8 x 8, 17 grey levels, 10 classes), optionally scaled up (nearest neighbour) to
``size x size`` so the sequence gets long (``size=32``: 1,024 pixels, the LRA length).
Fashion-MNIST (784 pixels, the issue's choice) plugs in through ``PixelSequenceDataset``
from any ``(N, H, W)`` uint8 array once its loader lands in ``selfattn.data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["PixelSequenceDataset", "digits_dataset"]


@dataclass
class PixelSequenceDataset(torch.utils.data.Dataset):
    """Images ``(N, H, W)`` with integer grey levels ``[0, levels)`` and labels ``(N,)``:
    item ``i`` is ``(pixels (H * W,) int64, label)``, row by row."""

    images: np.ndarray
    labels: np.ndarray
    levels: int = 256
    num_classes: int = field(init=False)

    def __post_init__(self) -> None:
        if self.images.ndim != 3:
            raise ValueError(f"images: expected a 3-D array (N, H, W), got shape {self.images.shape}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"labels: expected {len(self.images)} labels (one per image), "
                             f"got {len(self.labels)}")
        if self.images.min() < 0 or self.images.max() >= self.levels:
            raise ValueError(f"images: expected grey levels in [0, {self.levels}), got "
                             f"[{self.images.min()}, {self.images.max()}]")
        self.num_classes = int(self.labels.max()) + 1

    @property
    def vocab_size(self) -> int:
        return self.levels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[i].reshape(-1).astype(np.int64)), int(self.labels[i])


def digits_dataset(size: int = 8, split: str = "train", test_fraction: float = 0.25,
                   seed: int = 0) -> PixelSequenceDataset:
    """scikit-learn's digits as pixel sequences of length ``size**2`` (a seeded split)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("digits_dataset needs scikit-learn: pip install scikit-learn") from e
    if size % 8:
        raise ValueError(f"size: expected a multiple of 8 (the digits are 8 x 8), got {size}")
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    d = load_digits()
    images = d.images.astype(np.int64)
    images = images.repeat(size // 8, axis=1).repeat(size // 8, axis=2)
    order = np.random.default_rng(seed).permutation(len(images))
    n_test = round(test_fraction * len(images))
    idx = order[:n_test] if split == "test" else order[n_test:]
    return PixelSequenceDataset(images[idx], d.target[idx], levels=17)
