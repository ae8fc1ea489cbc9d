"""Sentiment with a word-pair field: each word also carries the id of the pair it starts,
the same at training and at prediction time."""

from __future__ import annotations

import pytest
from train_setup import tiny_config

from selfattn.train.config import ConfigError, resolve_config
from selfattn.train.run import predict, train
from selfattn.train.tasks import get_task
from selfattn.train.tasks.text import word_pairs


def test_word_pairs_end_with_the_end_marker():
    assert word_pairs(["not", "good"]) == ["not good", "good </s>"]
    assert word_pairs(["fine"]) == ["fine </s>"]
    assert word_pairs([]) == []


def test_each_word_gets_the_id_of_its_pair_in_training_and_in_predict(data_files, tmp_path):
    folder = tmp_path / "run"
    cfg = tiny_config("sentiment", folder, "data.bigrams=true", "data.bigram_min_freq=1",
                      f"data.path={data_files['sentiment']}", "data.min_freq=1", "trainer.max_epochs=1",
                      "trainer.batch_size=16")
    task = get_task("sentiment")
    data = task.build(cfg)
    pairs = ["<pad>", "<unk>", *data.state["bigrams"]]
    words = data.state["words"]
    sizes = data.spec["input"]["vocab_sizes"]
    assert len(sizes) == 2 and sizes[1] == len(pairs)
    assert data.spec["input"]["unk_dropout"] == {"0": cfg["data"]["word_dropout"], "1": cfg["data"]["word_dropout"]}
    seen = set()
    for example in data.train.examples:
        ids = example.x.tolist()
        text = [words[w] for w, _ in ids]
        assert [pairs[p] for _, p in ids] == word_pairs(text)  # min_freq 1: every training pair is known
        seen.update(word_pairs(text))
    for example in data.test.examples:  # a test pair never seen in training is unknown, never another pair
        for (w, p), pair in zip(example.x.tolist(), word_pairs([words[w] for w, _ in example.x.tolist()]),
                                strict=True):
            if words[w] == "<unk>":
                continue
            assert pairs[p] == (pair if pair in seen else "<unk>") or "<unk>" in pair

    train(cfg, log=lambda _: None)
    first = data.train.examples[0]
    text = " ".join(words[w] for w, _ in first.x.tolist())
    source = tmp_path / "in.txt"
    source.write_text(text + "\n", encoding="utf-8")
    sets, _ = task.read_input(source, data.state, cfg)
    assert sets[0].x.tolist() == first.x.tolist()  # predict encodes a text exactly as training did
    assert predict(folder, source)[0].endswith("\t" + text)


def test_bad_bigram_options_are_named():
    with pytest.raises(ConfigError, match=r"data.bigrams: expected true or false"):
        resolve_config("sentiment", overrides=["data.bigrams=3"])
    with pytest.raises(ConfigError, match=r"data.bigram_min_freq: expected an integer >= 1, got 0"):
        resolve_config("sentiment", overrides=["data.bigram_min_freq=0"])
    with pytest.raises(ConfigError, match=r"data.bigrams: model.kind='pretrained'|data.bigrams"):
        get_task("sentiment").build(resolve_config("sentiment-minilm", overrides=["data.bigrams=true"]))
