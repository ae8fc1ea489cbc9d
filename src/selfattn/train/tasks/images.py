"""Image classification: an image is a set of pixel or patch vectors on a grid.

The lecture's image as a set: ``H x W`` pixels of ``C`` channels, or (Vision Transformer)
``p x p`` patches flattened to ``p*p*C``-vectors, ``grid = (H/p, W/p)``. Attention may be
full, or limited to 2-D neighbourhoods (``model.pattern: grid``, ``window`` = how many
cells away on each axis). Fashion-MNIST (70,000 28x28) or scikit-learn's 8x8 digits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ...data import FlippedImages, load_digits, load_fashion_mnist, patch_vectors, pixel_vectors
from ...data.sets import VectorSet
from ..errors import ConfigError
from .base import Task, TaskData, feature_stats, limit

__all__ = ["ImageTask"]


class ImageTask(Task):
    data_format = (
        "A folder of Fashion-MNIST-style IDX files: ``train-images-idx3-ubyte.gz``, ``train-labels-"
        "idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz`` (gzip or plain).")
    name = "image"
    kind = "set"
    modality = "images"
    patterns = ("none", "grid", "window")
    model_kinds = ("transformer", "mlp", "cnn", "cnn2d", "lstm", "gru", "rnn")
    data_defaults: ClassVar[dict[str, Any]] = {"dataset": "fashion-mnist", "path": None, "vectors": "patches",
                                               "patch": 4, "validation": 5000, "split_seed": 0, "limit": None,
                                               "test_limit": None, "flip": 0.0}

    def check_data(self, d: dict) -> None:
        if d["dataset"] not in ("fashion-mnist", "digits"):
            raise ConfigError(f"data.dataset: expected 'fashion-mnist' or 'digits', got {d['dataset']!r}")
        if d["vectors"] not in ("pixels", "patches"):
            raise ConfigError(f"data.vectors: expected 'pixels' or 'patches', got {d['vectors']!r}")
        if not 0.0 <= float(d["flip"]) <= 1.0:
            raise ConfigError(f"data.flip: expected a probability in [0, 1] (training images mirrored "
                              f"left-right), got {d['flip']!r}")

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        if d["dataset"] == "digits":
            full = load_digits(d["vectors"], d["patch"])
            train, validation, test = full.split([0.7, 0.15, 0.15], d["split_seed"])
            classes = full.info["classes"]
        else:
            train_all = load_fashion_mnist("train", d["vectors"], d["patch"], d["path"])
            test = load_fashion_mnist("test", d["vectors"], d["patch"], d["path"], limit=d["test_limit"])
            n_val = int(d["validation"])
            train, validation = train_all.split([1 - n_val / len(train_all), n_val / len(train_all)],
                                                d["split_seed"])
            classes = train_all.info["classes"]
        train = limit(train, d["limit"])
        validation = limit(validation, d["limit"])
        mean, std = feature_stats(train)
        if float(d["flip"]) > 0:
            train = FlippedImages(train, d["patch"] if d["vectors"] == "patches" else 1, float(d["flip"]))
        first = train.examples[0]
        spec = {"task": "set", "target": "class", "outputs": len(classes),
                "input": {"kind": "features", "dim": first.x.shape[1]}, "feature_mean": mean,
                "feature_std": std, "max_len": len(first), "grid": list(first.grid)}
        return TaskData(train, validation, test, spec=spec, state={"classes": classes},
                        info={"sizes": [len(train), len(validation), len(test)], "grid": list(first.grid)})

    def read_input(self, path: Path, state: dict, cfg: dict):
        """A ``.npy`` array of grey images ``(count, H, W)`` (or one ``(H, W)``), values 0..255."""
        images = np.load(path, allow_pickle=False)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3:
            raise ValueError(f"{path}: expected an array (count, height, width), got shape {images.shape}")
        d = cfg["data"]
        scale = 16.0 if d["dataset"] == "digits" else 255.0
        sets = []
        for i, image in enumerate(images):
            if d["vectors"] == "pixels":
                x, grid = pixel_vectors(image, scale), image.shape
            else:
                x, grid = patch_vectors(image, d["patch"], scale)
            sets.append(VectorSet(x=x, grid=tuple(grid), source=f"{path}[{i}]"))
        return sets, [f"{path.name}[{i}]" for i in range(len(sets))]

    def format_prediction(self, display, prediction, state) -> str:
        return f"{display}\t{state['classes'][int(prediction)]}"
