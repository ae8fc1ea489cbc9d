import gzip

import numpy as np
import pytest
import torch

from selfattn.data import (
    collate,
    image_sets,
    load_digits,
    load_fashion_mnist,
    patch_vectors,
    pixel_vectors,
    read_idx,
    write_idx,
)


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_idx_round_trip(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    again = read_idx(tmp_path / name)
    assert again.dtype == np.uint8 and np.array_equal(again, images)
    floats = np.linspace(-1, 1, 6).astype(np.float32)
    write_idx(tmp_path / "f.idx", floats)
    assert np.array_equal(read_idx(tmp_path / "f.idx"), floats)


def test_idx_header_is_checked(tmp_path):
    path = tmp_path / "labels.idx"
    write_idx(path, np.arange(10, dtype=np.uint8))
    raw = path.read_bytes()
    assert raw[:8] == bytes([0, 0, 8, 1, 0, 0, 0, 10])  # the 8-byte label header
    (tmp_path / "magic.idx").write_bytes(b"\x01\x00" + raw[2:])
    with pytest.raises(ValueError, match=r"magic.idx: header bytes 0-3 are 01 00 08 01"):
        read_idx(tmp_path / "magic.idx")
    (tmp_path / "type.idx").write_bytes(raw[:2] + b"\x07" + raw[3:])
    with pytest.raises(ValueError, match=r"type.idx: header byte 2 is type code 0x07"):
        read_idx(tmp_path / "type.idx")
    (tmp_path / "short.idx").write_bytes(raw[:-3])
    with pytest.raises(ValueError, match=r"short.idx: truncated.*record 7 \(from 0\)"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "long.idx").write_bytes(raw + b"\x00")
    with pytest.raises(ValueError, match=r"long.idx: 1 bytes after the 10 records"):
        read_idx(tmp_path / "long.idx")
    (tmp_path / "broken.idx.gz").write_bytes(gzip.compress(raw)[:-10])
    with pytest.raises(ValueError, match=r"broken.idx.gz: cannot be read as gzip"):
        read_idx(tmp_path / "broken.idx.gz")


def test_pixels_and_patches_keep_the_grid():
    image = torch.arange(4 * 6 * 3, dtype=torch.uint8).reshape(4, 6, 3)
    pixels = pixel_vectors(image)
    assert pixels.shape == (24, 3)
    assert torch.equal(pixels[7], image[1, 1].float() / 255)  # row-major: row 1, col 1
    patches, grid = patch_vectors(image, 2)
    assert patches.shape == (6, 12) and grid == (2, 3)
    # patch (1, 2) covers rows 2-3, cols 4-5
    assert torch.equal(patches[5].reshape(2, 2, 3), image[2:4, 4:6].float() / 255)
    with pytest.raises(ValueError, match=r"patch: expected a size dividing height 4 and width 6"):
        patch_vectors(image, 4)
    with pytest.raises(ValueError, match=r"image: expected"):
        pixel_vectors(torch.zeros(2, 2, 2, 2))


def test_image_sets_from_idx_files_batch_with_grids(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 4, 5], dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels)
    data = load_fashion_mnist("train", vectors="patches", patch=7, path=tmp_path)
    assert len(data) == 6 and data[0].x.shape == (16, 49) and data[0].grid == (4, 4)
    batch = collate([data[0], data[1]], "padded", "set")
    assert batch.grids.tolist() == [[4, 4], [4, 4]] and batch.y.tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"labels: expected shape \(6,\)"):
        image_sets(images, labels[:5])
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte"):
        load_fashion_mnist("test", path=tmp_path)


def test_sklearn_digits_as_sets():
    pytest.importorskip("sklearn")
    data = load_digits()
    assert len(data) == 1797 and data[0].x.shape == (64, 1) and data[0].grid == (8, 8)
    assert float(max(e.x.max() for e in data)) == 1.0
    patches = load_digits(vectors="patches", patch=2)
    assert patches[0].x.shape == (16, 4)


def test_real_fashion_mnist(real_data):
    folder = real_data("fashion-mnist")
    test = load_fashion_mnist("test", path=folder)
    assert len(test) == 10000 and test[0].x.shape == (784, 1)
    counts = torch.bincount(torch.stack([e.y for e in test]), minlength=10)
    assert counts.tolist() == [1000] * 10
    assert read_idx(folder / "train-labels-idx1-ubyte.gz").shape == (60000,)
