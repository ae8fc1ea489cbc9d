"""WordFields: fields and spelling of each word, the same after save and load."""

from __future__ import annotations

import pytest
import torch
from train_setup import tiny_config

from selfattn.train.features import FIELDS, WordFields
from selfattn.train.run import predict, train
from selfattn.train.tasks import get_task

SENTENCES = [["The", "dog", "barks", "."], ["Un\u2028usual", "naïve", "über-long-hyphenated-word"]]


def test_spelling_keeps_short_words_whole_and_the_ends_of_long_ones():
    fields = WordFields.build(SENTENCES, chars=8)
    ids = fields.encode(["dog", "über-long-hyphenated-word", "cat"])
    assert ids.shape == (3, len(FIELDS) + 8)
    back = {i: c for i, c in enumerate(fields.chars, start=2)}
    spelled = ["".join(back.get(i, "?") for i in row if i > 0) for row in ids[:, len(FIELDS):].tolist()]
    assert spelled[0] == "dog" and spelled[1] == "über" + "word"  # first 4, last 4
    assert ids[2, len(FIELDS):].tolist() == [ids[0, len(FIELDS) + 1].item() * 0 + c for c in
                                             [fields.spell("cat")[0], *fields.spell("cat")[1:]]]
    assert fields.spell("cat")[0] == 1 and fields.spell("cat")[3:] == [0] * 5  # 'c' unseen: unknown, then padding
    assert fields.encode([]).shape == (0, len(FIELDS) + 8)
    assert WordFields.build(SENTENCES).encode(["dog"]).shape == (1, len(FIELDS))


def test_save_and_load_give_the_same_ids_with_any_character(tmp_path):
    fields = WordFields.build(SENTENCES, chars=12)
    fields.save(tmp_path)
    again = WordFields.load(tmp_path)
    words = [w for s in SENTENCES for w in s] + ["unseen"]
    assert torch.equal(again.encode(words), fields.encode(words))  # '\u2028' survives the file
    plain = tmp_path / "plain"
    plain.mkdir()
    WordFields.build(SENTENCES).save(plain)
    assert WordFields.load(plain).char_length == 0


def test_a_pos_run_with_spelling_predicts_as_it_trained(data_files, tmp_path):
    folder = tmp_path / "run"
    cfg = tiny_config("pos", folder, f"data.path={data_files['pos']}", "data.chars=10", "trainer.max_epochs=1")
    data = get_task("pos").build(cfg)
    assert data.spec["input"]["chars"] == {"vocab": data.state["fields"].num_chars, "length": 10}
    assert data.train.examples[0].x.shape[1] == len(data.state["fields"].names) + 10
    train(cfg, log=lambda _: None)
    first = data.test.examples[0]
    words = [data.state["fields"].vocabs[0].tokens[i] for i in first.x[:, 0].tolist()]
    source = tmp_path / "in.txt"
    source.write_text(" ".join(words) + "\n", encoding="utf-8")
    lines = predict(folder, source)
    assert [t.rpartition("/")[0] for t in lines[0].split()] == words
    with pytest.raises(Exception, match=r"data.chars: expected 0 \(no spelling\) or the characters kept"):
        tiny_config("pos", tmp_path / "x", "data.chars=-1")
