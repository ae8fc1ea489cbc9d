"""Word vectors for small corpora: a word is the sum of its word, suffix and shape vectors.

The lecture makes each word a vector by one-hot encoding (or a learned embedding, which
is the same thing multiplied by a matrix). With 20,000 training words, one word in ten
of new text was never seen, and its one-hot vector says nothing. Giving every word a few
one-hot *fields* fixes most of that: the lower-cased word, its last 1, 2 and 3 letters,
and its shape (capitalised? digits? hyphen? punctuation?). "unheard-of" is unknown, but
"-of", a lower-case hyphenated shape and its neighbours still point to an adjective.

With ``glove=N`` a last field looks the lower-cased word up among the ``N`` most
frequent GloVe 6B words (pretrained 50-d vectors, kept frozen by the model): most words
never seen in training are among them, and their vector places them near words that were.

With ``chars=C`` each word also carries its spelling: ``C`` more columns of character ids
(the word's characters in order, case kept, then padding 0; a longer word keeps its first
``C // 2`` and last ``C - C // 2`` characters, where prefixes and suffixes are), which the
model reads with ``selfattn.nn.char_encoder.CharWordEncoder``.

``WordFields.build(sentences)`` learns the field vocabularies from training sentences;
``encode(words)`` gives ``(n, F + C)`` int64 ids (``F = len(names)``), id 0 = padding, id 1 =
unknown in every field; the model sums one embedding per field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from ..data import Vocabulary

__all__ = ["FIELDS", "WordFields", "word_shape"]

FIELDS = ("word", "suffix1", "suffix2", "suffix3", "shape")
_DIGITS = re.compile(r"\d")


def word_shape(word: str) -> str:
    """A coarse shape: case pattern, digits, hyphen, punctuation (``"U.S."`` -> ``"X.X."``-like)."""
    if not any(ch.isalnum() for ch in word):
        return "punct:" + word[:3]
    letters = [ch for ch in word if ch.isalpha()]
    if not letters:
        case = "num"
    elif all(ch.isupper() for ch in letters):
        case = "UPPER" if len(letters) > 1 else "Upper1"
    elif letters[0].isupper() and word[0].isupper():
        case = "Title"
    elif any(ch.isupper() for ch in letters):
        case = "mixed"
    else:
        case = "lower"
    marks = "".join(m for m, test in (("d", bool(_DIGITS.search(word)) and letters), ("-", "-" in word),
                                     (".", "." in word), (",", "," in word)) if test)
    return f"{case}{marks}"


def _fields(word: str) -> list[str]:
    low = word.lower()
    return [low, low[-1:], low[-2:], low[-3:], word_shape(word)]


class WordFields:
    """One vocabulary per field (module doc); ``min_freq`` applies to the word field."""

    def __init__(self, vocabs: Sequence[Vocabulary], glove: Vocabulary | None = None,
                 chars: Sequence[str] = (), char_length: int = 0) -> None:
        if len(vocabs) != len(FIELDS):
            raise ValueError(f"vocabs: expected {len(FIELDS)} vocabularies ({FIELDS}), got {len(vocabs)}")
        if char_length < 0 or (char_length > 0) != bool(chars):
            raise ValueError(f"chars, char_length: expected both or neither, got {len(chars)} characters and "
                             f"length {char_length}")
        self.vocabs = list(vocabs)
        self.glove = glove
        self.names = [*FIELDS, "glove"] if glove is not None else list(FIELDS)
        self.chars, self.char_length = list(chars), int(char_length)
        self._char_ids = {c: i for i, c in enumerate(self.chars, start=2)}  # 0 padding, 1 unknown

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], min_freq: int = 1, glove: int = 0,
              chars: int = 0) -> WordFields:
        columns: list[list[list[str]]] = [[] for _ in FIELDS]
        for sentence in sentences:
            rows = [_fields(w) for w in sentence]
            for f in range(len(FIELDS)):
                columns[f].append([r[f] for r in rows])
        vocabs = [Vocabulary.build(col, min_freq=min_freq if f == 0 else 1) for f, col in enumerate(columns)]
        glove_vocab = None
        if glove:
            from ..data import load_glove

            words, _ = load_glove()
            glove_vocab = Vocabulary(words[:glove])
        alphabet = sorted({ch for sentence in sentences for w in sentence for ch in w}) if chars else []
        return cls(vocabs, glove_vocab, alphabet, chars)

    @property
    def sizes(self) -> list[int]:
        return [len(v) for v in self.vocabs] + ([len(self.glove)] if self.glove is not None else [])

    @property
    def num_chars(self) -> int:
        """Rows of the character table: padding, unknown and each character seen in training."""
        return len(self.chars) + 2

    def spell(self, word: str) -> list[int]:
        """A word's ``char_length`` character ids (module doc)."""
        c = self.char_length
        kept = word if len(word) <= c else word[: c // 2] + word[len(word) - (c - c // 2):]
        ids = [self._char_ids.get(ch, 1) for ch in kept]
        return ids + [0] * (c - len(ids))

    def encode(self, words: Sequence[str]) -> torch.Tensor:
        """``n`` words -> ``(n, F + char_length)`` int64 ids."""
        if not words:
            return torch.zeros(0, len(self.names) + self.char_length, dtype=torch.long)
        rows = [_fields(w) for w in words]
        cols = [v.encode([r[f] for r in rows]) for f, v in enumerate(self.vocabs)]
        if self.glove is not None:
            cols.append(self.glove.encode([r[0] for r in rows]))
        ids = torch.stack(cols, 1)
        if self.char_length:
            ids = torch.cat([ids, torch.tensor([self.spell(w) for w in words], dtype=torch.long)], 1)
        return ids

    def save(self, folder: Path) -> None:
        for name, vocab in zip(FIELDS, self.vocabs, strict=True):
            vocab.save(folder / f"field-{name}.txt")
        if self.glove is not None:
            self.glove.save(folder / "field-glove.txt")
        if self.char_length:  # JSON, not one per line: any character (a line separator too) survives
            (folder / "field-chars.json").write_text(
                json.dumps({"length": self.char_length, "chars": self.chars}), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> WordFields:
        glove = folder / "field-glove.txt"
        chars_file = folder / "field-chars.json"
        chars = json.loads(chars_file.read_text(encoding="utf-8")) if chars_file.is_file() else {}
        return cls([Vocabulary.load(folder / f"field-{name}.txt") for name in FIELDS],
                   Vocabulary.load(glove) if glove.is_file() else None,
                   chars.get("chars", ()), chars.get("length", 0))
