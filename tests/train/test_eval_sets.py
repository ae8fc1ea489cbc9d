"""Every task that can be scored on other data (``Task.eval_sets``) re-encodes its own test
split from the run's saved state alone exactly as training encoded it, and scores a whole
file in its format (``selfattn eval RUN --data FILE``)."""

from __future__ import annotations

import pytest
import torch
from train_setup import tiny_config

from selfattn.train.evaluate import evaluate
from selfattn.train.loading import load_run, split_fingerprint
from selfattn.train.run import train
from selfattn.train.tasks import get_task

CASES = {  # preset, overrides, the fixture file, sets in that file
    "pos": (["data.glove=0", "data.chars=8"], "pos", 80),
    "sentiment": (["data.min_freq=1", "data.bigrams=true"], "sentiment", 120),  # the 'plot' row is dropped
    "molecule-bbb": ([], "b3db", None),
    "freesolv": ([], "freesolv", None),
}


@pytest.mark.parametrize("preset", list(CASES))
def test_eval_sets_rebuild_the_test_split_and_score_a_whole_file(preset, data_files, tmp_path):
    overrides, key, count = CASES[preset]
    folder = tmp_path / "run"
    cfg = tiny_config(preset, folder, f"data.path={data_files[key]}", "trainer.max_epochs=1",
                      "trainer.batch_size=8", *overrides)
    task = get_task(cfg["task"])
    built = task.build(cfg)
    recorded = train(cfg, log=lambda _: None)
    saved_cfg, task, _, state, _ = load_run(folder)
    again = task.eval_sets(saved_cfg, state, "test")
    assert len(again) == len(built.test) > 0
    for a, b in zip(again.examples, built.test.examples, strict=True):
        assert str(a.source) == str(b.source) and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
        assert (a.edge_index is None) == (b.edge_index is None)
        if a.edge_index is not None:
            assert torch.equal(a.edge_index, b.edge_index)
    assert split_fingerprint(again) == split_fingerprint(built.test)
    metric = next(k for k in recorded if k.startswith("test_") and k != "test_loss")
    assert evaluate(folder)[metric] == pytest.approx(recorded[metric], abs=1e-5)

    whole = evaluate(folder, str(data_files[key]))
    assert whole["split"] == "all"
    if count is not None:
        assert whole["sets"] == count
    else:
        assert whole["sets"] == len(built.train) + len(built.validation) + len(built.test)
