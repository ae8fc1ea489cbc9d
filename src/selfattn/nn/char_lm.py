"""A character n-gram language model for shallow fusion in CTC beam search.

:class:`CharNgram` is trained on symbol-id sequences (the training transcripts, ids ``1..V``
as the CTC head writes them) and gives, for any context, a distribution over the ``V``
symbols and the end of the sentence (slot ``0``: the CTC blank is never written, so its
id names *end*). Two interpolated smoothings, each exactly normalised for every context,
seen or not:

* ``kneser-ney`` (interpolated Kneser-Ney, Chen & Goodman 1998, one discount per order
  ``D = n1 / (n1 + 2 n2)`` from the count-of-counts): the highest order uses counts, the
  lower orders continuation counts (how many distinct symbols precede an n-gram), except
  n-grams that start at the sentence start, which keep their counts (as KenLM does);
  the lowest order is interpolated with the uniform distribution over ``V + 1``.
* ``witten-bell``: ``P(w | h) = (c(h w) + N1+(h .) P(w | h')) / (c(h) + N1+(h .))`` with
  ``N1+(h .)`` the number of distinct symbols seen after ``h``; uniform below the unigram.

Written here rather than taken from a library, because of what was measured on the 3,000
training transcripts of ``espeak-asr`` (28 symbols, order 6): NLTK's ``nltk.lm``
(``KneserNeyInterpolated``) takes about 1 s to score the 29 symbols of one seen context,
where a CTC beam search asks for thousands of contexts per utterance, and its
distributions give part of the mass to its ``<s>`` / ``<UNK>`` pseudo-words (sums over the
real symbols 0.996-0.99997); KenLM's Python module only queries models that its C++
``lmplz`` estimates, which the PyPI package does not ship; pyctcdecode fuses word-level
KenLM models at word boundaries, not characters. Here a context's whole distribution is
one table row, computed once and cached.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

__all__ = ["END", "SMOOTHINGS", "CharNgram"]

END = 0  # slot of the end of the sentence in every distribution (the CTC blank's id)
_START = -1  # padding before the first symbol; never predicted
SMOOTHINGS = ("kneser-ney", "witten-bell")


class CharNgram:
    """An order-``order`` n-gram over ids ``1..symbols`` plus :data:`END` (module doc).

    ``sentences``: sequences of ids in ``1..symbols``. :meth:`log_probs` of a context (any
    sequence of ids; only its last ``order - 1`` are read) is a tuple of ``symbols + 1``
    natural-log probabilities, index = id, index 0 = end of sentence."""

    def __init__(self, sentences: Iterable[Sequence[int]], symbols: int, order: int = 6,
                 smoothing: str = "kneser-ney") -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 1:
            raise ValueError(f"order: expected an integer >= 1, got {order!r}")
        if smoothing not in SMOOTHINGS:
            raise ValueError(f"smoothing: expected one of {list(SMOOTHINGS)}, got {smoothing!r}")
        if isinstance(symbols, bool) or not isinstance(symbols, int) or symbols < 1:
            raise ValueError(f"symbols: expected an integer >= 1, got {symbols!r}")
        self.order, self.symbols, self.smoothing = order, symbols, smoothing
        raw: list[Counter] = [Counter() for _ in range(order + 1)]  # raw[k]: k-grams -> count
        for number, sentence in enumerate(sentences):
            ids = [int(i) for i in sentence]
            bad = [i for i in ids if not 1 <= i <= symbols]
            if bad:
                raise ValueError(f"sentences[{number}]: expected ids in 1..{symbols}, got {bad[0]}")
            padded = [_START] * (order - 1) + ids + [END]
            for i in range(order - 1, len(padded)):
                for k in range(1, order + 1):
                    raw[k][tuple(padded[i - k + 1: i + 1])] += 1
        counts = raw
        if smoothing == "kneser-ney":
            counts = [Counter() for _ in range(order + 1)]
            counts[order] = raw[order]
            for k in range(1, order):
                for gram, c in raw[k].items():
                    if gram[0] == _START:
                        counts[k][gram] = c
                for gram in raw[k + 1]:
                    if gram[1] != _START:
                        counts[k][gram[1:]] += 1
        # per order: context -> {symbol: count}
        self._next: list[dict[tuple, dict[int, int]]] = [defaultdict(dict) for _ in range(order + 1)]
        for k in range(1, order + 1):
            for gram, c in counts[k].items():
                self._next[k][gram[:-1]][gram[-1]] = c
        self.discounts = [0.0] * (order + 1)
        for k in range(1, order + 1):
            hist = Counter(counts[k].values())
            n1, n2 = hist.get(1, 0), hist.get(2, 0)
            self.discounts[k] = n1 / (n1 + 2 * n2) if n1 + n2 and n1 else 0.5
        self._cache: dict[tuple, tuple[float, ...]] = {}

    def _probs(self, context: tuple) -> list[float]:
        """Probabilities (not logs) of every id after ``context`` (length ``<= order - 1``)."""
        k = len(context) + 1
        lower = self._probs(context[1:]) if context else [1.0 / (self.symbols + 1)] * (self.symbols + 1)
        seen = self._next[k].get(context)
        if not seen:
            return lower
        total, distinct = sum(seen.values()), len(seen)
        if self.smoothing == "witten-bell":
            scale = 1.0 / (total + distinct)
            out = [distinct * p * scale for p in lower]
            for w, c in seen.items():
                out[w] += c * scale
            return out
        d = self.discounts[k]
        out = [d * distinct / total * p for p in lower]
        for w, c in seen.items():
            out[w] += max(c - d, 0.0) / total
        return out

    def context_of(self, prefix: Sequence[int]) -> tuple:
        """The last ``order - 1`` ids of ``prefix``, padded with the sentence start."""
        n = self.order - 1
        if n == 0:
            return ()
        tail = tuple(int(i) for i in prefix[-n:])
        return (_START,) * (n - len(tail)) + tail

    def log_probs(self, prefix: Sequence[int]) -> tuple[float, ...]:
        """``log P(id | prefix)`` for ids ``0..symbols`` (0: the sentence ends here)."""
        context = self.context_of(prefix)
        row = self._cache.get(context)
        if row is None:
            row = tuple(math.log(p) for p in self._probs(context))
            self._cache[context] = row
        return row

    def sentence_log_prob(self, ids: Sequence[int]) -> float:
        """``log P(ids, end)``: every symbol given the ones before it, then the end."""
        ids = list(ids)
        return sum(self.log_probs(ids[:i])[ids[i]] for i in range(len(ids))) + self.log_probs(ids)[END]

    def perplexity(self, sentences: Iterable[Sequence[int]]) -> float:
        """Per-symbol perplexity (the end of each sentence counted as one symbol)."""
        total = count = 0.0
        for ids in sentences:
            total += self.sentence_log_prob(ids)
            count += len(ids) + 1
        return math.exp(-total / max(count, 1))
