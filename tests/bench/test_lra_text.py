"""Byte-level movie-review documents: encoding, composition, splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfattn.bench.lra.text import (
    BYTE_VOCAB,
    ByteTextDataset,
    compose_documents,
    decode_bytes,
    encode_bytes,
    movie_review_datasets,
)
from selfattn.data import LabeledTexts


@pytest.mark.parametrize("text", ["", "a", "A three-hour cinema master class.", "naïve café — 映画 🎬"])
def test_bytes_round_trip(text):
    ids = encode_bytes(text)
    assert ids.dtype == torch.int64 and ids.shape == (len(text.encode("utf-8")),)
    assert bool(((ids >= 1) & (ids < BYTE_VOCAB)).all())
    assert ids.tolist() == [b + 1 for b in text.encode("utf-8")]
    assert decode_bytes(ids) == text


def test_decode_rejects_padding_and_bad_shapes():
    with pytest.raises(ValueError, match=r"ids: expected byte ids in \[1, 256\]"):
        decode_bytes(torch.tensor([72, 0, 0]))
    with pytest.raises(ValueError, match="ids: expected a 1-D tensor"):
        decode_bytes(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="text: expected a str"):
        encode_bytes(b"bytes")


def _corpus(n: int = 60) -> LabeledTexts:
    texts = [f"{'good' if i % 3 else 'bad'} film number {i}." for i in range(n)]
    labels = [1 if i % 3 else 0 for i in range(n)]
    return LabeledTexts(texts, labels, [f"line {i}" for i in range(n)], ["rotten", "fresh"])


def test_documents_are_same_label_snippets_within_the_byte_limit():
    data = _corpus()
    snippet_label = dict(zip(data.texts, data.labels, strict=True))
    docs, labels = compose_documents(data.texts, data.labels, 40, 120, np.random.default_rng(0))
    assert labels == [i % 2 for i in range(40)]
    for doc, y in zip(docs, labels, strict=True):
        assert len(doc.encode("utf-8")) <= 120
        parts = [p if p.endswith(".") else p + "." for p in doc.split(". ")]
        assert len(parts) >= 2  # ~22-byte snippets: several fit in 120 bytes
        assert {snippet_label[p] for p in parts} == {y}
        assert len(set(parts)) == len(parts)  # distinct within a document


def test_train_and_test_documents_share_no_snippet_and_are_balanced():
    tr, te = movie_review_datasets(100, 30, 20, seed=3, test_fraction=0.25, data=_corpus())
    split = lambda d: {p.rstrip(".") for t in d.texts for p in t.split(". ")}  # noqa: E731
    assert split(tr) and split(te) and not split(tr) & split(te)
    assert sum(tr.labels) == 15 and sum(te.labels) == 10
    ids, label = tr[0]
    assert decode_bytes(ids) == tr.texts[0] and label == tr.labels[0]
    again, _ = movie_review_datasets(100, 30, 20, seed=3, test_fraction=0.25, data=_corpus())
    assert again.texts == tr.texts


def test_bad_arguments():
    data = _corpus()
    with pytest.raises(ValueError, match="snippets: expected snippets of two labels that fit"):
        compose_documents(data.texts, data.labels, 4, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="snippets: expected snippets of two labels"):
        compose_documents(["a", "b"], [1, 1], 2, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="test_fraction"):
        movie_review_datasets(100, 4, 4, test_fraction=1.0, data=data)
    with pytest.raises(ValueError, match="labels: expected 2 labels"):
        ByteTextDataset(["a", "b"], [0])


def test_rotten_tomatoes_documents_when_cached():
    from selfattn.data import is_cached

    if not is_cached("rotten-tomatoes"):
        pytest.skip("the rotten-tomatoes corpus is not cached (selfattn data get rotten-tomatoes)")
    tr, te = movie_review_datasets(512, 40, 20, seed=0)
    sizes = [len(ids) for ids, _ in tr]
    assert max(sizes) <= 512 and min(sizes) > 250  # several snippets of <= 266 bytes each
    assert sum(te.labels) == 10
