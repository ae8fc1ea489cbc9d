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
    bad = _run(tmp_path / "b", "freesolv", {"test_rmse": 1.9, "command": "selfattn train freesolv run.dir=/tmp/r x=1 --quiet"})
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
