"""Sentiment with a lexicon field: each word also carries its VADER rating, through a
frozen table, so words never seen in training still say something."""

from __future__ import annotations

import pytest
import torch
from train_setup import tiny_config

from selfattn.data import load_vader_lexicon
from selfattn.train.config import ConfigError, resolve_config
from selfattn.train.run import load_run, predict, train
from selfattn.train.tasks import get_task

LEXICON = "superb\t3.2\t0.6\t[3, 4, 3, 3, 3, 4, 3, 3, 3, 3]\r\nawful\t-2.0\t0.5\t[-2, -2, -2, -2, -2, -2, -2, -2, -2, -2]\r\n" \
          "zany\t1.6\t0.9\t[1, 2, 2, 1, 2, 1, 2, 2, 1, 2]\r\n:)\t2.0\t0.4\t[2, 2, 2, 2, 2, 2, 2, 2, 2, 2]\r\n"


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "vader_lexicon.txt"
    path.write_bytes(LEXICON.encode())
    return path


def test_the_lexicon_file_is_read_with_its_crlf_lines_and_a_bad_line_is_named(lexicon, tmp_path):
    assert load_vader_lexicon(lexicon) == {"superb": 3.2, "awful": -2.0, "zany": 1.6, ":)": 2.0}
    assert load_vader_lexicon(lexicon.parent) == load_vader_lexicon(lexicon)
    bad = tmp_path / "bad.txt"
    bad.write_text("good\t1.9\t0.9\t[2]\nmeh\tlots\t0.1\t[0]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 'token<TAB>mean<TAB>std<TAB>ratings'.*'meh"):
        load_vader_lexicon(bad)
    bad.write_text("good\t9.5\t0.9\t[2]\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:1: .*valence 9.5 outside \[-4, 4\]"):
        load_vader_lexicon(bad)


def test_each_word_gets_its_lexicon_id_and_the_frozen_rows_hold_the_ratings(data_files, lexicon, tmp_path):
    folder = tmp_path / "run"
    cfg = tiny_config("sentiment", folder, "data.lexicon=vader", f"data.lexicon_path={lexicon}",
                      f"data.path={data_files['sentiment']}", "data.min_freq=1", "trainer.max_epochs=2",
                      "trainer.batch_size=16")
    data = get_task("sentiment").build(cfg)
    assert data.spec["input"]["vocab_sizes"][1] == 2 + 4 and data.spec["input"]["frozen_fields"] == {"1": 2}
    assert data.state["lexicon"] == sorted(["superb", "awful", "zany", ":)"])
    entries = ["<pad>", "<unk>", *data.state["lexicon"]]
    words = data.state["words"]
    for example in [*data.train.examples, *data.test.examples]:
        assert example.x.shape == (len(example), 2)
        for word_id, lexicon_id in example.x.tolist():
            word = words[word_id]
            assert entries[lexicon_id] == (word if word in ("superb", "awful") else "<unk>")

    train(cfg, log=lambda _: None)
    _, _, _, _, model = load_run(folder)
    table = model.embed.tables[1].weight
    assert not table.requires_grad
    expected = torch.zeros(6, 2)
    for i, value in enumerate([2.0, -2.0, 3.2, 1.6], start=2):  # sorted: ':)', 'awful', 'superb', 'zany'
        expected[i] = torch.tensor([value / 4, 1.0])
    assert torch.allclose(table, expected)  # still the ratings after training: the table is frozen

    # 'zany' never occurs in the training texts: an unknown word to the word field, but rated
    source = tmp_path / "in.txt"
    source.write_text("the film is zany\nthe film is awful\n", encoding="utf-8")
    task = get_task("sentiment")
    sets, _ = task.read_input(source, data.state, cfg)
    assert sets[0].x.tolist()[-1] == [1, entries.index("zany")]
    assert sets[1].x.tolist()[-1] == [words.index("awful"), entries.index("awful")]
    lines = predict(folder, source)
    assert [line.split("\t")[1] for line in lines] == ["the film is zany", "the film is awful"]


def test_a_lexicon_with_a_pretrained_encoder_fails_before_training(data_files):
    cfg = resolve_config("sentiment-minilm", overrides=["data.lexicon=vader", f"data.path={data_files['sentiment']}"])
    with pytest.raises(ConfigError, match=r"data.lexicon, data.embedding, data.bigrams: model.kind='pretrained'.*got 'vader'"):
        get_task("sentiment").build(cfg)
    with pytest.raises(ConfigError, match=r"data.lexicon: expected 'none' or 'vader'"):
        resolve_config("sentiment", overrides=["data.lexicon=afinn"])
