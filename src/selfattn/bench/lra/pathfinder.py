"""Pathfinder: are the two dots joined by a dashed path? (LRA, Section 3.5; Linsley et al. 2018)

"Long Range Arena", Tay et al. 2021, Section 3.5, after Linsley et al. 2018 ("Learning
long-range spatial dependencies with horizontal gated recurrent units"): a 32 x 32
grey-scale image shows two dots and several dashed curves; the label says whether the
two dots are connected by one path; the model reads the 1,024 pixels as a sequence.
Written from that description (no code of either benchmark is used):

* a curve is a random walk on the 8-neighbour grid that turns by at most 45 degrees per
  step (a smooth contour), 10-22 steps long (6-11 on a 16 x 16 image), never revisiting
  a cell;
* it is drawn dashed: 2 pixels on, 1 off, so consecutive drawn pixels are at most 2 apart
  (Chebyshev distance) along the curve;
* a dot is a 3 x 3 square centred on a curve's end point;
* different curves (with their dots) stay at least 4 pixels apart (Chebyshev; 3 on a
  16 x 16 image), so "joined"
  is well defined: two inked pixels belong together iff a chain of inked pixels links
  them with steps of Chebyshev distance <= 2 (``LINK_RADIUS``). The tests check every
  label this way with a breadth-first search on the drawn image;
* positive: one curve carries both dots; negative: two curves carry one dot each; the
  rest are distractors without dots, and both classes have the same number of curves
  (3-5; 2-3 on a 16 x 16 image) and of dots, so the amount of ink is no shortcut to the
  label. Classes are balanced.

``size`` is 32 (LRA's Pathfinder-32, 1,024 pixels) or 16 (256 pixels: a shortened task
for runs that must be short, same rules at half the scale).

Pixels: background 0, curve 160, dot 255 (``uint8``). ``PathfinderDataset`` is seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["LINK_RADIUS", "PathfinderDataset", "generate_pathfinder"]

SIZE = 32
SIZES = (16, 32)
LINK_RADIUS = 2  # dashes leave 1-pixel gaps: pixels 2 apart along a curve still link
# Per image size: clearance between curves (> LINK_RADIUS, so different curves never
# link), curve lengths [lo, hi) and the range [lo, hi) of k (a negative has 2 + k curves).
_GEOMETRY = {32: {"clearance": 4, "length": (10, 23), "k": (1, 4)},
             16: {"clearance": 3, "length": (5, 8), "k": (0, 2)}}
_DIRS = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]
CURVE, DOT = 160, 255


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Cells within Chebyshev distance ``r`` of a True cell."""
    out = np.zeros_like(mask)
    padded = np.pad(mask, r)
    n = mask.shape[0]
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= padded[dy:dy + n, dx:dx + n]
    return out


def _walk(rng: np.random.Generator, forbidden: np.ndarray, length: int) -> list[tuple[int, int]] | None:
    """A smooth self-avoiding walk of ``length`` cells avoiding ``forbidden``, or None."""
    size = forbidden.shape[0]
    free = np.argwhere(~forbidden[2:-2, 2:-2]) + 2  # keep room for a 3x3 dot at the ends
    if len(free) == 0:
        return None
    y, x = free[rng.integers(len(free))]
    d = int(rng.integers(8))
    path = [(int(y), int(x))]
    seen = {path[0]}
    while len(path) < length:
        turns = [0, 0, 0, 1, -1]
        rng.shuffle(turns)
        for t in turns:  # straight (3 in 5) or a 45-degree turn
            nd = (d + t) % 8
            ny, nx = path[-1][0] + _DIRS[nd][0], path[-1][1] + _DIRS[nd][1]
            if 2 <= ny < size - 2 and 2 <= nx < size - 2 and not forbidden[ny, nx] \
                    and (ny, nx) not in seen:
                d = nd
                path.append((ny, nx))
                seen.add((ny, nx))
                break
        else:
            return None
    return path


def _place(rng: np.random.Generator, occupied: np.ndarray, dots: int) -> list | None:
    """Place one curve (with ``dots`` dots at its ends) clear of ``occupied``; updates it."""
    geometry = _GEOMETRY[occupied.shape[0]]
    forbidden = _dilate(occupied, geometry["clearance"] - 1)
    for _ in range(30):
        path = _walk(rng, forbidden, int(rng.integers(*geometry["length"])))
        if path is None:
            continue
        ends = [path[0], path[-1]][:dots] if dots else []
        if dots == 2 and max(abs(path[0][0] - path[-1][0]), abs(path[0][1] - path[-1][1])) < 5:
            continue  # the two dots must be distinct blobs
        cells = np.zeros_like(occupied)
        for y, x in path:
            cells[y, x] = True
        for y, x in ends:
            cells[y - 1:y + 2, x - 1:x + 2] = True
        if (cells & forbidden).any():  # a dot reached too close to another curve
            continue
        occupied |= cells
        return [path, ends]
    return None


def generate_pathfinder(rng: np.random.Generator, positive: bool, size: int = SIZE
                        ) -> tuple[np.ndarray, int]:
    """One ``(image (size, size) uint8, label)``; ``label = 1`` iff the dots are joined."""
    if size not in SIZES:
        raise ValueError(f"size: expected one of {SIZES}, got {size!r}")
    while True:
        occupied = np.zeros((size, size), dtype=bool)
        # Both classes draw the same number of curves (2 + k), so counting ink says nothing.
        k = int(rng.integers(*_GEOMETRY[size]["k"]))
        dotted = [_place(rng, occupied, 2)] if positive else [_place(rng, occupied, 1),
                                                               _place(rng, occupied, 1)]
        distractors = [_place(rng, occupied, 0) for _ in range(k + int(positive))]
        if any(c is None for c in [*dotted, *distractors]):
            continue
        img = np.zeros((size, size), dtype=np.uint8)
        for curve in [*dotted, *distractors]:
            path, ends = curve
            for i, (y, x) in enumerate(path):
                if i % 3 != 2:  # dashes: 2 on, 1 off
                    img[y, x] = CURVE
            for y, x in ends:
                img[y - 1:y + 2, x - 1:x + 2] = DOT
        return img, int(positive)


@dataclass
class PathfinderDataset(torch.utils.data.Dataset):
    """``n`` seeded, balanced examples: item ``i`` is ``(pixels (size**2,) int64 in [0, 255],
    label)``; ``image(i)`` gives the ``(size, size)`` picture."""

    n: int
    seed: int = 0
    size: int = SIZE

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.images, self.labels = [], []
        for i in range(self.n):
            img, label = generate_pathfinder(rng, positive=bool(i % 2), size=self.size)
            self.images.append(img)
            self.labels.append(label)

    def __len__(self) -> int:
        return self.n

    def image(self, i: int) -> np.ndarray:
        return self.images[i]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[i].reshape(-1).astype(np.int64)), self.labels[i]

    num_classes = 2
    vocab_size = 256
