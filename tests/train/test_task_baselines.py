"""The baselines of ``benchmarks/task_baselines.py`` on tiny hand-made data: the most
frequent tag per word, its suffix rule, TF-IDF + logistic regression and the choice of
hyper-parameters on validation."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "task_baselines.py"


@pytest.fixture(scope="module")
def baselines():
    spec = importlib.util.spec_from_file_location("task_baselines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SENTENCES = [["the", "dog", "runs", "."], ["a", "cat", "sleeps", "."], ["the", "cat", "runs", "."],
             ["a", "dog", "sleeps", "."], ["the", "dog", "sleeps", "."]]
TAGS = [["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."],
        ["DT", "NN", "VBZ", "."], ["DT", "NN", "VBZ", "."]]


def test_most_frequent_tag_is_exact_when_each_word_has_one_tag(baselines):
    tagger = baselines.MostFrequentTag().fit(SENTENCES, TAGS)
    assert tagger.predict(SENTENCES) == TAGS
    assert tagger.token_accuracy(SENTENCES, TAGS) == 1.0


def test_an_unknown_word_gets_the_most_frequent_training_tag(baselines):
    # DT, NN, VBZ and "." are 5 each: one more NN makes it the majority
    tagger = baselines.MostFrequentTag().fit([*SENTENCES, ["dog"]], [*TAGS, ["NN"]])
    assert tagger.default == "NN"
    assert tagger.predict([["the", "zebra", "runs"]]) == [["DT", "NN", "VBZ"]]
    assert tagger.token_accuracy([["the", "zebra", "gallops"]], [["DT", "NN", "VBZ"]]) == pytest.approx(2 / 3)


def test_an_ambiguous_word_gets_its_most_frequent_tag(baselines):
    tagger = baselines.MostFrequentTag().fit([["run"], ["run"], ["run"]], [["VB"], ["NN"], ["VB"]])
    assert tagger.tag_word("run") == "VB"


def test_the_suffix_rule_tags_unknown_words_like_rare_words_with_their_ending(baselines):
    sentences = [["the", "walked"], ["the", "talked"], ["the", "dog"], ["the", "dog"],
                 ["the", "cat"], ["the", "cat"], ["Paris"]]
    tags = [["DT", "VBD"], ["DT", "VBD"], ["DT", "NN"], ["DT", "NN"], ["DT", "NN"], ["DT", "NN"], ["NNP"]]
    plain = baselines.MostFrequentTag().fit(sentences, tags)
    rule = baselines.MostFrequentTag(suffix=2).fit(sentences, tags)
    assert plain.tag_word("jumped") == "DT" == plain.default  # unknown: the majority tag
    assert rule.tag_word("jumped") == "VBD"                   # "ed", like walked / talked
    assert rule.tag_word("London") == "NNP"                   # capitalised, like Paris
    assert rule.tag_word("The") == "DT"                       # known lower-cased
    assert rule.tag_word("dog") == "NN"                       # known words keep their tag


def test_tagger_errors_name_what_is_wrong(baselines):
    with pytest.raises(ValueError, match="one tag per word"):
        baselines.MostFrequentTag().fit([["a", "b"]], [["DT"]])
    with pytest.raises(ValueError, match="suffix"):
        baselines.MostFrequentTag(suffix=-1)


TEXTS = ["a great film", "great acting and a great story", "wonderful and moving", "a wonderful film",
         "a terrible film", "awful acting and a dull story", "terrible and dull", "an awful film"]
LABELS = [1, 1, 1, 1, 0, 0, 0, 0]


def test_tfidf_logistic_regression_learns_the_polar_words(baselines):
    model = baselines.tfidf_logistic(C=10.0).fit(TEXTS, LABELS)
    assert model.predict(TEXTS).tolist() == LABELS
    assert model.predict(["great and wonderful", "dull and awful"]).tolist() == [1, 0]
    vocabulary = model[0].vocabulary_
    assert "great" in vocabulary and "great story" in vocabulary  # unigrams and bigrams


def test_fit_tfidf_chooses_C_on_validation(baselines):
    validation, validation_y = ["wonderful story", "dull film", "great", "terrible"], [1, 0, 1, 0]
    params, model, score, tried = baselines.fit_tfidf(TEXTS, LABELS, validation, validation_y,
                                                      Cs=(0.01, 10.0), sublinear=(False, True))
    assert [(t["params"]["C"], t["params"]["sublinear_tf"]) for t in tried] == [
        (0.01, False), (10.0, False), (0.01, True), (10.0, True)]
    best = max(t["validation"] for t in tried)
    assert score == best == 1.0
    assert params == next(t["params"] for t in tried if t["validation"] == best)  # the first best
    assert model.predict(validation).tolist() == validation_y


def test_select_on_validation_picks_the_best_and_the_first_on_ties(baselines):
    grid = [{"k": k} for k in (1, 2, 3, 4)]
    scores = {1: 0.5, 2: 0.9, 3: 0.9, 4: 0.1}
    params, model, value, tried = baselines.select_on_validation(grid, lambda p: p["k"], lambda m: scores[m])
    assert (params, model, value) == ({"k": 2}, 2, 0.9) and len(tried) == 4
    params, *_ = baselines.select_on_validation(grid, lambda p: p["k"], lambda m: scores[m],
                                                higher_is_better=False)
    assert params == {"k": 4}
    with pytest.raises(ValueError, match="at least one"):
        baselines.select_on_validation([], lambda p: p, lambda m: 0.0)


def test_metrics(baselines):
    assert baselines.accuracy([1, 0, 1], [1, 1, 1]) == pytest.approx(2 / 3)
    assert baselines.rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(12.5 ** 0.5)
    with pytest.raises(ValueError, match="equal"):
        baselines.accuracy([1, 0], [1])
