"""Translation with a joint subword vocabulary: trains, scores BLEU on the target's own
words (pieces joined back), predicts words; a bad ``data.subword_vocab`` fails up front."""

from __future__ import annotations

import json

import pytest
from train_setup import tiny_config

from selfattn.data.sentiment import tokenize_words
from selfattn.train.config import ConfigError, check_config
from selfattn.train.run import predict, train


def test_subword_translation_scores_and_predicts_whole_words(data_files, tmp_path):
    pytest.importorskip("sacrebleu")
    pytest.importorskip("tokenizers")
    folder = tmp_path / "run"
    cfg = tiny_config("translate", folder, "trainer.max_epochs=2", f"data.path={data_files['translate']}",
                      "data.min_freq=1", "data.subword_vocab=60", "data.test_limit=4", "trainer.max_tokens=200",
                      "run.beam_size=2")
    results = train(cfg, log=lambda _: None)
    spec = json.loads((folder / "spec.json").read_text())
    assert spec["input"]["shared_with_target"] and spec["target_vocab"] == spec["input"]["vocab_sizes"][0]
    assert 0.0 <= results["test_bleu"] <= 100.0 and results["bleu_sentences"] == 4
    assert "tok:none" in results["bleu_signature"]
    rows = [line.split("\t") for line in data_files["translate"].read_text(encoding="utf-8").splitlines()[1:]]
    spanish = {ref: target for ref, _, target in rows}
    pieces = json.loads((folder / "state.json").read_text())["target_words"]
    assert any(p.startswith("##") for p in pieces)                 # some words are split ...
    for shown in results["bleu_examples"]:                         # ... and scored joined again
        assert shown["reference"] == " ".join(tokenize_words(spanish[shown["verse"]]))
        assert "##" not in shown["hypothesis"] and "##" not in shown["source"]
    source = tmp_path / "input.txt"
    source.write_text("the red house.\nthe old table.\n", encoding="utf-8")
    lines = predict(folder, source)
    assert [line.split("\t")[0] for line in lines] == ["the red house.", "the old table."]
    assert all("##" not in line for line in lines)


@pytest.mark.parametrize("bad", ["true", "8", "'8k'", "8000.5"])
def test_bad_subword_vocab_is_rejected_before_training(bad, tmp_path):
    with pytest.raises(ConfigError, match=r"data.subword_vocab: expected null \(word vocabularies\) or an "
                                          r"integer >= 16"):
        tiny_config("translate", tmp_path / "run", f"data.subword_vocab={bad}")
    check_config(tiny_config("translate", tmp_path / "run", "data.subword_vocab=16"))
