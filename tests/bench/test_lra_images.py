"""Images as pixel sequences: raster order, grey levels as tokens, labels kept."""

from __future__ import annotations

import numpy as np
import pytest

from selfattn.bench.lra.images import PixelSequenceDataset, fashion_mnist_dataset


def test_sequence_is_the_image_in_raster_order():
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 7
    data = PixelSequenceDataset(images, np.array([1, 0]), levels=7)
    pixels, label = data[1]
    assert pixels.tolist() == [images[1, r, c] for r in range(3) for c in range(4)]
    assert label == 0 and data.vocab_size == 7
    with pytest.raises(ValueError, match=r"images: expected grey levels in \[0, 5\)"):
        PixelSequenceDataset(images, np.array([1, 0]), levels=5)
    with pytest.raises(ValueError, match="labels: expected 2 labels"):
        PixelSequenceDataset(images, np.array([1]), levels=7)


@pytest.fixture(scope="module")
def raw_test_split():
    from selfattn.data import fetch, is_cached, read_idx

    if not is_cached("fashion-mnist"):
        pytest.skip("Fashion-MNIST is not cached (selfattn data get fashion-mnist)")
    folder = fetch("fashion-mnist")
    return read_idx(folder / "t10k-images-idx3-ubyte.gz"), read_idx(folder / "t10k-labels-idx1-ubyte.gz")


def test_fashion_mnist_tokens_are_the_pixels_and_labels(raw_test_split):
    images, labels = raw_test_split
    data = fashion_mnist_dataset("test")
    assert len(data) == 10_000
    for i in (0, 1, 4321, 9999):
        pixels, label = data[i]
        assert pixels.shape == (784,)
        assert pixels.tolist() == images[i].reshape(-1).tolist()  # grey levels 0..255 as ids
        assert label == int(labels[i])


def test_fashion_mnist_subset_and_pooling(raw_test_split):
    images, labels = raw_test_split
    sub = fashion_mnist_dataset("test", n=50, seed=1)
    by_pixels = {images[i].tobytes(): int(labels[i]) for i in range(len(images))}
    for i in range(len(sub)):
        pixels, label = sub[i]
        assert by_pixels[pixels.numpy().astype(np.uint8).tobytes()] == label
    pooled = fashion_mnist_dataset("test", n=50, seed=1, pool=2)
    blocks = sub.images[7].reshape(14, 2, 14, 2).astype(float).mean(axis=(1, 3))
    assert pooled[7][0].tolist() == np.rint(blocks).astype(int).reshape(-1).tolist()
    assert pooled[7][1] == sub[7][1]
    with pytest.raises(ValueError, match="pool: expected a divisor of 28"):
        fashion_mnist_dataset("test", n=5, pool=3)
    with pytest.raises(ValueError, match="split: expected 'train' or 'test'"):
        fashion_mnist_dataset("valid")
