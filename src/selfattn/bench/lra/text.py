"""Byte-level text classification (LRA, Section 3.2) on movie reviews that work offline.

LRA classifies IMDb reviews read as byte sequences: no tokenizer, every byte a token, the
text truncated or padded to 1K-4K bytes, two classes. IMDb is not available offline here
(``shared/DATA.md``); the movie reviews that are, Rotten Tomatoes' sentence-polarity
snippets (``selfattn.data.load_rotten_tomatoes``: 7,403 fresh and 5,405 rotten), are one
sentence each: 33 to 266 bytes, 112 on average, far shorter than a review. So a document
is built by concatenation, as follows (``movie_review_datasets``):

1. The snippets are split once, seeded, into a training and a test pool
   (``test_fraction`` of each class to the test pool). No snippet is in both, so no test
   document shares a sentence with a training document.
2. A document has one label ``y`` (the labels alternate, so both classes are equally
   frequent; the corpus is 58% fresh). It is made of snippets of label ``y`` drawn at
   random from its pool, distinct within the document, joined by one space, for as long
   as the next drawn snippet still fits in ``max_len`` bytes; at least one snippet. Across
   documents snippets are drawn with replacement, so many long documents come from a
   small corpus. A snippet longer than ``max_len`` bytes is left out of the pools.
3. Bytes are tokens: a document's UTF-8 bytes ``b`` become ids ``b + 1`` (0 is padding),
   so the vocabulary has 257 ids (``encode_bytes`` / ``decode_bytes``).

Why this reads as a long-range task: the sentiment is spread over the whole document,
several sentences of one polarity whose words sit hundreds of bytes apart, and the model
must pool evidence across them from raw bytes. It is easier per document than a single
snippet (several pieces of evidence, no mixed review), and harder than word-level
sentiment (words must first be assembled from bytes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["BYTE_VOCAB", "ByteTextDataset", "compose_documents", "decode_bytes", "encode_bytes",
           "movie_review_datasets"]

#: ids 1..256 are the bytes 0..255; 0 is padding.
BYTE_VOCAB = 257


def encode_bytes(text: str) -> torch.Tensor:
    """``text`` -> int64 ids ``(n_bytes,)``: its UTF-8 bytes plus one (0 is padding)."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long) + 1


def decode_bytes(ids: torch.Tensor) -> str:
    """Inverse of ``encode_bytes``: ids ``(n,)`` in ``[1, 256]`` -> the text (cut padding first)."""
    ids = torch.as_tensor(ids)
    if ids.dim() != 1:
        raise ValueError(f"ids: expected a 1-D tensor, got shape {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 1 or int(ids.max()) > 256):
        raise ValueError(f"ids: expected byte ids in [1, 256] (0 is padding: cut it off first), "
                         f"got values in [{int(ids.min())}, {int(ids.max())}]")
    return bytes((ids - 1).to(torch.uint8).tolist()).decode("utf-8")


@dataclass
class ByteTextDataset(torch.utils.data.Dataset):
    """Texts with labels: item ``i`` is ``(ids (n_bytes,) int64 in [1, 256], label)``."""

    texts: list[str]
    labels: list[int]

    num_classes = 2
    vocab_size = BYTE_VOCAB

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"labels: expected {len(self.texts)} labels (one per text), "
                             f"got {len(self.labels)}")
        self.ids = [encode_bytes(t) for t in self.texts]

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.ids[i], int(self.labels[i])


def compose_documents(snippets: list[str], labels: list[int], n: int, max_len: int,
                      rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """``n`` documents of at most ``max_len`` UTF-8 bytes, each made of distinct same-label
    snippets joined by a space (see the module docstring). Document ``i`` is made of
    snippets labelled ``classes[i % 2]`` (``classes``: the two distinct labels, sorted) and
    gets the label ``i % 2``, the index of that class."""
    if max_len < 1:
        raise ValueError(f"max_len: expected a positive number of bytes, got {max_len}")
    sizes = [len(s.encode("utf-8")) for s in snippets]
    pools: dict[int, list[int]] = {}
    for i, (y, size) in enumerate(zip(labels, sizes, strict=True)):
        if size <= max_len:
            pools.setdefault(int(y), []).append(i)
    classes = sorted({int(y) for y in labels})
    empty = [c for c in classes if c not in pools]
    if len(classes) != 2 or empty:
        raise ValueError(f"snippets: expected snippets of two labels that fit in max_len={max_len} "
                         f"bytes, got labels {classes} (none fit for {empty})")
    docs, doc_labels = [], []
    for i in range(n):
        y = classes[i % 2]
        pool = pools[y]
        order = rng.permutation(len(pool))
        parts, used = [], -1  # -1: no separator before the first snippet
        for j in order:
            size = sizes[pool[j]]
            if used + 1 + size > max_len:
                break
            parts.append(snippets[pool[j]])
            used += 1 + size
        docs.append(" ".join(parts))
        doc_labels.append(i % 2)
    return docs, doc_labels


def movie_review_datasets(max_len: int, n_train: int, n_test: int, seed: int = 0,
                          test_fraction: float = 0.2, data=None
                          ) -> tuple[ByteTextDataset, ByteTextDataset]:
    """Training and test documents of at most ``max_len`` bytes (see the module docstring).

    ``data``: a ``selfattn.data.LabeledTexts`` with two classes (default: the Rotten
    Tomatoes snippets, ``load_rotten_tomatoes()``).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction: expected a fraction in (0, 1), got {test_fraction}")
    if data is None:
        from ...data import load_rotten_tomatoes

        data = load_rotten_tomatoes()
    labels = np.asarray(data.labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):  # the same fraction of each class goes to the test pool
        idx = rng.permutation(np.flatnonzero(labels == c))
        test[idx[: max(1, round(test_fraction * len(idx)))]] = True
    out = []
    for part, n in ((~test, n_train), (test, n_test)):
        idx = np.flatnonzero(part)
        docs, ys = compose_documents([data.texts[i] for i in idx], labels[idx].tolist(), n, max_len, rng)
        out.append(ByteTextDataset(docs, ys))
    return out[0], out[1]
