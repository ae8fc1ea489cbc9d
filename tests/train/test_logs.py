"""Output that respects where it goes: no progress bar in a file or a pipe (one line per
epoch instead), a train.log in every run, Lightning's CSV logger on request."""

from __future__ import annotations

import csv
import subprocess
import sys

from train_setup import TINY

from selfattn.train.cli import main


def test_a_piped_run_writes_lines_not_bars_and_keeps_a_train_log(data_files, tmp_path):
    run = tmp_path / "run"
    args = ["train", "pos", *[a for a in TINY if a != "trainer.progress=false"], f"run.dir={run}",
            f"data.path={data_files['pos']}", "trainer.max_epochs=2", "trainer.batch_size=8",
            "trainer.logger=csv"]
    done = subprocess.run([sys.executable, "-m", "selfattn.cli", *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    both = done.stdout + done.stderr
    assert "\r" not in both and "\x1b[" not in both                 # no bar, no cursor codes
    epochs = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert "val_acc" in epochs[0]
    log = (run / "train.log").read_text()
    assert "epoch 2/2:" in log and "test: test_acc" in log and "data: " in log
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    assert rows and any(r.get("val_acc") for r in rows)           # Lightning's CSVLogger wrote it


def test_print_config_prints_the_resolved_config_and_trains_nothing(tmp_path, capsys):
    import yaml

    assert main(["train", "pos", "model.width=64", f"run.root={tmp_path}", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["width"] == 64 and cfg["trainer"]["checkpoint_every_n_steps"] == 100
    assert not any(tmp_path.iterdir())


def test_demo_into_a_file_has_no_progress_bar(tmp_path):
    done = subprocess.run([sys.executable, "-m", "selfattn.cli", "demo", "--steps", "20", "--out",
                           str(tmp_path / "d")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "\r" not in done.stdout + done.stderr
    assert "step 20/20" in done.stdout
