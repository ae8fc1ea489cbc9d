"""Pathfinder generator: every label checked by a breadth-first search on the image."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from selfattn.bench.lra.pathfinder import DOT, LINK_RADIUS, PathfinderDataset, generate_pathfinder


def _component(mask: np.ndarray, start: tuple[int, int], radius: int) -> set[tuple[int, int]]:
    """Cells of ``mask`` reachable from ``start`` by steps of Chebyshev distance <= radius."""
    seen, todo = {start}, deque([start])
    n = mask.shape[0]
    while todo:
        y, x = todo.popleft()
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                ny, nx = y + dy, x + dx
                if 0 <= ny < n and 0 <= nx < n and mask[ny, nx] and (ny, nx) not in seen:
                    seen.add((ny, nx))
                    todo.append((ny, nx))
    return seen


def dots_joined(img: np.ndarray) -> bool:
    """Find the two dots (8-connected blobs of dot pixels) and search the ink between them."""
    dots = img == DOT
    blobs = []
    left = {tuple(p) for p in np.argwhere(dots)}
    while left:
        blob = _component(dots, next(iter(left)), 1)
        blobs.append(blob)
        left -= blob
    assert len(blobs) == 2, f"expected two dots, found {len(blobs)}"
    assert all(len(b) == 9 for b in blobs), "each dot is a 3 x 3 square"
    reach = _component(img > 0, next(iter(blobs[0])), LINK_RADIUS)
    return bool(reach & blobs[1])


@pytest.mark.parametrize("size", [32, 16])
def test_labels_agree_with_a_search_on_the_drawn_image(size):
    rng = np.random.default_rng(0)
    for i in range(120):
        img, label = generate_pathfinder(rng, positive=bool(i % 2), size=size)
        assert img.shape == (size, size) and img.dtype == np.uint8
        assert dots_joined(img) == bool(label), f"example {i}"


def test_small_images_and_bad_sizes():
    data = PathfinderDataset(6, seed=1, size=16)
    pixels, _ = data[0]
    assert pixels.shape == (256,) and data.image(0).shape == (16, 16)
    with pytest.raises(ValueError, match=r"size: expected one of \(16, 32\)"):
        generate_pathfinder(np.random.default_rng(0), True, size=24)


def test_distractors_are_present_and_not_joined_to_the_dots():
    rng = np.random.default_rng(1)
    for i in range(20):
        img, _ = generate_pathfinder(rng, positive=bool(i % 2))
        ink = img > 0
        start = tuple(np.argwhere(img == DOT)[0])
        # Some ink lies outside the component of the first dot (a distractor or the other path).
        assert len(_component(ink, start, LINK_RADIUS)) < int(ink.sum())


def test_dataset_is_seeded_and_balanced():
    a, b = PathfinderDataset(10, seed=5), PathfinderDataset(10, seed=5)
    assert all(np.array_equal(a.image(i), b.image(i)) for i in range(10))
    assert sum(a.labels) == 5
    pixels, label = a[3]
    assert pixels.shape == (1024,) and int(pixels.max()) == 255 and label == 1


def test_the_amount_of_ink_is_no_shortcut_to_the_label():
    rng = np.random.default_rng(2)
    ink, labels = [], []
    for i in range(300):
        img, label = generate_pathfinder(rng, positive=bool(i % 2))
        ink.append(int((img > 0).sum()))
        labels.append(label)
    ink_a, labels_a = np.array(ink), np.array(labels)
    best = max(max(np.mean((ink_a > t) == labels_a), np.mean((ink_a <= t) == labels_a))
               for t in np.unique(ink_a))
    assert best < 0.62, f"a threshold on the ink count predicts the label with accuracy {best:.2f}"
