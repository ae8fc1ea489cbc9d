"""English-Spanish translation pairs from the Debian SWORD Bible modules.

Translation is the lecture's sequence-to-sequence case: the source sentence is a set of
``n`` word vectors (``x`` ``(n,)`` ids) and the target is a sequence of its own length
``m`` (``y`` ``(m,)`` ids, ``<bos> ... <eos>``), collated with ``labels="sequence"``.

The pairs are verse-aligned: the World English Bible (module ``engWEB2015eb``, Debian
``sword-text-web``) and the 1909 Reina-Valera (``spaRV1909eb``, ``sword-text-sparv``),
both public domain, read with the SWORD library's Python binding (Debian
``python3-sword``). Strong's-number tags are switched on and then removed, because the
WEB markup joins some words that only those tags separate ("God<H0430>created").
31,077 verses have text in both (archaic style, ~24 English words each).

Two ways to make ids: word-level vocabularies (one per language, words seen fewer than
``min_freq`` times become ``<unk>``), or one joint BPE vocabulary of ``subword_vocab``
pieces learned on the words of both training sides (``subword_vocab=8000``): rare words
split into known pieces, so nothing is unknown, and source and target share one table.
Subword pieces are made inside the lower-cased words of ``tokenize_words`` (a continuing
piece starts with ``##``), so ``pieces_to_words`` gives back exactly those words.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .cache import DataUnavailableError
from .registry import DatasetEntry, fetch, register
from .sentiment import tokenize_words
from .sets import SetDataset, VectorSet, split_indices
from .subword import encode_subwords, subwords_to_words, train_subword_tokenizer
from .vocab import PAD, UNK, Vocabulary

__all__ = [
    "BOS",
    "EOS",
    "TranslationPairs",
    "TranslationSplits",
    "extract_sword_pairs",
    "load_translation_pairs",
    "pieces_to_words",
    "train_translation_subwords",
    "translation_splits",
]

BOS, EOS = "<bos>", "<eos>"
_TAG = re.compile(r"<[HG]\d+[a-z]?>")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?)\]’”])")


def _clean(text: str) -> str:
    text = re.sub(r"\s+", " ", _TAG.sub(" ", text)).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def _import_sword():
    try:
        import Sword
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")  # where Debian puts python3-sword
        try:
            import Sword
        except ImportError as error:
            raise DataUnavailableError("the SWORD Python binding is missing: apt-get install "
                                       "python3-sword sword-text-web sword-text-sparv") from error
    return Sword


def extract_sword_pairs(source_module: str = "engWEB2015eb", target_module: str = "spaRV1909eb"
                        ) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """``(pairs, counts)``: ``(reference, source text, target text)`` for every verse with
    text in both modules; ``counts`` has ``verses`` and ``skipped_empty``."""
    sword = _import_sword()
    manager = sword.SWMgr()
    manager.setGlobalOption("Strong's Numbers", "On")
    modules = [manager.getModule(name) for name in (source_module, target_module)]
    for name, module in zip((source_module, target_module), modules, strict=True):
        if module is None:
            raise DataUnavailableError(f"SWORD module {name!r} is not installed (Debian "
                                       "sword-text-web / sword-text-sparv)")
    key = sword.VerseKey("Genesis 1:1")
    key.setIntros(False)
    pairs, verses, skipped = [], 0, 0

    def failed() -> bool:
        error = key.popError()
        return bool(ord(error) if isinstance(error, str) else error)

    while not failed():
        texts = []
        for module in modules:
            module.setKey(key)
            texts.append(_clean(module.stripText()))
        verses += 1
        if texts[0] and texts[1]:
            pairs.append((key.getText(), texts[0], texts[1]))
        else:
            skipped += 1
        key.increment()
    return pairs, {"verses": verses, "skipped_empty": skipped}


def _generate(folder: Path) -> None:
    pairs, counts = extract_sword_pairs()
    lines = ["reference\tenglish\tspanish"] + ["\t".join(p) for p in pairs]
    (folder / "pairs.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "counts.txt").write_text(f"{counts}\n", encoding="utf-8")


register(DatasetEntry(
    name="sword-en-es", task="translation English -> Spanish (target sequence)",
    size="31,077 verse pairs", licence="public domain (WEB, Reina-Valera 1909)",
    source=("generated", "Debian python3-sword sword-text-web sword-text-sparv"),
    generate=_generate,
))


@dataclass
class TranslationPairs:
    sources: list[str]
    targets: list[str]
    references: list[str]

    def __len__(self) -> int:
        return len(self.sources)


def load_translation_pairs(path: str | Path | None = None) -> TranslationPairs:
    """Read ``reference<TAB>source<TAB>target`` lines (a header line first); default: the
    SWORD pairs, extracted once into the cache."""
    file = Path(path) if path is not None else fetch("sword-en-es") / "pairs.tsv"
    out = TranslationPairs([], [], [])
    lines = file.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].strip() or not fields[2].strip():
            raise ValueError(f"{file}:{number}: expected 'reference<TAB>source<TAB>target' with "
                             f"non-empty texts, got {line[:60]!r}")
        out.references.append(fields[0])
        out.sources.append(fields[1])
        out.targets.append(fields[2])
    return out


@dataclass
class TranslationSplits:
    train: SetDataset
    validation: SetDataset
    test: SetDataset
    source_words: Vocabulary
    target_words: Vocabulary
    info: dict = field(default_factory=dict)
    tokenizer: Any = None          # the joint subword tokenizer (None: word vocabularies)


SPECIALS = (PAD, UNK, BOS, EOS)


def train_translation_subwords(word_lists: Sequence[Sequence[str]], vocab_size: int, min_freq: int = 2):
    """A BPE tokenizer of at most ``vocab_size`` pieces over already split words (both
    languages); ids 0-3 are ``<pad> <unk> <bos> <eos>``, continuing pieces start with ``##``."""
    return train_subword_tokenizer((" ".join(words) for words in word_lists), "bpe", vocab_size,
                                   min_frequency=min_freq, split_words="whitespace",
                                   continuing_prefix="##", extra_specials=(BOS, EOS))


