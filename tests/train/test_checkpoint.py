"""Safetensors checkpoints: every piece of Lightning's state survives, loading unpickles
nothing, and a write killed half-way leaves the previous file intact."""

from __future__ import annotations

import pickle

import pytest
import torch

from selfattn.train import checkpoint as ckpt


def test_nested_training_state_round_trips_exactly(tmp_path):
    opt = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    opt.zero_grad()
    sum(p.sum() for group in opt.param_groups for p in group["params"]).backward()
    opt.step()
    state = {"state_dict": {"w": torch.arange(6.0).view(2, 3), "i": torch.tensor([1, 2])},
             "optimizer_states": [opt.state_dict()], "epoch": 3, "global_step": 42,
             "loops": {"fit_loop": {"epoch_progress": {"total": {"ready": 4}}}}, "best": float("inf"),
             "tuple": (1, "a", None), "ints": {0: "zero", 1: [True, 2.5]}, "dtype": torch.bfloat16}
    path = tmp_path / "c.safetensors"
    ckpt.save_state(state, path)
    back = ckpt.load_state(path)
    assert back["epoch"] == 3 and back["global_step"] == 42 and back["best"] == float("inf")
    assert back["tuple"] == (1, "a", None) and back["ints"] == {0: "zero", 1: [True, 2.5]}
    assert back["dtype"] is torch.bfloat16 and back["loops"] == state["loops"]
    assert torch.equal(back["state_dict"]["w"], state["state_dict"]["w"])
    fresh = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    fresh.load_state_dict(back["optimizer_states"][0])     # int keys and tuples (betas) restored
    assert fresh.state_dict()["param_groups"][0]["betas"] == (0.9, 0.999)
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_objects_that_are_not_data_are_refused(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['hook'\]: cannot store a function"):
        ckpt.save_state({"hook": lambda: 0}, tmp_path / "x.safetensors")


def test_a_pickle_is_never_loaded(tmp_path):
    evil = tmp_path / "last.safetensors"
    evil.write_bytes(pickle.dumps({"state_dict": {}}))
    with pytest.raises(ValueError, match=r"last.safetensors: not a readable safetensors file"):
        ckpt.load_state(evil)
    with pytest.raises(FileNotFoundError, match=r"path: expected a safetensors checkpoint, got .*none"):
        ckpt.load_state(tmp_path / "none")


def test_a_write_killed_midway_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.safetensors"
    ckpt.save_state({"global_step": 1, "w": torch.ones(2)}, path)
    import safetensors.torch

    def dies_after_half(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"\x00" * 10)           # a partial file, then the process is killed
        raise KeyboardInterrupt

    monkeypatch.setattr(safetensors.torch, "save_file", dies_after_half)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_state({"global_step": 2, "w": torch.zeros(2)}, path)
    assert ckpt.load_state(path)["global_step"] == 1


def test_bare_weights_and_full_checkpoints_both_give_a_state_dict(tmp_path):
    weights = {"a.weight": torch.randn(2, 2)}
    ckpt.save_weights(weights, tmp_path / "m.safetensors")
    ckpt.save_state({"state_dict": weights, "epoch": 0}, tmp_path / "c.safetensors")
    for name in ("m", "c"):
        assert torch.equal(ckpt.load_weights(tmp_path / f"{name}.safetensors")["a.weight"], weights["a.weight"])
