"""The README's main job (the demo) learns what a per-vector model cannot; the CLI answers."""

from __future__ import annotations

import json

from selfattn.cli import main
from selfattn.demo import DemoConfig, run_demo


def test_demo_beats_every_per_vector_model(tmp_path):
    cfg = DemoConfig(steps=250, out=str(tmp_path / "run"))
    metrics = run_demo(cfg, progress=False)
    assert metrics["token_accuracy"] > 0.95
    assert metrics["per_vector_baseline_accuracy"] < 0.7
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["token_accuracy"] == metrics["token_accuracy"]
    assert (tmp_path / "run" / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_kernels_lists_the_dispatch_order(capsys):
    assert main(["kernels"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in out]
    assert names.index("sdpa") < names.index("explicit") < names.index("reference")


def test_cli_experiment_writes_json(tmp_path, capsys):
    assert main(["experiment", "attention-is-a-cnn", "--out", str(tmp_path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["exact_at_alpha_64"] is True
    assert (tmp_path / "results.json").exists() and (tmp_path / "figure.png").exists()


def test_cli_viz_positional_writes_png(tmp_path):
    out = tmp_path / "pos.png"
    assert main(["viz", "positional", str(out), "--length", "32", "--dim", "16"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
