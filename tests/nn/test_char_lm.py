"""The character n-gram (selfattn.nn.char_lm) and its shallow fusion in CTC beam search."""

from __future__ import annotations

import itertools
import math
from collections import Counter

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn.char_lm import END, CharNgram
from selfattn.nn.ctc import beam_decode, sequence_log_prob

START = -1


def _naive_prob(sentences, symbols, order, smoothing, w, context):
    """P(w | context) from the definitions, counting the corpus again for every query."""
    context = ([START] * (order - 1) + list(context))[len(context):] if order > 1 else []
    grams = Counter()
    for s in sentences:
        padded = [START] * (order - 1) + list(s) + [END]
        for i in range(order - 1, len(padded)):
            for k in range(1, order + 1):
                grams[tuple(padded[i - k + 1: i + 1])] += 1

    def count(gram):  # the count this order's estimate uses
        if smoothing == "witten-bell" or len(gram) == order or gram[0] == START:
            return grams.get(gram, 0)
        return len({g[0] for g in grams if len(g) == len(gram) + 1 and g[1:] == gram})

    def discount(k):
        of_order = [count(g) for g in grams if len(g) == k]
        n1, n2 = of_order.count(1), of_order.count(2)
        return n1 / (n1 + 2 * n2) if n1 + n2 and n1 else 0.5

    def prob(w, h):
        lower = prob(w, h[1:]) if h else 1 / (symbols + 1)
        after = {v: count((*h, v)) for v in range(symbols + 1)}
        after = {v: c for v, c in after.items() if c > 0}
        total, distinct = sum(after.values()), len(after)
        if total == 0:
            return lower
        if smoothing == "witten-bell":
            return (after.get(w, 0) + distinct * lower) / (total + distinct)
        d = discount(len(h) + 1)
        return max(after.get(w, 0) - d, 0) / total + d * distinct / total * lower

    return prob(w, tuple(context))


corpora = st.lists(st.lists(st.integers(1, 4), max_size=7), max_size=6)


@settings(max_examples=60, deadline=None)
@given(corpora, st.integers(1, 5), st.sampled_from(["kneser-ney", "witten-bell"]),
       st.lists(st.integers(1, 4), max_size=7))
def test_every_context_gives_a_distribution_over_symbols_and_end(sentences, order, smoothing, context):
    lm = CharNgram(sentences, 4, order, smoothing)
    row = lm.log_probs(context)
    assert len(row) == 5 and all(p < 0 for p in row)  # every symbol and the end keep some mass
    assert math.isclose(sum(math.exp(p) for p in row), 1.0, abs_tol=1e-12)


@settings(max_examples=40, deadline=None)
@given(corpora, st.integers(1, 4), st.sampled_from(["kneser-ney", "witten-bell"]),
       st.lists(st.integers(1, 4), max_size=6))
def test_probabilities_equal_the_definitions(sentences, order, smoothing, context):
    lm = CharNgram(sentences, 4, order, smoothing)
    row = lm.log_probs(context)
    for w in range(5):
        assert math.isclose(math.exp(row[w]), _naive_prob(sentences, 4, order, smoothing, w, context),
                            rel_tol=1e-9)


def test_the_model_prefers_what_it_was_trained_on():
    words = [[1, 2, 3], [1, 2, 3, 4], [3, 2, 1]]
    lm = CharNgram(words * 5, 4, 3)
    assert lm.log_probs([1, 2])[3] > lm.log_probs([1, 2])[1]
    assert lm.log_probs([1, 2, 3])[4] > lm.log_probs([1, 2, 3])[2]
    assert lm.sentence_log_prob([1, 2, 3]) > lm.sentence_log_prob([2, 1, 3])
    assert lm.perplexity(words) < lm.perplexity([[4, 4, 4], [2, 4, 1]])
    assert CharNgram([], 4, 3).perplexity(words) == pytest.approx(5.0)  # no data: uniform over 4 + end


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"sentences\[1\]: expected ids in 1..3, got 0"):
        CharNgram([[1, 2], [0, 1]], 3)
    with pytest.raises(ValueError, match="order: expected an integer >= 1, got 0"):
        CharNgram([[1]], 3, order=0)
    with pytest.raises(ValueError, match="smoothing: expected one of"):
        CharNgram([[1]], 3, smoothing="good-turing")


def _random_log_probs(frames, symbols, seed, sharp=3.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(frames, symbols + 1, generator=g, dtype=torch.float64) * sharp).log_softmax(-1)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 12), st.integers(0, 10_000), st.integers(1, 6), corpora)
def test_fusion_with_weight_zero_is_the_plain_search(frames, seed, beam, sentences):
    lp = _random_log_probs(frames, 4, seed)
    lm = CharNgram(sentences, 4, 3)
    plain = beam_decode(lp, beam)
    assert beam_decode(lp, beam, lm=lm, lm_weight=0.0, length_bonus=0.0) == plain
    assert beam_decode(lp, beam, lm=None, lm_weight=0.7, length_bonus=0.0) == plain  # no LM: weight unused


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(0, 10_000), st.floats(0.0, 2.0), st.floats(-2.0, 2.0))
def test_an_unpruned_fused_search_finds_the_best_string(frames, seed, weight, bonus):
    """Beam wide enough for every prefix: the result is the argmax over all strings of
    log P_ctc + weight * log P_lm (end included) + bonus * length, found by enumeration."""
    symbols = 3
    lp = _random_log_probs(frames, symbols, seed, sharp=1.5)
    lm = CharNgram([[1, 2], [2, 3, 1], [1, 2, 3]], symbols, 2, "witten-bell")
    strings = [list(s) for n in range(frames + 1) for s in itertools.product(range(1, symbols + 1), repeat=n)]

    def score(s):
        return sequence_log_prob(lp, s) + weight * lm.sentence_log_prob(s) + bonus * len(s)

    scores = sorted((score(s), s) for s in strings if sequence_log_prob(lp, s) > -math.inf)
    if len(scores) > 1 and scores[-1][0] - scores[-2][0] < 1e-9:
        return  # a tie: either answer is right
    found = beam_decode(lp, 10_000, prune=-math.inf, lm=lm, lm_weight=weight, length_bonus=bonus)
    assert found == scores[-1][1]


def test_the_language_model_turns_an_ambiguous_frame_into_a_known_word():
    """Acoustics slightly prefer "cab"'s last symbol to be 3 ("cac"); the LM knows "cab"."""
    c, a, b = 3, 1, 2
    frames = [{c: 0.9}, {a: 0.9}, {c: 0.5, b: 0.45}]
    lp = torch.full((3, 4), 1e-3, dtype=torch.float64)
    for t, probs in enumerate(frames):
        for v, p in probs.items():
            lp[t, v] = p
    lp = (lp / lp.sum(1, keepdim=True)).log()
    lm = CharNgram([[c, a, b]] * 20 + [[a, b]] * 5, 3, 3)
    assert beam_decode(lp, 4) == [c, a, c]
    assert beam_decode(lp, 4, lm=lm, lm_weight=0.5) == [c, a, b]
