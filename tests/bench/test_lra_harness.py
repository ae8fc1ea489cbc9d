"""The LRA harness: datasets, the classifier with every attention, a few training steps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from selfattn.bench.cli import summary
from selfattn.bench.lra import TINY, LRAClassifier, collate, digits_dataset, run_lra
from selfattn.nn.variants import ATTENTION_VARIANTS


def test_digits_as_pixel_sequences():
    pytest.importorskip("sklearn")
    tr, te = digits_dataset(8, "train"), digits_dataset(8, "test")
    assert len(tr) + len(te) == 1797
    ids, label = tr[0]
    assert ids.shape == (64,) and 0 <= int(ids.max()) < 17 and 0 <= label < 10
    big = digits_dataset(32, "test")
    assert big[0][0].shape == (1024,)
    with pytest.raises(ValueError, match="size"):
        digits_dataset(10)


@pytest.mark.parametrize("attention", list(ATTENTION_VARIANTS))
def test_classifier_runs_with_every_attention_and_ignores_padding(attention):
    torch.manual_seed(0)
    model = LRAClassifier(20, 3, attention=attention, max_len=40, d_model=16, heads=2, layers=1).eval()
    seqs = [(torch.randint(1, 20, (n,)), 0) for n in (40, 17, 5)]
    ids, lengths, _ = collate(seqs)
    logits = model(ids, lengths)
    assert logits.shape == (3, 3) and bool(torch.isfinite(logits).all())
    alone = model(ids[1:2, :17], lengths[1:2])
    torch.testing.assert_close(logits[1:2], alone, rtol=1e-4, atol=1e-5)


def test_tiny_runs_train_and_report():
    pytest.importorskip("sklearn")
    scale = dataclasses.replace(TINY, n_train=32, n_test=16, steps=3, batch=8, listops_len=(10, 30),
                                d_model=16, layers=1, tasks=("listops", "image"))
    rows = run_lra(["full", "linear"], scale, progress=False)
    assert len(rows) == 4
    for r in rows:
        assert 0.0 <= r["accuracy"] <= 1.0 and r["steps"] == 3 and r["train_examples_per_s"] > 0
    table = summary(rows)
    assert "listops" in table and "linear" in table and "speed/full" in table
