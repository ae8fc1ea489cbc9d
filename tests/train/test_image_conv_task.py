"""The image-conv task (fashion-mnist-conv / -cnn presets) and the sagan task: config checks and
tiny end-to-end runs on fake Fashion-MNIST files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from selfattn.data.idx import write_idx
from selfattn.train.config import ConfigError, resolve_config


def _fake(folder, n_train=120, n_test=40):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        for i in range(n):  # class k: a bar of height 6 + 2k, so the classes differ
            w = rng.integers(6, 20)
            images[i, 4:10 + 2 * labels[i], 4:4 + w] = 200
        write_idx(folder / f"{stem}-images-idx3-ubyte", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels)
    return folder


@pytest.mark.parametrize(("preset", "override", "match"), [
    ("fashion-mnist-conv", "model.pattern=window", r"model\.pattern"),
    ("fashion-mnist-conv", "model.positional=rope", r"model\.positional"),
    ("fashion-mnist-cnn", "data.flip=1.5", r"data\.flip"),
    ("fashion-mnist-cnn", "data.shift=-1", r"data\.shift"),
    ("sagan", "data.fid_samples=1", r"data\.fid_samples"),
    ("sagan", "model.pattern=grid", r"model\.pattern"),
])
def test_bad_options_are_config_errors(preset, override, match):
    from selfattn.train.tasks import get_task

    with pytest.raises(ConfigError, match=match):
        cfg = resolve_config(preset, overrides=[override])
        task = get_task(cfg["task"])
        task.build_model(cfg) if hasattr(task, "build_model") else task.build_models(cfg)


@pytest.mark.parametrize("preset", ["fashion-mnist-conv", "fashion-mnist-cnn"])
def test_tiny_run_writes_a_run_whose_weights_give_its_test_accuracy(tmp_path, preset):
    from selfattn.cli import main
    from selfattn.train.checkpoint import load_weights
    from selfattn.train.tasks.image_conv import ConvImageTask, load_arrays

    data = _fake(tmp_path / "fm")
    folder = tmp_path / "run"
    assert main(["train", preset, "--quiet", f"data.path={data}", "data.validation=20", "model.width=16",
                 "model.ff=32", "model.heads=2", "model.depth=1", "model.stem=[8]", "trainer.max_epochs=2",
                 "trainer.batch_size=32", "optim.warmup_steps=2", f"run.dir={folder}"]) == 0
    results = json.loads((folder / "results.json").read_text())
    rows = json.loads((folder / "metrics.json").read_text())
    assert len(rows) == 2 == results["epochs"] and results["data"]["sizes"] == [100, 20, 40]
    assert results["best_val"] == max(r["val_acc"] for r in rows)
    assert (folder / "attention.png").is_file() == (preset == "fashion-mnist-conv")
    # the saved (best validation) weights, rebuilt from the saved config, score the test accuracy again
    import yaml

    cfg = yaml.safe_load((folder / "config.yaml").read_text())
    task = ConvImageTask()
    model = task.build_model(cfg)
    model.load_state_dict(load_weights(folder / "model.safetensors"))
    x, y = load_arrays("test", str(data))
    assert task.accuracy(model, x, y) == pytest.approx(results["test_acc"])


@pytest.mark.parametrize("kind", ["transformer", "cnn2d"])
def test_tiny_sagan_run_scores_every_epoch(tmp_path, kind):
    from selfattn.cli import main
    from selfattn.train.checkpoint import load_weights

    data = _fake(tmp_path / "fm")
    folder = tmp_path / "run"
    assert main(["train", "sagan", "--quiet", f"data.path={data}", f"model.kind={kind}", "data.train=32",
                 "data.fid_samples=20", "data.classifier_images=64", "model.width=4", "model.latent=8",
                 "trainer.max_epochs=2", "trainer.batch_size=16", f"run.dir={folder}"]) == 0
    results = json.loads((folder / "results.json").read_text())
    assert len(results["fid"]) == 2 and all(f >= 0 for f in results["fid"])
    assert results["best_fid"] == min(results["fid"]) and results["attention"] == (kind == "transformer")
    assert (folder / "samples-epoch1.png").is_file() and (folder / "samples-epoch2.png").is_file()
    assert (folder / "attention.png").is_file() == (kind == "transformer")
    weights = load_weights(folder / "model.safetensors")
    assert any(k.startswith("g.") for k in weights) and any(k.startswith("d.") for k in weights)
    assert ("g.attention.gamma" in weights) == (kind == "transformer")
    assert all(torch.isfinite(v).all() for v in weights.values())
