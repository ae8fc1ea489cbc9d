"""The LRA harness: scales, a few training steps, the speed and memory sweep."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch

from selfattn.bench.cli import summary
from selfattn.bench.lra import (
    PAPER,
    SMALL,
    TINY,
    TaskConfig,
    make_datasets,
    run_lra,
    scale_by_name,
    with_steps,
)
from selfattn.bench.lra.speed import measure_memory, speed_sweep

SCALE = dataclasses.replace(
    TINY, tasks={"listops": TaskConfig(32, 16, 3, batch=8, length=40, min_length=10, depth=3)})


def test_scales_cover_the_four_tasks():
    for scale in (TINY, SMALL, PAPER):
        assert set(scale.tasks) == {"listops", "text", "image", "pathfinder"}
    assert PAPER.tasks["listops"].length == 2000 and PAPER.tasks["text"].length == 4000
    assert PAPER.tasks["image"].pool == 1 and PAPER.tasks["pathfinder"].size == 32
    assert scale_by_name("full") is PAPER
    assert all(c.steps == 7 for c in with_steps(SMALL, 7).tasks.values())
    with pytest.raises(ValueError, match="scale: expected one of"):
        scale_by_name("huge")
    with pytest.raises(ValueError, match="task: expected one of"):
        make_datasets("cifar", TINY)


def test_training_lowers_the_loss_and_reports():
    scale = dataclasses.replace(SCALE, tasks={"listops": dataclasses.replace(SCALE.tasks["listops"], steps=30)})
    rows = run_lra(["full", "linear"], scale, progress=False)
    assert [r["attention"] for r in rows] == ["full", "linear"]
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["steps"] == 30 and r["train_examples_per_s"] > 0
        assert 0.1 <= r["chance"] <= 1.0
        assert r["loss_curve"][-1] < r["loss_curve"][0]  # 32 examples, 30 steps: it fits them
    assert "listops" in summary(rows) and "train/full" in summary(rows)


def test_speed_sweep_is_relative_to_full():
    sweep = speed_sweep(["full", "local", "linear"], SCALE, memory=False, progress=False)
    full = sweep["results"]["full"]["lengths"]
    assert set(full) == {"32", "64"}
    assert all(cell["speedup_vs_full"] == 1.0 for cell in full.values())
    lin = sweep["results"]["linear"]["lengths"]["64"]
    assert lin["speedup_vs_full"] == pytest.approx(full["64"]["min_s"] / lin["min_s"])
    with pytest.raises(ValueError, match="attentions: expected 'full'"):
        speed_sweep(["linear"], SCALE, memory=False)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory via /proc is Linux-only")
def test_quadratic_attention_needs_more_memory_than_linear():
    scale = dataclasses.replace(SCALE, d_model=16, heads=4, layers=1, ff=16)
    peaks = measure_memory(["synthesizer", "linear"], scale, [1024])
    # The Synthesizer keeps (1, 4, 1024, 1024) float weights: 16 MiB; linear attention keeps O(L).
    assert peaks["synthesizer"]["1024"] > 16 * 2**20 > 4 * peaks["linear"]["1024"]


def test_training_on_cuda_when_there_is_one():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rows = run_lra(["full"], SCALE, progress=False, device="cuda")
    assert rows[0]["steps"] == 3
