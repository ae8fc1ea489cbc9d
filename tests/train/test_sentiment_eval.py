"""``selfattn eval`` of a sentiment run: its own test split re-encoded from the saved
vocabularies alone gives the training-time sets, and another file is scored with the
run's words and classes (renamed labels, unknown labels named or left out)."""

from __future__ import annotations

import pytest
import torch
from train_setup import tiny_config

from selfattn.train.evaluate import evaluate
from selfattn.train.loading import load_run
from selfattn.train.run import train
from selfattn.train.tasks import get_task


@pytest.fixture(scope="module")
def sentiment_run(data_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sent") / "run"
    cfg = tiny_config("sentiment", folder, "data.bigrams=true", "data.bigram_min_freq=1",
                      f"data.path={data_files['sentiment']}", "data.min_freq=1", "trainer.max_epochs=2",
                      "trainer.batch_size=16")
    data = get_task("sentiment").build(cfg)
    train(cfg, log=lambda _: None)
    return folder, data


def test_the_saved_state_encodes_the_test_split_exactly_as_training_did(sentiment_run):
    folder, data = sentiment_run
    cfg, task, _, state, _ = load_run(folder)
    again = task.eval_sets(cfg, state, "test")
    assert len(again) == len(data.test) > 0
    for a, b in zip(again.examples, data.test.examples, strict=True):
        assert a.source == b.source and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    results = evaluate(folder)
    recorded = __import__("json").loads((folder / "results.json").read_text())
    assert results["test_acc"] == pytest.approx(recorded["test_acc"])


def test_another_file_is_scored_with_renamed_and_unknown_labels(sentiment_run, tmp_path):
    folder, _ = sentiment_run
    other = tmp_path / "mine.csv"
    other.write_text("category,text\ngood,\"the film is superb and moving\"\nbad,\"the film is awful\"\n"
                     "bad,\"dull and flat\"\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"mine.csv:2: category 'good', expected fresh, rotten"):
        evaluate(folder, str(other))  # the file's line is named by the loader
    other.write_text("category,text\nfresh,\"the film is superb and moving\"\nrotten,\"the film is awful\"\n"
                     "rotten,\"dull and flat\"\nfresh,\"great and fine\"\n", encoding="utf-8")
    results = evaluate(folder, str(other))
    assert results["sets"] == 4 and results["split"] == "all"
    renamed = evaluate(folder, str(other), ["data.label_map={fresh: rotten, rotten: fresh}"])
    assert renamed["test_acc"] == pytest.approx(1 - results["test_acc"])  # every label swapped
    with pytest.raises(ValueError, match=r"label 'great' is not one the run was trained on \(2 labels: rotten fresh\)"):
        evaluate(folder, str(other), ["data.label_map={fresh: great}"])
    kept = evaluate(folder, str(other), ["data.label_map={fresh: great}", "data.unknown_labels=ignore"])
    assert kept["sets"] == 2  # the two fresh texts are left out
