"""Configs: presets resolve, the YAML files are the presets, and bad configs fail up front
with the valid choices."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selfattn.train.config import ConfigError, parse_overrides, resolve_config
from selfattn.train.tasks import PRESETS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_resolves_and_configs_folder_holds_it(name):
    cfg = resolve_config(name)
    assert cfg["preset"] == name and cfg["task"] == PRESETS[name]["task"]
    assert yaml.safe_load((ROOT / "configs" / f"{name}.yaml").read_text()) == PRESETS[name]


def test_file_then_overrides_win(tmp_path):
    path = tmp_path / "my.yaml"
    path.write_text("model: {width: 64, heads: 2}\ntrainer: {max_epochs: 3}\n")
    cfg = resolve_config("pos", path, ["trainer.max_epochs=5", "model.attention_options={k: 4}"])
    assert (cfg["model"]["width"], cfg["model"]["heads"], cfg["trainer"]["max_epochs"]) == (64, 2, 5)
    assert cfg["model"]["attention_options"] == {"k": 4}


@pytest.mark.parametrize(("preset", "override", "message"), [
    ("pos", "model.attention=nope",
     r"model.attention: expected one of \['full', .*'performer'.*\], got 'nope'"),
    ("polblogs", "model.pattern=window",
     r"model.pattern: expected one of \['none', 'graph'\] for task 'nodes' \(vector task on one graph's nodes\), "
     r"got 'window'"),
    ("molecule-bbb", "model.pattern=window", r"model.pattern: expected one of \['none', 'graph'\]"),
    ("pos", "model.pattern=graph", r"model.pattern: expected one of \['none', 'window'\] for task 'pos'"),
    ("pos", "model.heads=3", r"model.heads: expected a divisor of model.width=128 \(one of \[1, 2, 4, 8, 16, 32, 64, "
                             r"128\]\), got 3"),
    ("pos", "model.positional=floaty", r"model.positional: expected one of \['none', 'sinusoidal'"),
    ("pos", "model.kind=cnn2d", r"model.kind: expected one of \['transformer', 'mlp', 'window_mlp', 'cnn', 'rnn', "
                                r"'lstm', 'gru'\], got 'cnn2d'"),
    ("pos", "model.widht=3", r"model.widht: unknown key; expected one of \['attention', "),
    ("pos", "model.kernel=5", r"model.kernel: renamed; use model.conv_kernel"),
    ("pos", "trainer.max_tokens=500", r"trainer.batch_size, trainer.max_tokens: give exactly one"),
    ("pos", "optim.schedule=steps", r"optim.schedule: expected one of \['cosine', 'linear', 'constant'\]"),
    ("sentiment", "optim.layer_decay=0", r"optim.layer_decay: expected a number in \(0, 1\] .*got 0"),
    ("sentiment", "optim.layer_decay=1.5", r"optim.layer_decay: expected a number in \(0, 1\] .*got 1.5"),
    ("pos", "data.corpus=brown", r"data.corpus: expected 'wsj' or 'oanc'"),
    ("sentiment", "model.pooling=sum", r"model.pooling: expected one of \['mean', 'first', 'attention', 'max'\]"),
    ("pos", "model.attention=performer", r"model.positional: 'rope' works inside full attention only; with "
                                         r"model.attention='performer' expected one of \['none', 'sinusoidal'"),
])
def test_bad_configs_fail_before_training_with_the_valid_choices(preset, override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(preset, overrides=[override])


def test_unknown_preset_and_bad_override_syntax():
    with pytest.raises(ConfigError, match=r"TASK: expected one of \[.*'pos'.*\], got 'tagging'"):
        resolve_config("tagging")
    with pytest.raises(ConfigError, match=r"override 'model.width': expected key=value"):
        parse_overrides(["model.width"])
    with pytest.raises(ConfigError, match=r"--config: expected a YAML file, got .*missing.yaml \(missing\)"):
        resolve_config("pos", "missing.yaml")
    with pytest.raises(ConfigError, match=r"task: the preset 'pos' is task 'pos', the config says 'image'"):
        resolve_config("pos", overrides=["task=image"])


def test_a_saved_config_from_before_a_key_existed_gets_its_default():
    from selfattn.train.config import complete_config

    saved = resolve_config("fashion-mnist")
    del saved["data"]["flip"]  # written before data.flip existed
    assert complete_config(saved)["data"]["flip"] == 0.0
    saved["data"]["colour"] = 1  # a key selfattn does not know is still an error
    with pytest.raises(ConfigError, match="colour"):
        complete_config(saved)


def test_a_saved_config_with_a_renamed_key_reads_under_the_new_name():
    from selfattn.train.config import RENAMED, complete_config

    saved = resolve_config("pos", overrides=["model.kind=cnn", "model.conv_kernel=5"])
    saved["model"]["kernel"] = saved["model"].pop("conv_kernel")  # written before the rename
    cfg = complete_config(saved)
    assert cfg["model"]["conv_kernel"] == 5 and "kernel" not in cfg["model"]
    for old, new in RENAMED.items():  # every rename is of a key the defaults still have
        section, key = new.split(".")
        assert key in resolve_config("pos")[section] and old != new


def test_overrides_and_files_read_exponents_as_numbers(tmp_path):
    # PyYAML alone reads 8e-5 as the string '8e-5' (YAML 1.1)
    assert parse_overrides(["optim.lr=8e-5", "model.width=64", "x.y=abc", "x.z=-1.5E2"]) == {
        "optim": {"lr": 8e-5}, "model": {"width": 64}, "x": {"y": "abc", "z": -150.0}}
    path = tmp_path / "c.yaml"
    path.write_text("optim:\n  lr: 3e-4\n")
    assert resolve_config("pos", file=path)["optim"]["lr"] == 3e-4
    assert resolve_config("pos", overrides=["optim.lr=2e-3"])["optim"]["lr"] == 2e-3
