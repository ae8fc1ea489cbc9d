"""``selfattn train | eval | predict`` from the command line, and DDP over two CPU processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from train_setup import TINY

from selfattn.train.cli import main


def test_train_predict_eval_and_resume_from_the_command_line(data_files, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "pos", *TINY, f"run.dir={run}", f"data.path={data_files['pos']}", "data.glove=0",
            "trainer.max_epochs=2", "trainer.batch_size=8"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "test (pos): token accuracy" in out and f"run directory: {run}" in out
    (tmp_path / "in.txt").write_text("a cat sees the dog .\n")
    assert main(["predict", str(run), str(tmp_path / "in.txt")]) == 0
    assert capsys.readouterr().out.count("/") == 6
    assert main(["eval", str(run)]) == 0
    assert "test_acc" in json.loads(capsys.readouterr().out)
    assert main(["train", "--resume", str(run), "trainer.max_epochs=3", "--quiet"]) == 0
    assert "3 epochs" in capsys.readouterr().out
    assert main(args) == 2                        # the run directory is taken
    assert f"run.dir: {run} already holds a run (status: done); pass --resume" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["train", "pos", "model.attention=flash"], "error: model.attention: expected one of ['full'"),
    (["train", "polblogs", "model.pattern=window"], "error: model.pattern: expected one of ['none', 'graph']"),
    (["train", "pos", "model.heads=5"], "error: model.heads: expected a divisor of model.width=128"),
    (["train"], "error: TASK: expected one of ["),
    (["train", "nope"], "error: TASK: expected one of ["),
])
def test_bad_configs_exit_2_before_reading_data(args, message, capsys, monkeypatch):
    import selfattn.train.run as run

    monkeypatch.setattr(run, "train", lambda *a, **k: pytest.fail("training started"))
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_list_and_missing_runs(capsys, tmp_path):
    assert main(["train", "--list"]) == 0
    assert "fashion-mnist" in capsys.readouterr().out
    assert main(["eval", str(tmp_path)]) == 1
    assert "RUN: expected" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 1
    assert "--resume: expected" in capsys.readouterr().err


def test_ddp_with_two_cpu_processes(data_files, tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("LOCAL_RANK", None)
    command = [sys.executable, "-m", "selfattn.train.cli", "train", "pos", *TINY, f"run.dir={run}",
               f"data.path={data_files['pos']}", "data.glove=0", "trainer.max_epochs=2", "trainer.batch_size=8",
               "--devices", "2", "--strategy", "ddp"]  # not -q: it hides Lightning's INFO lines
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in done.stdout + done.stderr
    results = json.loads((run / "results.json").read_text())
    batches = -(-results["data"]["sentences"][0] // 8)          # 64 training sentences in batches of 8
    assert results["steps"] == 2 * (batches // 2)               # each process took half the batches
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [0, 1] and "test_acc" in results


def test_train_task_help_shows_the_data_format_and_options(capsys):
    from selfattn.train.tasks import TASKS

    assert all(cls.data_format for cls in TASKS.values()), "a task without a documented data.path format"
    assert main(["train", "molecule-bbb", "--help"]) == 0
    out = capsys.readouterr().out
    assert "data.path=FILE" in out and "SMILES" in out and "dataset: b3db" in out
