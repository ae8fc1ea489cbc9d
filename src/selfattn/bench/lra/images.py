"""Image as a pixel sequence (LRA, Section 3.4, "Image classification on sequences of pixels").

LRA flattens a CIFAR-10 image into a sequence of 1,024 grey-scale pixels and classifies
it; each pixel's 8-bit grey level is a token (an embedding id, not a number), and there is
no 2-D inductive bias: the model sees a 1-D sequence in raster order (row by row). No
CIFAR-10 exists offline here (``shared/DATA.md``), so the task uses Fashion-MNIST
(``fashion_mnist_dataset``: 28 x 28 grey images, 784 pixel tokens in ``[0, 255]``, 10
classes, 60,000 training / 10,000 test images, read with ``selfattn.data``), the same
kind of task at 77% of the length. ``pool=2`` averages 2 x 2 blocks (196 tokens) for
runs that must be short. scikit-learn's digits (``digits_dataset``: 8 x 8, 17 levels)
serve quick tests; ``PixelSequenceDataset`` takes any ``(N, H, W)`` integer array.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["PixelSequenceDataset", "digits_dataset", "fashion_mnist_dataset"]


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


def fashion_mnist_dataset(split: str = "train", n: int | None = None, seed: int = 0, pool: int = 1,
                          path: str | Path | None = None) -> PixelSequenceDataset:
    """Fashion-MNIST as sequences of ``(28 // pool) ** 2`` grey-level tokens in ``[0, 255]``.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000).
        n: keep ``n`` images drawn at random (seeded) from the split; None keeps all.
        pool: average ``pool x pool`` blocks, rounded to the nearest level (1: the 784
            pixels as they are; 2: 196; 4: 49).
        path: a folder with the IDX files (default: fetched and cached by ``selfattn.data``).
    """
    from ...data import fetch, read_idx

    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    if pool not in (1, 2, 4, 7, 14, 28):
        raise ValueError(f"pool: expected a divisor of 28 (1, 2, 4, 7, 14, 28), got {pool}")
    folder = Path(path) if path is not None else fetch("fashion-mnist")
    stem = "train" if split == "train" else "t10k"
    images = read_idx(_idx_file(folder, f"{stem}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(folder, f"{stem}-labels-idx1-ubyte"))
    if n is not None:
        if not 0 < n <= len(images):
            raise ValueError(f"n: expected 1..{len(images)} images of the {split} split, got {n}")
        keep = np.sort(np.random.default_rng(seed).permutation(len(images))[:n])
        images, labels = images[keep], labels[keep]
    if pool > 1:
        side = images.shape[1] // pool
        blocks = images.reshape(len(images), side, pool, side, pool).astype(np.float64)
        images = np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)
    return PixelSequenceDataset(np.ascontiguousarray(images), labels.astype(np.int64), levels=256)


def _idx_file(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"path: expected {stem}[.gz] in {folder}, it is missing")
