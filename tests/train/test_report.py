"""The results table reads runs and holds self-attention runs to their presets' targets."""

import json

import pytest
import yaml

from selfattn.train import resolve_config
from selfattn.train.cli import main
from selfattn.train.report import collect, keep, markdown


def _run(folder, preset, results, **model):
    folder.mkdir(parents=True)
    cfg = resolve_config(preset, overrides=[f"model.{k}={v}" for k, v in model.items()])
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    (folder / "results.json").write_text(json.dumps({"preset": preset, "seed": 3, "wall_s": 90.0, **results}))
    return folder


def test_table_marks_met_and_missed_targets_and_rebuilds_commands(tmp_path):
    good = _run(tmp_path / "a", "polblogs", {"test_acc": 0.951})
    bad = _run(tmp_path / "b", "freesolv", {"test_rmse": 1.9, "command": "selfattn train freesolv -q run.dir=/tmp/r x=1 --verbose"})
    base = _run(tmp_path / "c", "pos", {"test_acc": 0.90}, kind="mlp", pattern="none")
    table = markdown(collect([good, bad, base])).splitlines()
    assert "| a | `selfattn train polblogs` | 3 | 1.5 min | node accuracy 95.10% | ≥ 94.0% | yes |" in table
    assert "| b | `selfattn train freesolv x=1` | 3 | 1.5 min | RMSE (kcal/mol) 1.9 | ≤ 1.5 | **no** |" in table
    # a baseline is reported with its overrides and no target
    assert "| c | `selfattn train pos model.kind=mlp model.pattern=none` | 3 | 1.5 min | acc 90.00% | — | — |" \
        in table
    kept = keep(collect([good]), tmp_path / "kept")
    assert json.loads((kept[0] / "results.json").read_text())["test_acc"] == 0.951


def test_report_command_names_a_missing_run(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert "RUN" in err and "nowhere" in err and "results.json" in err
    with pytest.raises(FileNotFoundError, match=r"expected .*results.json \(a finished run\)"):
        collect([tmp_path])


def test_every_task_has_a_headline_and_percent_metrics_read_as_percent(tmp_path):
    """A detection or speech run is shown with its own metric and target, never as a bare '—'."""
    detr = _run(tmp_path / "detr", "detr", {"test_map": 0.58, "test_map_50": 0.761, "test_loss": 2.0})
    asr = _run(tmp_path / "asr", "asr", {"test_loss": 0.6, "test_cer": 0.146, "test_seen_voices_cer": 0.11})
    sagan = _run(tmp_path / "sagan", "sagan", {"test_loss": 1.0, "test_fid": 215.0})
    table = markdown(collect([detr, asr, sagan])).splitlines()
    assert "| detr | `selfattn train detr` | 3 | 1.5 min | mAP@0.5 0.761 | ≥ 0.7 | yes |" in table
    assert "| asr | `selfattn train asr` | 3 | 1.5 min | CER, held-out voices 14.60% | ≤ 15.0% | yes |" in table
    assert "| sagan | `selfattn train sagan` | 3 | 1.5 min | fid 215 | — | — |" in table


def test_keep_copies_the_curve_with_the_results(tmp_path):
    run = _run(tmp_path / "r", "polblogs", {"test_acc": 0.9})
    (run / "metrics.csv").write_text("epoch,val_acc\n0,0.5\n")
    (run / "best.safetensors").write_bytes(b"x")
    kept = keep(collect([run]), tmp_path / "kept")[0]
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "metrics.csv", "results.json"]
