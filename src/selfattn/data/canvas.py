"""A detection set made of real images: Fashion-MNIST items placed on a larger canvas.

Each canvas (``size x size`` grey, default 64) holds ``min_objects..max_objects`` items drawn
from a Fashion-MNIST split, each resized to a random side in ``[min_side, max_side]`` pixels
and placed at a random position, composited by a pixel-wise maximum. An item is placed
only where its box overlaps every box already there by IoU at most ``max_iou`` and covers
at most ``max_cover`` of the smaller box (so no item hides inside another's box; up to 50
tries, else it is left out, so a canvas may hold fewer than drawn). The label of an item is
its Fashion-MNIST class; its box is the tight box of its pixels above ``threshold`` (the
28x28 frames have empty margins), ``xyxy`` in pixels. Everything is drawn from one seeded
generator: the same ``seed`` gives the same canvases. Training canvases take items from
the training images, held-out canvases from the test images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .idx import read_idx
from .registry import fetch

__all__ = ["Canvases", "fashion_mnist_arrays", "make_canvases"]


@dataclass
class Canvases:
    """``images`` float ``(N, 1, S, S)`` in ``[0, 1]``; per canvas ``boxes[i]`` float
    ``(n_i, 4)`` xyxy pixels and ``labels[i]`` int64 ``(n_i,)``; ``classes`` the label names."""

    images: torch.Tensor
    boxes: list[torch.Tensor]
    labels: list[torch.Tensor]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return self.images.shape[0]

    def subset(self, indices) -> Canvases:
        indices = list(indices)
        return Canvases(self.images[indices], [self.boxes[i] for i in indices],
                        [self.labels[i] for i in indices], self.classes)


def fashion_mnist_arrays(split: str = "train", path: str | Path | None = None
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 28, 28), labels int (N,))`` of a Fashion-MNIST split (cached from
    Debian, or IDX files in ``path``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
    folder = Path(path) if path is not None else fetch("fashion-mnist")
    stem = "train" if split == "train" else "t10k"
    found = []
    for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
        names = [folder / f"{stem}-{kind}{ext}" for ext in (".gz", "")]
        hit = next((n for n in names if n.is_file()), None)
        if hit is None:
            raise FileNotFoundError(f"path: expected {stem}-{kind}[.gz] in {folder}, it is missing")
        found.append(read_idx(hit))
    return found[0], found[1]


def _tight_box(item: torch.Tensor, threshold: float) -> tuple[int, int, int, int] | None:
    on = item > threshold
    if not on.any():
        return None
    ys, xs = torch.nonzero(on, as_tuple=True)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _overlap(a, b) -> tuple[float, float]:
    """IoU of two xyxy boxes, and their intersection over the smaller one's area."""
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area_a + area_b - inter), inter / min(area_a, area_b)


def make_canvases(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, count: int,
                  size: int = 64, min_objects: int = 1, max_objects: int = 6, min_side: int = 16,
                  max_side: int = 32, max_iou: float = 0.2, max_cover: float = 0.3, threshold: float = 0.1,
                  seed: int = 0,
                  classes: tuple[str, ...] | None = None) -> Canvases:
    """``count`` canvases from ``(M, h, w)`` uint8 item images and their ``(M,)`` labels."""
    from .images import FASHION_MNIST_CLASSES

    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels)).long()
    if images.dim() != 3 or labels.shape != images.shape[:1]:
        raise ValueError(f"images, labels: expected (M, h, w) and (M,), got {tuple(images.shape)} and "
                         f"{tuple(labels.shape)}")
    if not 1 <= min_objects <= max_objects:
        raise ValueError(f"min_objects, max_objects: expected 1 <= min <= max, got {min_objects}, "
                         f"{max_objects}")
    if not 1 <= min_side <= max_side <= size:
        raise ValueError(f"min_side, max_side: expected 1 <= min <= max <= size={size}, got {min_side}, "
                         f"{max_side}")
    g = torch.Generator().manual_seed(int(seed))
    out = torch.zeros(count, 1, size, size)
    all_boxes, all_labels = [], []
    for n in range(count):
        wanted = int(torch.randint(min_objects, max_objects + 1, (), generator=g))
        boxes, labs = [], []
        for _ in range(wanted):
            index = int(torch.randint(len(images), (), generator=g))
            side = int(torch.randint(min_side, max_side + 1, (), generator=g))
            item = F.interpolate(images[index][None, None].float() / 255.0, size=(side, side),
                                 mode="bilinear", antialias=True, align_corners=False)[0, 0]
            tight = _tight_box(item, threshold)
            if tight is None:
                continue
            for _try in range(50):
                x = int(torch.randint(size - side + 1, (), generator=g))
                y = int(torch.randint(size - side + 1, (), generator=g))
                box = (x + tight[0], y + tight[1], x + tight[2], y + tight[3])
                overlaps = [_overlap(box, b) for b in boxes]
                if all(iou <= max_iou and cover <= max_cover for iou, cover in overlaps):
                    region = out[n, 0, y:y + side, x:x + side]
                    torch.maximum(region, item, out=region)
                    boxes.append(box)
                    labs.append(int(labels[index]))
                    break
        all_boxes.append(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4))
        all_labels.append(torch.tensor(labs, dtype=torch.long))
    return Canvases(out, all_boxes, all_labels, tuple(classes or FASHION_MNIST_CLASSES))
