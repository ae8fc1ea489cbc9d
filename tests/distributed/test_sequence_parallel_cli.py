"""Data x sequence parallel through the CLI: ``selfattn train diarization --devices 4 --strategy
ddp trainer.sequence_parallel=2`` (two data-parallel groups of two sequence ranks, four
Lightning processes on gloo) trains exactly what one process trains.

The comparison is exact by construction. The data (``data.path``) is a 14 s two-tone WAV
with its RTTM, cut into 1 s chunks (100 frames, 50 after stacking); ``data.limit=2`` keeps two
training chunks of equal length (no padding) and two validation chunks. Four ranks with
``trainer.batch_size=1``: each group takes one chunk per epoch (the batches are dealt over
the *groups*, ``SequenceParallelDataModule.data_shards``), each rank half of its frames, and
DDP averages the four ranks' gradients, i.e. the mean of the two chunks' gradients. One
process with ``trainer.batch_size=2`` takes both chunks in one batch: its loss is the mean
over all frames, which equals the mean of the two chunks' means because their frame counts
are equal. So, with ``trainer.precision=64-true``, ``model.dropout=0`` and one thread per
process, the two runs must end with the same weights and model state
(``last.safetensors``) within 1e-10, the same validation loss after every epoch and the same
test metrics. Had both groups trained on the same chunk (batches dealt over all ranks, or
over none), the weights would differ and the step count would too.

The two runs start together (each subprocess with its own deadline; on a timeout its whole
process group, the Lightning workers included, is killed). ``--devices 3`` with
``trainer.sequence_parallel=2`` is refused in one line before any process starts.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from selfattn.train.checkpoint import load_weights
from selfattn.train.cli import main

TOL = 1e-10
EPOCHS = 3
COMMON = ["model.width=16", "model.heads=2", "model.depth=2", "model.ff=32", "model.window=8",
          "model.dropout=0", "trainer.progress=false", "trainer.num_threads=1", "run.plots=false",
          "optim.warmup_steps=2", "optim.lr=0.01", "data.chunk_seconds=1.0", "data.limit=2",
          f"trainer.max_epochs={EPOCHS}", "trainer.patience=10", "trainer.precision=64-true", "seed=0"]


def _two_speakers(folder: Path) -> Path:
    """A 14 s WAV whose speaker (a 220 Hz or an 880 Hz tone) changes every 0.7 s, and its RTTM."""
    import soundfile

    folder.mkdir()
    rate, seconds, turn = 16000, 14, 0.7
    t = np.arange(rate * seconds) / rate
    wave = 0.3 * np.where((t // turn) % 2 == 0, np.sin(2 * math.pi * 220 * t), np.sin(2 * math.pi * 880 * t))
    soundfile.write(folder / "sample.wav", wave.astype(np.float32), rate)
    turns = [f"SPEAKER sample 1 {i * turn:.2f} {turn:.2f} <NA> <NA> {'AB'[i % 2]} <NA> <NA>"
             for i in range(math.ceil(seconds / turn))]
    (folder / "sample.rttm").write_text("\n".join(turns) + "\n", encoding="utf-8")
    return folder


def _start(args: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "NODE_RANK")}
    env.update(PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-m", "selfattn.train.cli", "train", "diarization", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # its own process group: the DDP workers too


def _finish(proc: subprocess.Popen, deadline: float) -> str:
    try:
        out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1.0))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group this test started, workers included
        out, _ = proc.communicate()
        pytest.fail(f"{proc.args[4:]} still running at its deadline; output:\n{out[-3000:]}")
    assert proc.returncode == 0, f"{proc.args[4:]} exited {proc.returncode}:\n{out[-3000:]}"
    return out


def test_four_ranks_in_two_sequence_groups_train_what_one_process_trains(tmp_path):
    data = _two_speakers(tmp_path / "diarization")
    common = [*COMMON, f"data.path={data}"]
    runs = {"sp": tmp_path / "dp2-sp2", "one": tmp_path / "one"}
    procs = {
        "sp": _start([*common, f"run.dir={runs['sp']}", "trainer.batch_size=1", "--devices", "4",
                      "--strategy", "ddp", "trainer.sequence_parallel=2"]),
        "one": _start([*common, f"run.dir={runs['one']}", "trainer.batch_size=2"]),
    }
    deadline = time.monotonic() + 55.0
    outs = {name: _finish(proc, deadline) for name, proc in procs.items()}
    assert "GLOBAL_RANK: 3, MEMBER: 4/4" in outs["sp"]
    results = {name: json.loads((run / "results.json").read_text()) for name, run in runs.items()}
    assert results["sp"]["data"]["chunks"] == results["one"]["data"]["chunks"]
    # one batch per group and epoch (the group's own chunk), one batch of both in one process
    assert results["sp"]["steps"] == results["one"]["steps"] == EPOCHS
    weights = {name: load_weights(run / "checkpoints" / "last.safetensors") for name, run in runs.items()}
    assert weights["sp"].keys() == weights["one"].keys()
    for key, want in weights["one"].items():
        got = weights["sp"][key]
        assert got.dtype == want.dtype, key
        if want.is_floating_point():
            err = (got - want).abs().max().item() if want.numel() else 0.0
            assert err <= TOL, f"{key}: max error {err:.3g} > {TOL:.0e} after {EPOCHS} steps"
    rows = {name: json.loads((run / "metrics.json").read_text()) for name, run in runs.items()}
    assert len(rows["sp"]) == len(rows["one"]) == EPOCHS
    for a, b in zip(rows["sp"], rows["one"], strict=True):
        assert abs(a["val_loss"] - b["val_loss"]) <= 1e-6, (a, b)
    # rank 0 logs its group's batch loss: one chunk's, not the mean of both
    assert rows["sp"][0]["train_loss"] != rows["one"][0]["train_loss"]
    for key, value in results["one"].items():
        if key.startswith("test_"):
            assert abs(results["sp"][key] - value) <= 1e-6, (key, results["sp"][key], value)


def test_devices_not_a_multiple_of_sequence_parallel_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    import selfattn.train.run as run

    monkeypatch.setattr(run, "train", lambda *a, **k: pytest.fail("training started"))
    code = main(["train", "diarization", "--devices", "3", "--strategy", "ddp", "trainer.sequence_parallel=2",
                 "model.dropout=0", f"run.dir={tmp_path / 'never'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert "trainer.sequence_parallel" in err and "multiple of 2" in err and "trainer.devices=3" in err, err
    assert not (tmp_path / "never").exists()
