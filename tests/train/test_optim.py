"""The optimiser's parameter groups: weight decay, and layer-wise learning rates."""

from __future__ import annotations

import pytest
import torch

from selfattn.nn.model import build_model
from selfattn.train.module import layer_depths, parameter_groups

SPEC = {"task": "set", "target": "class", "outputs": 3, "max_len": 12, "input": {"kind": "tokens", "vocab_sizes": [30]}}
MODEL = {"kind": "transformer", "width": 16, "depth": 3, "heads": 4, "ff": 32, "dropout": 0.0, "norm": "pre",
         "attention": "full", "attention_options": {}, "positional": "learned", "positional_options": {},
         "pattern": "none", "window": 2, "pooling": "attention", "head_hidden": 0}


def _rates(model, decay):
    """Each parameter's (learning-rate scale, weight decay) from the groups, by name."""
    by_id = {}
    for g in parameter_groups(model, 0.01, decay):
        for p in g["params"]:
            assert id(p) not in by_id, "a parameter in two groups"
            by_id[id(p)] = (g["lr_scale"], g["weight_decay"])
    return {n: by_id[id(p)] for n, p in model.named_parameters()}


def test_layer_decay_scales_each_block_below_the_head():
    model = build_model(MODEL, SPEC)
    depths = layer_depths(model)
    rates = _rates(model, 0.5)
    params = dict(model.named_parameters())
    assert set(rates) == set(params)
    for name, (scale, wd) in rates.items():
        if name.startswith("encoder.layers."):
            i = int(name.split(".")[2])
            assert depths[name] == i + 1
            assert scale == pytest.approx(0.5 ** (3 - i))  # the top block (i = 2) at half the head's rate
        elif name in ("embed.tables.0.weight", "encoder.inputs.weight"):  # word table, learned positions
            assert depths[name] == 0 and scale == pytest.approx(0.5 ** 4)
        else:  # final norm and the head
            assert name.startswith(("encoder.norm", "head")), name
            assert depths[name] == 4 and scale == 1.0
        assert wd == (0.0 if params[name].dim() < 2 or "norm" in name else 0.01)


def test_without_layer_decay_every_rate_is_the_base_rate_and_frozen_parameters_are_left_out():
    model = build_model(MODEL, SPEC)
    model.embed.tables[0].weight.requires_grad_(False)
    groups = parameter_groups(model, 0.1, 1.0)
    assert [g["lr_scale"] for g in groups] == [1.0, 1.0]
    grouped = {id(p) for g in groups for p in g["params"]}
    assert id(model.embed.tables[0].weight) not in grouped
    assert len(grouped) == sum(p.requires_grad for p in model.parameters())


def test_a_model_without_blocks_is_all_depth_zero():
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))
    assert set(layer_depths(mlp).values()) == {0}
    assert {g["lr_scale"] for g in parameter_groups(mlp, 0.0, 0.3)} == {1.0}


def test_the_optimiser_starts_each_group_at_its_scaled_rate():
    from unittest import mock

    from selfattn.train.module import TaskModule

    optim = {"lr": 0.01, "weight_decay": 0.0, "layer_decay": 0.5, "warmup_steps": 0, "schedule": "constant",
             "min_lr_ratio": 1.0}
    module = TaskModule(build_model(MODEL, SPEC), SPEC, optim)
    trainer = mock.Mock(estimated_stepping_batches=10)
    with mock.patch.object(TaskModule, "trainer", new_callable=mock.PropertyMock, return_value=trainer):
        opt = module.configure_optimizers()["optimizer"]
    assert sorted({round(g["lr"], 8) for g in opt.param_groups}) == [0.01 * 0.5 ** k for k in (4, 3, 2, 1, 0)]


def test_a_run_with_layer_decay_logs_the_head_rate(data_files, tmp_path):
    import json

    from train_setup import tiny_config

    from selfattn.train.run import train

    folder = tmp_path / "run"
    cfg = tiny_config("pos", folder, "trainer.max_epochs=1", "data.glove=0", f"data.path={data_files['pos']}",
                      "optim.layer_decay=0.5", "optim.schedule=constant", "optim.warmup_steps=0", "optim.lr=0.004")
    train(cfg, log=lambda _: None)
    (row,) = json.loads((folder / "metrics.json").read_text())
    assert row["lr"] == pytest.approx(0.004)  # not the embeddings' 0.004 * 0.5 ** 2
