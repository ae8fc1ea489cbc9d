"""'I saw a saw': token subsets counted by hand, the experiment's JSON at tiny scale."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from selfattn.experiments._pos import (
    ambiguous_in_sentence,
    ambiguous_types,
    count_correct,
    per_vector_ceiling,
)
from selfattn.experiments.i_saw_a_saw import MODELS, run


def test_ambiguous_in_sentence_is_the_lectures_example():
    assert ambiguous_in_sentence(["I", "saw", "a", "saw"], ["PRP", "VBD", "DT", "NN"]) == [False, True, False, True]
    # same tag twice is not ambiguous; case matters (the word fields see "That" and "that" apart)
    words = ["That", "is", "the", "book", "that", "I", "said", "that", "you", "read"]
    tags = ["DT", "VBZ", "DT", "NN", "WDT", "PRP", "VBD", "IN", "PRP", "VBD"]
    assert ambiguous_in_sentence(words, tags) == [False, False, False, False, True, False, False, True,
                                                  False, False]
    with pytest.raises(ValueError, match="tags: expected one tag per word"):
        ambiguous_in_sentence(["a", "b"], ["DT"])


def test_ceiling_of_models_that_tag_a_form_once_per_sentence():
    sentences = [["I", "saw", "a", "saw"], ["that", "that", "that"], ["no", "repeats"]]
    tags = [["PRP", "VBD", "DT", "NN"], ["IN", "IN", "WDT"], ["DT", "NNS"]]
    # 'saw': at best 1 of 2; 'that': at best 2 of 3 (tag all IN)
    assert per_vector_ceiling(sentences, tags) == (3, 5)


def test_ambiguous_types_and_counts():
    assert ambiguous_types([["a", "saw"], ["saw"]], [["DT", "NN"], ["VBD"]]) == {"saw"}
    assert count_correct([["A", "B"], ["C"]], [["A", "X"], ["C"]]) == (2, 3)
    assert count_correct([["A", "B"], ["C"]], [["A", "X"], ["C"]], [[False, True], [False]]) == (0, 1)
    with pytest.raises(ValueError, match=r"predicted\[0\]: expected 2 tags, got 1"):
        count_correct([["A"]], [["A", "B"]])


def test_experiment_tiny(tmp_path):
    result = run(tmp_path, scale="tiny")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "figure.png").read_bytes()[:4] == b"\x89PNG"
    for key in ("command", "seed", "wall_s", "torch_threads", "test_tokens", "ambiguous_in_sentence_tokens",
                "ambiguous_type_tokens", "per_vector_ceiling_in_sentence", "models"):
        assert key in saved
    assert [m["name"] for m in saved["models"]] == list(MODELS)
    # the subset sizes, recounted independently from the corpus split the run used
    from selfattn.data import load_pos, split_indices

    corpus = load_pos("wsj")
    test_idx = split_indices(len(corpus), (0.8, 0.1, 0.1), 0)[2].tolist()[:100]
    amb = 0
    for i in test_idx:
        tags_of = defaultdict(set)
        for w, t in zip(corpus.sentences[i], corpus.tags[i], strict=True):
            tags_of[w].add(t)
        amb += sum(len(tags_of[w]) > 1 for w in corpus.sentences[i])
    assert saved["ambiguous_in_sentence_tokens"] == amb > 0
    assert saved["test_tokens"] == sum(len(corpus.sentences[i]) for i in test_idx)
    for m in saved["models"]:
        for key in ("accuracy", "accuracy_ambiguous_type"):
            assert 0.0 <= m[key] <= 1.0
        # the prediction path scores what the trainer's own test loop scored
        assert m["accuracy"] == pytest.approx(m["trainer_test_acc"], abs=2e-3)
    ceiling = saved["per_vector_ceiling_in_sentence"]
    for name in ("per-vector MLP", "self-attention, no positions"):
        model = next(m for m in saved["models"] if m["name"] == name)
        assert model["accuracy_ambiguous_in_sentence"] <= ceiling + 1e-9
        # identical vectors in one set: both "saw" get the same tag
        tags = [tok.rpartition("/")[2] for tok in model["probes"][0].split()]
        assert tags[1] == tags[3]
    assert result["figure"].endswith("figure.png")


def test_rejects_unknown_scale(tmp_path):
    with pytest.raises(ValueError, match=r"scale: expected one of \['tiny', 'small', 'full'\], got 'huge'"):
        run(tmp_path, scale="huge")
