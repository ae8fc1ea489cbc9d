"""Mirroring a pixel or patch set equals patching the mirrored image."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.data import FlippedImages, SetDataset, VectorSet, flip_horizontal, patch_vectors, pixel_vectors


@settings(max_examples=40, deadline=None)
@given(patch=st.integers(1, 4), rows=st.integers(1, 4), cols=st.integers(1, 4), channels=st.integers(1, 3),
       seed=st.integers(0, 99))
def test_flip_equals_patching_the_mirrored_image(patch, rows, cols, channels, seed):
    image = np.random.default_rng(seed).integers(0, 256, (rows * patch, cols * patch, channels), dtype=np.uint8)
    x, grid = patch_vectors(image, patch)
    flipped = flip_horizontal(VectorSet(x=x, y=torch.tensor(3), grid=grid), patch)
    expected, _ = patch_vectors(image[:, ::-1], patch)  # a negative-stride view is accepted
    torch.testing.assert_close(flipped.x, expected, rtol=0, atol=0)
    assert int(flipped.y) == 3 and flipped.grid == grid
    twice = flip_horizontal(flipped, patch)
    torch.testing.assert_close(twice.x, x, rtol=0, atol=0)


def test_flip_pixels_and_bad_input():
    image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    flipped = flip_horizontal(VectorSet(x=pixel_vectors(image), grid=(3, 4)))
    torch.testing.assert_close(flipped.x, pixel_vectors(np.ascontiguousarray(image[:, ::-1])))
    with pytest.raises(ValueError, match="expected a set with a grid"):
        flip_horizontal(VectorSet(x=torch.zeros(4, 1)))
    with pytest.raises(ValueError, match="patch: expected a size whose square divides the vector size 4, got 3"):
        flip_horizontal(VectorSet(x=torch.zeros(2, 4), grid=(1, 2)), 3)


def test_flipped_dataset_mirrors_about_half_and_keeps_the_rest():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4)
    x, grid = patch_vectors(image, 2)
    data = FlippedImages(SetDataset([VectorSet(x=x, y=torch.tensor(i), grid=grid) for i in range(400)]), 2, 0.5)
    torch.manual_seed(0)
    mirrored = sum(not torch.equal(data[i].x, x) for i in range(400))
    assert 150 < mirrored < 250
    assert all(int(data[i].y) == i for i in range(0, 400, 37))
    assert torch.equal(data.examples[0].x, x)  # the stored sets are never changed
    assert len(data.subset(range(10))) == 10 and isinstance(data.subset([1]), FlippedImages)
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\], got 2"):
        FlippedImages(data, 2, 2.0)
