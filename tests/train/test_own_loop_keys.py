"""Tasks that train in their own loop (``fit``: DETR, SAGAN, the conv-stem image models) refuse
the trainer / optim / model keys that loop does not read, instead of ignoring them
(``trainer.limit_train_batches=40`` on fashion-mnist-conv used to train every batch,
``optim.schedule=linear`` kept the cosine), and refuse ``--resume`` (they keep no checkpoint)."""

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
SECTIONS = {"trainer": "t", "optim": "o", "model": "m"}   # how the task modules name each section


def _defaults(task: str, section: str) -> dict:
    return {**DEFAULTS[section], **(TASKS[task].model_defaults if section == "model" else {})}


def _changed(value):
    """A value of the key's type other than its default (the check must not care which)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 3
    if value is None:
        return 7
    if isinstance(value, list):
        return [*value, 8]
    if isinstance(value, dict):
        return {**value, "x": 1}
    return {"cpu": "gpu", "auto": "ddp", "none": "csv", "32-true": "bf16-mixed"}.get(value, value + "x")


def test_each_own_loop_task_names_exactly_the_keys_its_module_reads():
    assert OWN_LOOP == ["detr", "image-conv", "sagan"]
    for name in OWN_LOOP:
        task = TASKS[name]
        source = inspect.getsource(sys.modules[type(task).__module__])
        for section, var in SECTIONS.items():
            read = set(re.findall(rf'\b{var}\["([a-z_]+)"\]', source))
            read |= set(re.findall(rf'cfg\["{section}"\]\["([a-z_]+)"\]', source))
            read &= set(_defaults(name, section))
            # the keys a loop says it reads are the keys it reads (no stale or missing entry)
            assert read == set(task.loop_keys[section]), (name, section, read ^ set(task.loop_keys[section]))


CASES = [(task, section, key) for task in OWN_LOOP for section in SECTIONS
         for key in sorted(_defaults(task, section)) if not (section == "trainer" and key in ANY_LOOP)]


@pytest.mark.parametrize(("task", "section", "key"), CASES, ids=[f"{t}-{s}.{k}" for t, s, k in CASES])
def test_every_key_the_loop_ignores_is_refused(task, section, key):
    cfg = resolve_config(PRESET_OF[task])
    check_config(cfg)                                    # the preset itself passes
    if key in TASKS[task].loop_keys[section]:
        return                                           # (its values are checked where it is read)
    cfg[section][key] = _changed(_defaults(task, section)[key])
    if (section, key) == ("trainer", "max_tokens"):      # batches by tokens instead of by count
        cfg["trainer"]["batch_size"] = None
    with pytest.raises(ConfigError) as error:
        check_config(cfg)
    message = str(error.value)
    # refused by this check or by an earlier, more specific one; never accepted and ignored
    assert message.startswith(f"{section}.{key}") or f"{section}.{key}" in message, message


def test_the_message_names_the_keys_that_work():
    with pytest.raises(ConfigError, match=r"^optim\.schedule: task 'image-conv' trains in its own loop, "
                                          r"which does not use it \(expected the default cosine, got linear\); "
                                          r"its loop reads optim\.lr, optim\.warmup_steps"):
        resolve_config("fashion-mnist-conv", overrides=["optim.schedule=linear"])
    check_config(resolve_config("detr", overrides=["trainer.gradient_clip_val=0.5", "trainer.max_time_s=10",
                                                   "model.width=32", "optim.lr=0.001"]))


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
