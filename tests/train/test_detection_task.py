"""The detr task: its preset checks, and a tiny end-to-end run on fake Fashion-MNIST files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from selfattn.data.idx import write_idx
from selfattn.train.config import ConfigError, check_config, resolve_config


def _fake(folder, n_train=200, n_test=60):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i in range(n):
            h, w = rng.integers(10, 26, 2)
            images[i, 2:2 + h, 3:3 + w] = 220
        write_idx(folder / f"{stem}-images-idx3-ubyte", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels)
    return folder


def test_preset_is_valid_and_bad_counts_are_config_errors():
    check_config(resolve_config("detr"))
    with pytest.raises(ConfigError, match=r"data\.queries"):
        check_config(resolve_config("detr", overrides=["data.queries=3"]))
    with pytest.raises(ConfigError, match=r"data\.train"):
        check_config(resolve_config("detr", overrides=["data.train=0"]))


def test_tiny_fit_writes_a_run(tmp_path):
    pytest.importorskip("pycocotools")
    from selfattn.cli import main

    data = _fake(tmp_path / "fm")
    folder = tmp_path / "run"
    # through `selfattn train detr` itself: the task's own loop behind train()'s run directory
    assert main(["train", "detr", "--quiet", f"data.path={data}", "data.train=16", "data.validation=8", "data.test=8", "data.size=32",
                    "data.max_side=16", "data.min_side=10", "data.max_objects=2", "data.queries=3",
                    "data.backbone=[8, 8]", "model.width=16", "model.ff=32", "model.heads=2", "model.depth=1",
                    "model.decoder_depth=1", "trainer.max_epochs=2", "trainer.batch_size=8",
                    f"run.dir={folder}"]) == 0
    results = json.loads((folder / "results.json").read_text())
    for key in ("test_map", "test_map_50"):
        assert 0.0 <= results[key] <= 1.0
    assert results["epochs"] == 2 and results["steps"] == 4
    for name in ("config.yaml", "metrics.csv", "model.safetensors", "results.json", "predictions.png",
                 "query_attention.png"):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "status.json").read_text())["status"] == "done"

    from selfattn.train.tasks.detection import predict_images

    images = (np.random.default_rng(0).random((2, 32, 32)) * 255).astype(np.uint8)
    np.save(tmp_path / "images.npy", images)
    found = predict_images(folder, tmp_path / "images.npy", out=tmp_path / "boxes.png", min_score=0.0)
    assert len(found) == 2 and found[0]["boxes"].shape == (3, 4) and (tmp_path / "boxes.png").is_file()
    with pytest.raises(ValueError, match=r"data\.size"):
        predict_images(folder, np.zeros((1, 16, 16)))

    # `selfattn predict RUN image.png`: a PNG of another size is resized to the canvas and the boxes
    # scaled back to its pixels; the same canvas as .npy gives the same boxes at the canvas's scale
    from PIL import Image

    from selfattn.cli import main as cli
    from selfattn.train.predictor import Predictor
    from selfattn.train.tasks.detection import DetrPredictor

    predictor = Predictor.from_run(folder)
    assert isinstance(predictor, DetrPredictor)
    predictor.min_score = 0.0   # an untrained model: keep every query
    canvas = np.zeros((32, 32), dtype=np.uint8)
    canvas[4:20, 8:24] = 220
    np.save(tmp_path / "one.npy", canvas)
    Image.fromarray(canvas).resize((64, 64), Image.NEAREST).save(tmp_path / "one.png")
    [small] = predictor.predict_file(tmp_path / "one.npy")
    [big] = predictor.predict_file(tmp_path / "one.png")
    assert len(small.input) == 3 and len(big.input) == 3 and (folder / "predict" / "one.boxes.png").is_file()
    assert (folder / "predict" / "one.attention.png").is_file()
    assert big.labels == small.labels
    np.testing.assert_allclose(np.array(big.input), 2 * np.array(small.input), atol=2.5)
    assert all(0 <= v <= 64 for box in big.input for v in box)
    (tmp_path / "bad.png").write_text("not an image")
    assert cli(["predict", str(folder), str(tmp_path / "bad.png")]) != 0
