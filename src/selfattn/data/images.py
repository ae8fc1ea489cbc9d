"""Images as sets of vectors: each pixel a vector, or each patch a vector (ViT).

The lecture's view of an ``H x W`` image: ``H * W`` pixel vectors of ``C`` channels (3-D
for RGB, 1-D for grey), ``x`` ``(H * W, C)`` in row-major order; or, as in the Vision
Transformer, non-overlapping ``p x p`` patches flattened to ``x`` ``(H/p * W/p, p*p*C)``.
Either way ``grid = (rows, cols)`` travels with the set so 2-D attention patterns and
2-D positional encodings know where each vector sits. Pixel values are scaled to
``[0, 1]``.

Data sets: Fashion-MNIST (Debian ``dataset-fashion-mnist``, IDX files, 60,000 train /
10,000 test 28x28, 10 classes) and scikit-learn's digits (1,797 8x8 images with values
0..16, bundled with scikit-learn: for fast tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch

from .idx import read_idx
from .registry import fetch
from .sets import SetDataset, VectorSet

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FlippedImages",
    "flip_horizontal",
    "image_sets",
    "load_digits",
    "load_fashion_mnist",
    "patch_vectors",
    "pixel_vectors",
]

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")


def _as_hwc(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        array = np.asarray(image)
        # a mirrored view (image[:, ::-1]) has negative strides, which torch cannot wrap
        image = torch.as_tensor(array.copy() if any(s < 0 for s in array.strides) else array)
    if image.dim() == 2:
        image = image[:, :, None]
    if image.dim() != 3:
        raise ValueError(f"image: expected (height, width) or (height, width, channels), "
                         f"got shape {tuple(image.shape)}")
    return image


def pixel_vectors(image: torch.Tensor | np.ndarray, scale: float = 255.0) -> torch.Tensor:
    """``(H, W)`` or ``(H, W, C)`` -> ``(H * W, C)`` float32 pixel vectors divided by ``scale``."""
    image = _as_hwc(image)
    return image.reshape(-1, image.shape[2]).float() / scale


def patch_vectors(image: torch.Tensor | np.ndarray, patch: int, scale: float = 255.0
                  ) -> tuple[torch.Tensor, tuple[int, int]]:
    """``(H, W[, C])`` -> ``((H/p * W/p, p*p*C), (H/p, W/p))``: flattened ``p x p`` patches in
    row-major patch order, each patch row-major inside. ``H`` and ``W`` must be multiples of
    ``patch`` (nothing is cropped)."""
    image = _as_hwc(image)
    h, w, c = image.shape
    if patch < 1 or h % patch or w % patch:
        raise ValueError(f"patch: expected a size dividing height {h} and width {w}, got {patch}")
    rows, cols = h // patch, w // patch
    patches = image.reshape(rows, patch, cols, patch, c).permute(0, 2, 1, 3, 4)
    return patches.reshape(rows * cols, patch * patch * c).float() / scale, (rows, cols)


def flip_horizontal(example: VectorSet, patch: int = 1) -> VectorSet:
    """The mirror image (left <-> right) of a pixel (``patch=1``) or patch set, without the image.

    A set of ``p x p`` patches on a ``rows x cols`` grid (:func:`patch_vectors` order) is
    reshaped to ``(rows, cols, p, p, C)``; reversing the patch columns and the pixel columns
    inside each patch gives exactly ``patch_vectors(image[:, ::-1], p)``.
    """
    if example.grid is None:
        raise ValueError(f"example ({example.source}): expected a set with a grid (an image), got none")
    rows, cols = example.grid
    dim = example.x.shape[1]
    if patch < 1 or dim % (patch * patch):
        raise ValueError(f"patch: expected a size whose square divides the vector size {dim}, got {patch}")
    x = example.x.reshape(rows, cols, patch, patch, dim // (patch * patch)).flip(1).flip(3)
    return VectorSet(x=x.reshape(example.x.shape), y=example.y, grid=example.grid, source=example.source)


class FlippedImages(SetDataset):
    """Training-time augmentation: each image is mirrored with probability ``p`` when drawn.

    The draw uses torch's global generator (seeded by the trainer), so a seeded run repeats.
    Lengths, labels and grids are those of the wrapped sets; ``examples`` are unflipped.
    """

    def __init__(self, data: SetDataset, patch: int = 1, p: float = 0.5) -> None:
        super().__init__(data.examples, data.info)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: expected a probability in [0, 1], got {p}")
        self.patch, self.p = int(patch), float(p)

    def __getitem__(self, index: int) -> VectorSet:
        example = self.examples[index]
        if self.p > 0 and float(torch.rand(())) < self.p:
            return flip_horizontal(example, self.patch)
        return example

    def subset(self, indices) -> FlippedImages:
        return FlippedImages(super().subset(indices), self.patch, self.p)


def image_sets(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor,
               vectors: Literal["pixels", "patches"] = "pixels", patch: int = 4,
               scale: float = 255.0, source: str = "") -> SetDataset:
    """``(count, H, W[, C])`` images + ``(count,)`` labels -> a :class:`SetDataset` of
    pixel or patch sets with per-set labels and their ``grid``."""
    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels)).long()
    if images.dim() not in (3, 4):
        raise ValueError(f"images: expected (count, height, width[, channels]), got shape "
                         f"{tuple(images.shape)}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels: expected shape ({images.shape[0]},) (one per image), got "
                         f"{tuple(labels.shape)}")
    if vectors not in ("pixels", "patches"):
        raise ValueError(f"vectors: expected 'pixels' or 'patches', got {vectors!r}")
    examples = []
    for i in range(images.shape[0]):
        if vectors == "pixels":
            x, grid = pixel_vectors(images[i], scale), (images.shape[1], images.shape[2])
        else:
            x, grid = patch_vectors(images[i], patch, scale)
        examples.append(VectorSet(x=x, y=labels[i], grid=grid, source=f"{source}[{i}]"))
    return SetDataset(examples, {"labels": "set"})


def load_fashion_mnist(split: Literal["train", "test"] = "train",
                       vectors: Literal["pixels", "patches"] = "pixels", patch: int = 7,
                       path: str | Path | None = None, limit: int | None = None) -> SetDataset:
    """Fashion-MNIST as sets (fetched from Debian and cached, or IDX files in ``path``).

    ``limit`` keeps the first ``limit`` images (for quick runs; recorded in ``info``).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    folder = Path(path) if path is not None else fetch("fashion-mnist")
    stem = "train" if split == "train" else "t10k"
    images = read_idx(_find(folder, f"{stem}-images-idx3-ubyte"))
    labels = read_idx(_find(folder, f"{stem}-labels-idx1-ubyte"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{folder}: {images.shape[0]} images but {labels.shape[0]} labels")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    data = image_sets(images, labels, vectors, patch, source=f"{folder}/{stem}")
    data.info.update(classes=list(FASHION_MNIST_CLASSES), limit=limit)
    return data


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"path: expected {stem}[.gz] in {folder}, it is missing")


def load_digits(vectors: Literal["pixels", "patches"] = "pixels", patch: int = 2) -> SetDataset:
    """scikit-learn's 1,797 8x8 digits (values 0..16, scaled to [0, 1]) as sets."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    data = image_sets(bunch.images.astype(np.float32), bunch.target, vectors, patch,
                      scale=16.0, source="sklearn-digits")
    data.info.update(classes=[str(d) for d in range(10)])
    return data
