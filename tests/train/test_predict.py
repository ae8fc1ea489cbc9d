"""predict: raw text through a Treebank tokenizer, stdin, scores per label (top-k), JSON
lines and CSV, bad lines skipped on request, and the Python Predictor returning tensors."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest
import torch
from train_setup import TINY

from selfattn.cli import main
from selfattn.data.ptb import ptb_detokenize, ptb_tokenize
from selfattn.train import Predictor


@pytest.fixture(scope="module")
def runs(data_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    for preset, key in (("pos", "pos"), ("freesolv", "freesolv")):
        assert main(["train", preset, *TINY, f"run.dir={root / preset}", f"data.path={data_files[key]}",
                     "trainer.max_epochs=1", "trainer.batch_size=8", "--quiet"]) == 0
    return root


@pytest.mark.parametrize(("text", "tokens"), [
    ("Don't stop, dog.", ["Do", "n't", "stop", ",", "dog", "."]),
    ('He said "hi (there)" to me.', ["He", "said", "``", "hi", "(", "there", ")", "''", "to", "me", "."]),
    ("It costs $5.50, isn't it?", ["It", "costs", "$", "5.50", ",", "is", "n't", "it", "?"]),
    ("The U.S. grew 3%.", ["The", "U.S.", "grew", "3", "%", "."]),
    ("I cannot wait...", ["I", "can", "not", "wait", "..."]),
])
def test_ptb_tokens_and_back(text, tokens):
    assert ptb_tokenize(text) == tokens
    assert ptb_detokenize(tokens).replace("can not", "cannot") == text


def test_raw_sentences_are_tokenised_and_scored(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a cat sees the dog.\n")))
    assert main(["predict", str(runs / "pos"), "-", "--format", "jsonl", "--top-k", "3"]) == 0
    [record] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert record["input"] == ["a", "cat", "sees", "the", "dog", "."] and record["source"] == "<stdin>:1"
    assert len(record["labels"]) == 6 and len(record["top"]) == 6
    for label, score, top in zip(record["labels"], record["score"], record["top"], strict=True):
        probs = [p for _, p in top]
        assert len(top) == 3 and probs == sorted(probs, reverse=True)
        assert top[0] == [label, score] and 0 < sum(probs) <= 1 + 1e-6


def test_the_python_predictor_returns_probabilities(runs, tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("the dog sees a cat .\n\nevery house opens the book .\n")
    predictor = Predictor.from_run(runs / "pos")
    out = predictor.predict_file(path, top_k=2)
    assert [len(p.labels) for p in out] == [6, 6]
    for p in out:
        assert p.probabilities.shape == (6, len(predictor.classes))
        assert torch.allclose(p.probabilities.sum(-1), torch.ones(6), atol=1e-5)
        assert [predictor.classes[i] for i in p.probabilities.argmax(-1)] == p.labels
    assert out[1].source.endswith(":3")


def test_csv_has_a_row_per_token(runs, tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("the/DT dog/NN sees/VBZ ./.\n")                  # tagged input: tags dropped
    assert main(["predict", str(runs / "pos"), str(path), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["input"] for r in rows] == ["the", "dog", "sees", "."]
    assert all(0 < float(r["probability"]) <= 1 for r in rows)


def test_a_smiles_table_with_a_header_and_a_bad_line(runs, tmp_path, capsys):
    path = tmp_path / "mols.csv"
    path.write_text("name,SMILES\nethanol,CCO\nbroken,C1CC(\nbenzene,c1ccccc1\n")
    assert main(["predict", str(runs / "freesolv"), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{path}:3" in err and len(err.strip().splitlines()) == 1
    assert main(["predict", str(runs / "freesolv"), str(path), "--skip-bad", "--format", "jsonl"]) == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["input"] for r in records] == ["CCO", "c1ccccc1"]
    assert all(isinstance(r["value"], float) for r in records)
    assert f"skipped {path}:3" in captured.err
