"""Tasks that train in their own loop (``fit``: DETR, SAGAN, the conv-stem image models) refuse
the trainer keys that loop does not read, instead of ignoring them (``trainer.limit_train_batches=40``
on fashion-mnist-conv used to train every batch), and refuse ``--resume`` (they keep no checkpoint)."""

import inspect
import re
import sys

import pytest
import yaml

from selfattn.train import resolve_config
from selfattn.train.cli import main
from selfattn.train.config import DEFAULTS, ConfigError, check_config
from selfattn.train.tasks import PRESETS, TASKS

OWN_LOOP = sorted(name for name, task in TASKS.items() if hasattr(task, "fit"))
PRESET_OF = {task: next(p for p, c in PRESETS.items() if c["task"] == task) for task in OWN_LOOP}
ANY_LOOP = ("num_threads", "progress", "packed", "sequence_parallel")


def _changed(value):
    """A value of the key's type other than its default (the check must not care which)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 3
    if value is None:
        return 7
    return {"cpu": "gpu", "auto": "ddp", "none": "csv", "32-true": "bf16-mixed"}.get(value, value + "x")


def test_there_are_own_loop_tasks_and_each_names_the_keys_it_reads():
    assert OWN_LOOP == ["detr", "image-conv", "sagan"]
    for name in OWN_LOOP:
        task = TASKS[name]
        source = inspect.getsource(sys.modules[type(task).__module__])
        read = set(re.findall(r'\bt\["([a-z_]+)"\]', inspect.getsource(type(task).fit)))
        # the keys a loop says it reads are the keys it reads (no stale or missing entry)
        assert read == set(task.loop_trainer_keys), (name, read, task.loop_trainer_keys)
        assert "loop_trainer_keys" in source


@pytest.mark.parametrize("task", OWN_LOOP)
@pytest.mark.parametrize("key", sorted(DEFAULTS["trainer"]))
def test_every_trainer_key_the_loop_ignores_is_refused(task, key):
    if key in ANY_LOOP:
        return
    preset = PRESET_OF[task]
    cfg = resolve_config(preset)
    check_config(cfg)                                    # the preset itself passes
    cfg["trainer"][key] = _changed(DEFAULTS["trainer"][key])
    if key == "max_tokens":                              # batches by tokens instead of by count
        cfg["trainer"]["batch_size"] = None
    if key in TASKS[task].loop_trainer_keys:
        if key == "batch_size" or key == "max_epochs":
            cfg["trainer"][key] = 5
        check_config(cfg)                                # a key the loop reads may change
        return
    with pytest.raises(ConfigError, match=rf"^trainer\.{key}: task '{task}' trains in its own loop.*"
                                          rf"its loop reads trainer\.max_epochs"):
        check_config(cfg)


def test_the_cli_says_it_in_one_line_and_resume_is_refused(tmp_path, capsys):
    assert main(["train", "fashion-mnist-conv", "trainer.limit_train_batches=40",
                 f"run.dir={tmp_path / 'r'}"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trainer.limit_train_batches" in err[0] and "Traceback" not in err[0]
    assert "expected the default null, got 40" in err[0]
    assert not (tmp_path / "r").exists()                 # refused before a directory was claimed
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(resolve_config("detr")))
    assert main(["train", "--resume", str(run)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0] and "own loop" in err[0] and str(run) in err[0]
