"""Subword vocabularies (BPE, WordPiece) trained with Hugging Face ``tokenizers``.

A word-level vocabulary maps every rare word to ``<unk>``; a subword vocabulary of ``V``
pieces splits a rare word into known pieces ("tokenization" -> "token", "##ization"), so
a sentence of ``n`` words becomes ``m >= n`` ids ``(m,)`` int64 with no unknowns for text
in the training alphabet. ``train_subword_tokenizer`` learns the pieces from a corpus;
the result saves to and loads from one JSON file (``tokenizer.json``).

``split_words="whitespace"`` with ``continuing_prefix="##"`` makes the pieces of words
already split by another tokenizer: a word's second and later pieces start with ``##``,
so :func:`subwords_to_words` turns decoded pieces back into exactly those words (what
translation scores BLEU on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import torch

from .vocab import PAD, UNK

__all__ = ["encode_subwords", "load_subword_tokenizer", "subwords_to_words", "train_subword_tokenizer"]


def train_subword_tokenizer(texts: Iterable[str], kind: Literal["bpe", "wordpiece"] = "bpe",
                            vocab_size: int = 8000, min_frequency: int = 2,
                            lowercase: bool = False, *, split_words: Literal["bert", "whitespace"] = "bert",
                            continuing_prefix: str | None = None, extra_specials: Sequence[str] = ()):
    """Learn a ``tokenizers.Tokenizer`` of at most ``vocab_size`` pieces from ``texts``.

    ``split_words``: ``"bert"`` pre-tokenizes on whitespace and punctuation, ``"whitespace"``
    on whitespace only. ``continuing_prefix`` (BPE only; WordPiece always uses ``##``) marks
    the pieces that continue a word. ``<pad>`` is id 0 and ``<unk>`` id 1, as in
    :class:`~selfattn.data.Vocabulary`; ``extra_specials`` (``<bos>``, ...) follow from id 2.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if kind not in ("bpe", "wordpiece"):
        raise ValueError(f"kind: expected 'bpe' or 'wordpiece', got {kind!r}")
    if split_words not in ("bert", "whitespace"):
        raise ValueError(f"split_words: expected 'bert' or 'whitespace', got {split_words!r}")
    specials = [PAD, UNK, *extra_specials]
    if vocab_size < len(specials) + 1:
        raise ValueError(f"vocab_size: expected at least {len(specials) + 1} ({len(specials)} specials "
                         f"and a piece), got {vocab_size}")
    if kind == "bpe":
        prefix = {} if continuing_prefix is None else {"continuing_subword_prefix": continuing_prefix}
        tokenizer = Tokenizer(models.BPE(unk_token=UNK, **prefix))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=specials, **prefix)
    else:
        if continuing_prefix not in (None, "##"):
            raise ValueError(f"continuing_prefix: WordPiece marks continuations with '##', got "
                             f"{continuing_prefix!r}")
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=specials)
    steps = [normalizers.NFC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = (pre_tokenizers.BertPreTokenizer() if split_words == "bert"
                               else pre_tokenizers.WhitespaceSplit())
    texts = list(texts)
    if not texts:
        raise ValueError("texts: expected at least one training text, got none")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def encode_subwords(tokenizer, text: str) -> torch.Tensor:
    """One text -> ``(m,)`` int64 subword ids."""
    return torch.tensor(tokenizer.encode(text).ids, dtype=torch.long)


def subwords_to_words(pieces: Iterable[str], continuing_prefix: str = "##") -> list[str]:
    """Pieces -> words: a piece starting with ``continuing_prefix`` joins the word before it
    (a leading one, with no word before it, starts a word of its own)."""
    words: list[str] = []
    n = len(continuing_prefix)
    for piece in pieces:
        if n and piece.startswith(continuing_prefix) and len(piece) > n:
            if words:
                words[-1] += piece[n:]
            else:
                words.append(piece[n:])
        else:
            words.append(piece)
    return words


def load_subword_tokenizer(path: str | Path):
    """Load a tokenizer saved with ``tokenizer.save(path)`` (one ``tokenizer.json`` file)."""
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected a saved tokenizer JSON file, got {path} (missing)")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:
        raise ValueError(f"{path}: not a tokenizers JSON file ({error})") from error
