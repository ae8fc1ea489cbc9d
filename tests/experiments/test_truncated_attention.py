"""Truncated (window) attention on speech frames: configs, kernel equivalence, the JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from selfattn.bench.memory import peak_bytes
from selfattn.data import wav_features
from selfattn.experiments._runs import kernel_choice, twins
from selfattn.experiments.truncated_attention import SCALES, run
from selfattn.nn.model import build_model
from selfattn.patterns import WindowPattern


@pytest.fixture
def diarization_folder(tmp_path):
    """8 s of two alternating 'speakers' (tones) with an RTTM of their turns."""
    soundfile = pytest.importorskip("soundfile")
    rate = 16000
    t = np.arange(rate * 8) / rate
    wave = np.where((t // 1.0) % 2 == 0, np.sin(2 * math.pi * 220 * t), np.sin(2 * math.pi * 880 * t)) * 0.3
    folder = tmp_path / "diar"
    folder.mkdir()
    soundfile.write(folder / "sample.wav", wave.astype(np.float32), rate)
    turns = [f"SPEAKER sample 1 {s:.1f} 1.0 <NA> <NA> {'A' if s % 2 == 0 else 'B'} <NA> <NA>" for s in range(8)]
    (folder / "sample.rttm").write_text("\n".join(turns) + "\n", encoding="utf-8")
    return folder


def test_twins_differ_only_in_how_they_attend():
    torch.manual_seed(0)
    spec = {"task": "vector", "target": "class", "outputs": 3, "input": {"kind": "features", "dim": 5}, "max_len": 300}
    cfg = {"kind": "transformer", "width": 16, "depth": 2, "heads": 2, "ff": 32, "dropout": 0.0,
           "positional": "rope", "pattern": "none"}
    base = build_model(cfg, spec).eval()
    models = twins(base, "window", 4)
    assert [(m.pattern, m.window, m.sparse) for m in models.values()] == [
        ("none", 4, True), ("window", 4, True), ("window", 4, False)]
    assert base.pattern == "none"  # the original is left alone
    x = torch.randn(2, 300, 5)
    mask = torch.ones(2, 300, dtype=torch.bool)
    mask[1, 250:] = False
    with torch.no_grad():
        built = build_model({**cfg, "pattern": "window", "window": 4}, spec).eval()
        built.load_state_dict(base.state_dict())  # what model.pattern=window model.window=4 builds
        torch.testing.assert_close(models["sparse"](x, mask), built(x, mask))
        torch.testing.assert_close(models["sparse"](x, mask), models["dense mask"](x, mask), atol=1e-5, rtol=1e-5)
        assert (models["full"](x, mask) - models["sparse"](x, mask)).abs().max() > 1e-3


def test_kernel_choice_names_the_window_kernel_for_long_sequences():
    assert kernel_choice(WindowPattern(4), 1, 2, 4096, 8).startswith("kernel 'window'")
    assert "window" not in kernel_choice(None, 1, 2, 64, 8).split(":")[0]


def test_peak_bytes_sees_the_attention_matrix():
    x = torch.randn(1, 2, 512, 8)
    small = peak_bytes(lambda: torch.softmax(x @ x.transpose(-1, -2), -1))
    assert small >= 2 * 512 * 512 * 4  # the (2, 512, 512) float scores, at least
    assert peak_bytes(lambda: x + 1) < small / 10


def test_tiny_run_writes_what_the_readme_reads(tmp_path, diarization_folder):
    result = run(tmp_path / "out", "tiny", seed=0, data_path=diarization_folder)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (tmp_path / "out" / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert result["figure"].endswith("figure.png")
    windows = list(SCALES["tiny"]["windows"])
    assert saved["setup"]["windows"] == windows
    assert [r["window"] for r in saved["accuracy"]] == [*windows, "full"]
    for row in saved["accuracy"]:  # the table's windows are the configs that were trained
        if row["window"] == "full":
            assert row["config"]["model.pattern"] == "none"
        else:
            assert row["config"] == {"model.pattern": "window", "model.window": row["window"]}
            assert row["keys_per_query"] == 2 * row["window"] + 1
        assert len(row["runs"]) == SCALES["tiny"]["seeds"]
        assert all(0 <= r["test_acc"] <= 1 and 0 <= r["test_f1"] <= 1 for r in row["runs"])
    for label in ("train_batch", "whole_recording"):
        cost = saved["cost"][label]
        assert [r["window"] for r in cost["windows"]] == windows
        assert cost["sparse_vs_dense_max_abs_diff"] < 1e-4
        for r in cost["windows"]:
            for how in ("sparse", "dense_mask"):
                assert r[how]["step_ms"] > 0 and r[how]["peak_mib"] > 0
                assert r[how]["time_ratio_to_full"] == pytest.approx(r[how]["step_ms"] / cost["full"]["step_ms"],
                                                                     rel=0.02)
            assert r["kernel_choice"].startswith("kernel '")
            assert r["attention_matrix_mib"] < cost["full"]["attention_matrix_mib"]
    frames = wav_features(diarization_folder / "sample.wav").shape[0]  # 798: 25 ms windows every 10 ms
    assert saved["cost"]["whole_recording"]["length"] == frames  # the whole 8 s recording as one set
    assert saved["run"]["torch_threads"] == 1
    assert saved["run"]["command"].startswith("selfattn experiment truncated-attention --scale tiny")
