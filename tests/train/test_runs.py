"""A run is an experiment someone will cite: every epoch reshuffled, its own directory,
resumable to the same result (bit-equal on CPU with one thread), even after SIGKILL."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from train_setup import tiny_config

from selfattn.train import callbacks
from selfattn.train.checkpoint import load_weights
from selfattn.train.run import run_directory, run_status, train

QUIET = {"log": lambda _: None}


def _config(data_files, folder, *extra):
    return tiny_config("pos", folder, f"data.path={data_files['pos']}", "trainer.batch_size=8",
                       "trainer.max_epochs=3", "trainer.patience=10", *extra)


def _record_batches(monkeypatch) -> list[tuple[int, str]]:
    """(epoch, fingerprint of the batch's sets) for every training batch, in order."""
    seen: list[tuple[int, str]] = []
    original = callbacks.ResumePoint.on_train_batch_start

    def record(self, trainer, module, batch, batch_idx):
        seen.append((trainer.current_epoch, hashlib.sha1(batch.x.numpy().tobytes()).hexdigest()))
        original(self, trainer, module, batch, batch_idx)

    monkeypatch.setattr(callbacks.ResumePoint, "on_train_batch_start", record)
    return seen


def _by_epoch(seen):
    epochs: dict[int, list[str]] = {}
    for epoch, fingerprint in seen:
        epochs.setdefault(epoch, []).append(fingerprint)
    return epochs


def test_every_epoch_draws_new_batches_and_a_resume_draws_the_same(data_files, tmp_path, monkeypatch):
    seen = _record_batches(monkeypatch)
    train(_config(data_files, tmp_path / "a"), **QUIET)
    epochs = _by_epoch(seen)
    assert len(epochs) == 3
    assert len({tuple(v) for v in epochs.values()}) == 3, "two epochs trained on the same batches"
    assert sorted(epochs[0]) != sorted(epochs[1])  # new batches, not only a new order of them
    # resume a 2-epoch run to 3 epochs: its third epoch draws the batches the 3-epoch run drew
    seen.clear()
    short = _config(data_files, tmp_path / "b", "trainer.max_epochs=2")
    train(short, **QUIET)
    seen.clear()
    train({**short, "trainer": {**short["trainer"], "max_epochs": 3}}, resume=tmp_path / "b", **QUIET)
    assert _by_epoch(seen) == {2: epochs[2]}


_KILL_AFTER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import torch
from selfattn.train import callbacks
from selfattn.train.config import resolve_config
from selfattn.train.run import train
original = callbacks.ResumePoint.on_train_batch_end
def kill(self, trainer, *args):
    original(self, trainer, *args)
    if trainer.global_step == {step}:
        os.kill(os.getpid(), signal.SIGKILL)
callbacks.ResumePoint.on_train_batch_end = kill
train(resolve_config("pos", {config!r}), log=lambda _: None)
"""


def _strip_wall(rows):
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_a_run_killed_mid_epoch_and_resumed_is_the_same_run(data_files, tmp_path):
    cfg = _config(data_files, tmp_path / "whole", "trainer.checkpoint_every_n_steps=3", "trainer.max_epochs=2")
    whole = train(cfg, **QUIET)
    per_epoch = whole["steps"] // 2
    # inside epoch 1, past a step checkpoint (a multiple of 3) and before the next one
    step = next(s for s in range(per_epoch + 2, 2 * per_epoch) if s % 3 and (s - 1) // 3 * 3 > per_epoch)
    assert step % 3 and step < 2 * per_epoch
    config = tmp_path / "killed.yaml"
    config.write_text(yaml.safe_dump(cfg | {"run": {**cfg["run"], "dir": str(tmp_path / "killed")}}))
    script = _KILL_AFTER.format(tests=str(Path(__file__).parent), step=step, config=str(config))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    killed = tmp_path / "killed"
    assert run_status(killed)["status"] == "running"           # killed: nobody marked it
    resumed = train(cfg | {"run": {**cfg["run"], "dir": str(killed)}}, resume=killed, **QUIET)
    assert run_status(killed)["status"] == "done"
    a = _strip_wall(json.loads((tmp_path / "whole" / "metrics.json").read_text()))
    b = _strip_wall(json.loads((killed / "metrics.json").read_text()))
    assert a == b
    wa, wb = load_weights(tmp_path / "whole" / "model.safetensors"), load_weights(killed / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert whole["test_acc"] == resumed["test_acc"] and whole["steps"] == resumed["steps"]


def test_a_run_killed_before_its_first_checkpoint_starts_again_on_resume(data_files, tmp_path):
    cfg = _config(data_files, tmp_path / "early", "trainer.max_epochs=1")
    folder = run_directory(cfg)   # claimed, then "killed" before any checkpoint
    (folder / "config.yaml").write_text(json.dumps(cfg))
    out = train(cfg, resume=folder, **QUIET)
    assert out["epochs"] == 1 and run_status(folder)["status"] == "done"


def _train_lengths(run) -> list[int]:
    from selfattn.train.run import load_run

    cfg, task, *_ = load_run(run)
    return task.build(cfg).train.lengths().tolist()


def _claim(args):
    root, preset = args
    return str(run_directory({"run": {"dir": None, "root": root}, "preset": preset}))


def test_runs_started_at_once_get_distinct_directories(tmp_path):
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        folders = pool.map(_claim, [(str(tmp_path), "pos")] * 12)
    assert len(set(folders)) == 12
    assert all(run_status(f)["status"] == "running" for f in folders)


def test_a_failed_run_leaves_nothing_or_a_directory_marked_failed(data_files, tmp_path, monkeypatch):
    bad = tmp_path / "bad.txt"
    bad.write_text("the/DT\n")                               # one sentence: empty splits
    cfg = tiny_config("pos", tmp_path / "x", f"data.path={bad}")
    cfg["run"].update(dir=None, root=str(tmp_path / "runs"))
    with pytest.raises(ValueError):
        train(cfg, **QUIET)
    assert not (tmp_path / "runs" / "pos").exists()          # no checkpoint yet: nothing left
    # a failure after a checkpoint: kept, marked failed, and --resume continues it
    cfg = _config(data_files, tmp_path / "late", "trainer.checkpoint_every_n_steps=2")
    original = callbacks.ResumePoint.on_train_batch_end

    def fail(self, trainer, *args):
        original(self, trainer, *args)
        if trainer.global_step == 5:
            raise RuntimeError("the power went out")

    monkeypatch.setattr(callbacks.ResumePoint, "on_train_batch_end", fail)
    with pytest.raises(RuntimeError):
        train(cfg, **QUIET)
    status = run_status(tmp_path / "late")
    assert status["status"] == "failed" and "power went out" in status["error"]
    monkeypatch.setattr(callbacks.ResumePoint, "on_train_batch_end", original)
    assert train(cfg, resume=tmp_path / "late", **QUIET)["epochs"] == 3


def test_run_dir_of_a_live_run_is_refused(data_files, tmp_path):
    from selfattn.train.config import ConfigError

    cfg = _config(data_files, tmp_path / "live")
    run_directory(cfg)
    with pytest.raises(ConfigError, match=r"already holds a run \(status: running\)"):
        run_directory(cfg)
    (tmp_path / "live" / "status.json").write_text(json.dumps({"status": "running", "pid": os.getppid(),
                                                               "host": os.uname().nodename}))
    with pytest.raises(ConfigError, match="is being trained now"):
        train(cfg, resume=tmp_path / "live", **QUIET)


def test_with_max_tokens_every_epoch_trains_on_every_set_once_and_validates(data_files, tmp_path,
                                                                           monkeypatch):
    """Batches by token count differ in number between epochs: each epoch must still see
    every training set exactly once, and end in a validation (found when a reshuffled
    max_tokens epoch came out shorter than epoch 0 and Lightning skipped its validation)."""
    from selfattn.train.module import TaskModule

    sizes: dict[int, int] = {}
    original = callbacks.ResumePoint.on_train_batch_start

    def record(self, trainer, module, batch, batch_idx):
        sizes[trainer.current_epoch] = sizes.get(trainer.current_epoch, 0) + len(batch)
        original(self, trainer, module, batch, batch_idx)

    validations: list[int] = []
    end = TaskModule.on_validation_epoch_end
    monkeypatch.setattr(callbacks.ResumePoint, "on_train_batch_start", record)
    monkeypatch.setattr(TaskModule, "on_validation_epoch_end",
                        lambda self: (validations.append(self.current_epoch), end(self)))
    import random

    from selfattn.data import LengthBucketSampler

    rng = random.Random(3)   # lengths 2..30 over several bucketing pools: batch counts vary
    lines = [" ".join(rng.choice(["the/DT", "dog/NN", "runs/VBZ", "red/JJ"]) for _ in range(rng.randint(2, 30)))
             for _ in range(700)]
    path = tmp_path / "varied.txt"
    path.write_text("\n".join(lines) + "\n")
    cfg = tiny_config("pos", tmp_path / "mt", f"data.path={path}", "trainer.batch_size=null",
                      "trainer.max_tokens=64", "trainer.max_epochs=3", "trainer.patience=10",
                      "model.width=8", "model.ff=8", "data.glove=0")
    out = train(cfg, **QUIET)
    n_train = out["data"]["sentences"][0]
    assert sizes == {e: n_train for e in range(3)}
    counts = set()
    for e in range(3):   # the premise: the epochs really have different batch counts
        sampler = LengthBucketSampler(_train_lengths(tmp_path / "mt"), max_tokens=64, seed=0)
        sampler.set_epoch(e)
        counts.add(len(sampler))
    assert len(counts) > 1
    assert validations == [0, 1, 2]
