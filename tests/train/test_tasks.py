"""Every task trains on a tiny file: loss goes down, the run record is written, a resumed
run continues from the saved step, and predict reads what train wrote."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import yaml
from train_setup import tiny_config

from selfattn.train.checkpoint import load_state
from selfattn.train.config import merge, parse_overrides
from selfattn.train.run import evaluate, predict, train

# preset, overrides pointing it at the fixture file, the epochs to train, the predict input
CASES = {
    "pos": (["data.path={pos}", "data.glove=0", "trainer.batch_size=8"], "the red dog sees a cat .\na book opens\n"),
    "sentiment": (["data.path={sentiment}", "data.min_freq=1", "trainer.batch_size=16"],
                  "the film is superb\nthe film is awful and dull\n"),
    "speaker": (["data.path={speaker}", "trainer.batch_size=4"], "{speaker}/00001.wav"),
    "diarization": (["data.path={diarization}", "data.chunk_seconds=1.0", "model.window=4",
                     "trainer.batch_size=2"], "{diarization}/sample.wav"),
    "freesolv": (["data.path={freesolv}", "trainer.batch_size=8"], "CCO\nc1ccccc1\n"),
    "molecule-bbb": (["data.path={b3db}", "trainer.batch_size=8"], "CCO\nCCCC\n"),
    "polblogs": (["data.graph=karate", "data.fractions=[0.5,0.25,0.25]", "model.dropout=0.0", "optim.schedule=constant"], "0\n33\n5\n"),
    "fashion-mnist": (["data.dataset=digits", "data.patch=2", "data.limit=96", "model.positional_options={{max_len: 16}}",
                       "trainer.batch_size=16"], None),
    "translate": (["data.path={translate}", "data.min_freq=1", "data.test_limit=6", "trainer.max_tokens=200",
                   "run.beam_size=2"], "the red house.\nthe old table.\n"),
}


def _fill(items, files):
    return [i.format(**{k: str(v) for k, v in files.items()}) for i in items]


@pytest.mark.parametrize("preset", list(CASES))
def test_train_resume_predict(preset, data_files, tmp_path):
    overrides, predict_input = CASES[preset]
    if preset == "translate":
        pytest.importorskip("sacrebleu")
    folder = tmp_path / "run"
    cfg = tiny_config(preset, folder, "trainer.max_epochs=3", "trainer.patience=10", *_fill(overrides, data_files))
    results = train(cfg, log=lambda _: None)

    rows = json.loads((folder / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"], rows
    with open(folder / "metrics.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3 and "val_loss" in table[0] and "train_loss" in table[0]
    assert yaml.safe_load((folder / "config.yaml").read_text())["task"] == cfg["task"]
    assert any(k.startswith("test_") for k in results)
    for name in ("best", "last"):
        state = load_state(folder / "checkpoints" / f"{name}.safetensors")
        assert "state_dict" in state and "optimizer_states" in state
    steps = results["steps"]
    assert load_state(folder / "checkpoints" / "last.safetensors")["global_step"] == steps

    more = merge(cfg, parse_overrides(["trainer.max_epochs=4"]))
    resumed = train(more, resume=folder, log=lambda _: None)
    rows2 = json.loads((folder / "metrics.json").read_text())
    assert [r["epoch"] for r in rows2] == [0, 1, 2, 3]
    assert rows2[:3] == rows                             # the table continues, history intact
    assert resumed["steps"] == steps + steps // 3        # one more epoch of the same size

    scores = evaluate(folder, log=lambda _: None)      # the best weights again, from the files alone
    assert "test_loss" in scores
    for key, value in scores.items():
        if key.startswith("test_") and isinstance(value, float):
            assert value == pytest.approx(resumed[key], abs=1e-4), key
    if predict_input is None:
        images = (np.random.default_rng(0).random((2, 8, 8)) * 16).astype(np.float32)
        source = tmp_path / "images.npy"
        np.save(source, images)
        expected = 2
    elif predict_input.endswith(".wav"):
        source = type(folder)(_fill([predict_input], data_files)[0])
        expected = 8 if preset == "diarization" else 1     # diarization: one line per 1 s chunk
    else:
        source = tmp_path / "input.txt"
        source.write_text(predict_input, encoding="utf-8")
        expected = len([line for line in predict_input.splitlines() if line.strip()])
    lines = predict(folder, source)
    assert len(lines) == expected and all(lines)


def test_pos_run_writes_plots_and_predicts_known_tags(data_files, tmp_path):
    folder = tmp_path / "pos"
    cfg = tiny_config("pos", folder, "trainer.max_epochs=6", "run.plots=true", "data.glove=0",
                      "trainer.batch_size=8", f"data.path={data_files['pos']}")
    results = train(cfg, log=lambda _: None)
    assert results["test_acc"] > 0.8
    for name in ("attention.png", "learning_curves.png"):
        assert (folder / name).stat().st_size > 1000
    (tmp_path / "in.txt").write_text("the old river likes a cat .\n", encoding="utf-8")
    (line,) = predict(folder, tmp_path / "in.txt")
    assert line.split()[0] == "the/DT" and line.split()[-1] == "./."


def test_predict_names_a_missing_input(data_files, tmp_path):
    folder = tmp_path / "run"
    train(tiny_config("pos", folder, "trainer.max_epochs=1", "data.glove=0", f"data.path={data_files['pos']}"),
          log=lambda _: None)
    with pytest.raises(FileNotFoundError, match="INPUT: expected a file"):
        predict(folder, tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=r"RUN: expected .*config.yaml"):
        predict(tmp_path / "not-a-run", tmp_path / "nope.txt")


def test_regression_outputs_are_in_target_units(data_files, tmp_path):
    folder = tmp_path / "fs"
    cfg = tiny_config("freesolv", folder, "trainer.max_epochs=2", f"data.path={data_files['freesolv']}")
    train(cfg, log=lambda _: None)
    spec = json.loads((folder / "spec.json").read_text())
    from selfattn.train.run import load_run

    _, _, _, _, model = load_run(folder)
    assert torch.allclose(model.target_mean, torch.tensor(spec["target_mean"]))
    assert abs(spec["target_std"][0] - 1.0) > 0.1  # the tiny targets are not standard already


def test_bf16_mixed_precision_trains_on_cpu(data_files, tmp_path):
    cfg = tiny_config("pos", tmp_path / "bf16", "trainer.max_epochs=2", "trainer.precision=bf16-mixed",
                      "data.glove=0", f"data.path={data_files['pos']}")
    rows = train(cfg, log=lambda _: None) and json.loads((tmp_path / "bf16" / "metrics.json").read_text())
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]


def test_largest_component_keeps_one_connected_piece_renumbered():
    from selfattn.data import VectorSet
    from selfattn.train.tasks.graphs import largest_component

    edges = torch.tensor([[0, 1, 3, 4, 4, 5], [1, 0, 4, 3, 5, 4]])     # {0, 1}, {2}, {3, 4, 5}
    graph = VectorSet(x=torch.eye(6), y=torch.arange(6), edge_index=edges)
    part, kept = largest_component(graph)
    assert kept.tolist() == [3, 4, 5] and part.y.tolist() == [3, 4, 5]
    assert part.x.shape == (3, 3) and part.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]]
