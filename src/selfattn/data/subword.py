"""Subword vocabularies (BPE, WordPiece) trained with Hugging Face ``tokenizers``.

A word-level vocabulary maps every rare word to ``<unk>``; a subword vocabulary of ``V``
pieces splits a rare word into known pieces ("tokenization" -> "token", "##ization"), so
a sentence of ``n`` words becomes ``m >= n`` ids ``(m,)`` int64 with no unknowns for text
in the training alphabet. ``train_subword_tokenizer`` learns the pieces from a corpus;
the result saves to and loads from one JSON file (``tokenizer.json``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import torch

from .vocab import PAD, UNK

__all__ = ["encode_subwords", "load_subword_tokenizer", "train_subword_tokenizer"]


def train_subword_tokenizer(texts: Iterable[str], kind: Literal["bpe", "wordpiece"] = "bpe",
                            vocab_size: int = 8000, min_frequency: int = 2,
                            lowercase: bool = False):
    """Learn a ``tokenizers.Tokenizer`` of at most ``vocab_size`` pieces from ``texts``.

    Pre-tokenizes on whitespace and punctuation; ``<pad>`` is id 0 and ``<unk>`` id 1, as in
    :class:`~selfattn.data.Vocabulary`.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    if kind not in ("bpe", "wordpiece"):
        raise ValueError(f"kind: expected 'bpe' or 'wordpiece', got {kind!r}")
    if vocab_size < 3:
        raise ValueError(f"vocab_size: expected at least 3 (two specials and a piece), got {vocab_size}")
    specials = [PAD, UNK]
    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=specials)
    else:
        tokenizer = Tokenizer(models.WordPiece(unk_token=UNK))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=specials)
    steps = [normalizers.NFC()] + ([normalizers.Lowercase()] if lowercase else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    texts = list(texts)
    if not texts:
        raise ValueError("texts: expected at least one training text, got none")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def encode_subwords(tokenizer, text: str) -> torch.Tensor:
    """One text -> ``(m,)`` int64 subword ids."""
    return torch.tensor(tokenizer.encode(text).ids, dtype=torch.long)


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