def subword_vocabulary(tokenizer) -> Vocabulary:
    """The tokenizer's pieces in id order, as a :class:`Vocabulary` (same ids)."""
    pieces = [tokenizer.id_to_token(i) for i in range(tokenizer.get_vocab_size())]
    if tuple(pieces[: len(SPECIALS)]) != SPECIALS:
        raise ValueError(f"tokenizer: expected ids 0-3 to be {SPECIALS}, got {pieces[:4]}")
    return Vocabulary(pieces[len(SPECIALS):], SPECIALS)


def pieces_to_words(pieces: Sequence[str]) -> list[str]:
    """Decoded subword pieces (specials already dropped) -> the words they spell."""
    return subwords_to_words(pieces, "##")


def translation_splits(pairs: TranslationPairs, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                       seed: int = 0, min_freq: int = 2, subword_vocab: int | None = None,
                       tokenizer: Any = None) -> TranslationSplits:
    """Seeded split; ``x`` source ids ``(n,)``, ``y`` target ids ``(m,)`` wrapped in
    ``<bos>``/``<eos>``; vocabularies from the training part (lower-cased words).

    ``subword_vocab``: None for word vocabularies (words seen fewer than ``min_freq`` times
    are ``<unk>``), or the size of one joint BPE vocabulary (pieces seen at least
    ``min_freq`` times) that both sides share: then ``source_words is target_words``.
    ``tokenizer``: a joint tokenizer learned before (a saved run's), used instead of learning
    one again: BPE training is not deterministic, and a resumed or evaluated run must see
    the ids it was trained on. It needs ``subword_vocab`` and may have at most that many pieces.
    """
    if subword_vocab is not None and (not isinstance(subword_vocab, int) or isinstance(subword_vocab, bool)
                                      or subword_vocab <= len(SPECIALS)):
        raise ValueError(f"subword_vocab: expected None or an integer > {len(SPECIALS)} (pieces of the "
                         f"joint vocabulary), got {subword_vocab!r}")
    source_tokens = [tokenize_words(t) for t in pairs.sources]
    target_tokens = [tokenize_words(t) for t in pairs.targets]
    parts = split_indices(len(pairs), fractions, seed)
    train = parts[0].tolist()
    if tokenizer is not None and subword_vocab is None:
        raise ValueError("tokenizer: given without subword_vocab (word vocabularies take no tokenizer)")
    if subword_vocab is None:
        source_words = Vocabulary.build([source_tokens[i] for i in train], min_freq)
        target_words = Vocabulary.build([target_tokens[i] for i in train], min_freq, specials=SPECIALS)

        def source_ids(words):
            return source_words.encode(words)

        def target_ids(words):
            return target_words.encode([BOS, *words, EOS])
    else:
        words = [source_tokens[i] for i in train] + [target_tokens[i] for i in train]
        if tokenizer is None:
            tokenizer = train_translation_subwords(words, subword_vocab, min_freq)
        elif tokenizer.get_vocab_size() > subword_vocab:
            raise ValueError(f"tokenizer: expected at most subword_vocab={subword_vocab} pieces, it has "
                             f"{tokenizer.get_vocab_size()}")
        source_words = target_words = subword_vocabulary(tokenizer)
        bos, eos = torch.tensor([target_words.id(BOS)]), torch.tensor([target_words.id(EOS)])

        def source_ids(words):
            return encode_subwords(tokenizer, " ".join(words))

        def target_ids(words):
            return torch.cat([bos, source_ids(words), eos])
    sets = []
    for part in parts:
        examples = [VectorSet(x=source_ids(source_tokens[i]), y=target_ids(target_tokens[i]),
                              source=pairs.references[i]) for i in part.tolist()]
        sets.append(SetDataset(examples, {"labels": "sequence"}))
    info = {"sizes": [len(s) for s in sets], "seed": seed,
            "vocabulary": (len(source_words), len(target_words))}
    return TranslationSplits(*sets, source_words=source_words, target_words=target_words,
                             info=info, tokenizer=tokenizer)
