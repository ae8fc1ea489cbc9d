"""Word-level vocabulary and one-hot vectors: the lecture's first way to make words vectors.

A :class:`Vocabulary` maps each of ``V`` tokens to an id in ``[0, V)``; a sentence of ``n``
words becomes ids ``(n,)`` int64. With specials, id 0 is ``<pad>`` (the padding token)
and id 1 is ``<unk>`` (every word not in the vocabulary). :func:`one_hot` turns ids
``(n,)`` into the one-hot set ``(n, V)``: each word a vector with a single 1, as a sparse
COO tensor by default (``n`` non-zeros instead of ``n * V`` numbers) or dense. A learned
embedding (``torch.nn.Embedding(V, d)``) is the same thing multiplied by a ``(V, d)``
matrix, done by lookup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

__all__ = ["PAD", "UNK", "Vocabulary", "one_hot"]

PAD = "<pad>"
UNK = "<unk>"


class Vocabulary:
    """Tokens <-> ids. ``specials`` come first; with ``UNK`` among them unknown tokens map
    to it, without it (e.g. a tag set) an unknown token raises."""

    def __init__(self, tokens: Iterable[str], specials: Sequence[str] = (PAD, UNK)):
        self.tokens: list[str] = []
        self._ids: dict[str, int] = {}
        for token in [*specials, *tokens]:
            if token not in self._ids:
                self._ids[token] = len(self.tokens)
                self.tokens.append(token)
        self.specials = tuple(specials)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1,
              max_size: int | None = None, specials: Sequence[str] = (PAD, UNK)) -> Vocabulary:
        """Tokens seen at least ``min_freq`` times, most frequent first (ties: first seen),
        at most ``max_size`` of them besides the specials."""
        if min_freq < 1:
            raise ValueError(f"min_freq: expected >= 1, got {min_freq}")
        counts = Counter(token for sentence in sentences for token in sentence)
        kept = [t for t, c in counts.most_common() if c >= min_freq]
        if max_size is not None:
            kept = kept[:max_size]
        return cls(kept, specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    @property
    def pad_id(self) -> int | None:
        return self._ids.get(PAD) if PAD in self.specials else None

    @property
    def unk_id(self) -> int | None:
        return self._ids.get(UNK) if UNK in self.specials else None

    def id(self, token: str) -> int:
        found = self._ids.get(token)
        if found is not None:
            return found
        if self.unk_id is None:
            shown = self.tokens[:10]
            raise KeyError(f"token {token!r}: not in the vocabulary ({len(self)} tokens: "
                           f"{shown}{' ...' if len(self) > 10 else ''}) and it has no {UNK}")
        return self.unk_id

    def encode(self, tokens: Sequence[str]) -> torch.Tensor:
        """``n`` tokens -> ``(n,)`` int64 ids."""
        return torch.tensor([self.id(t) for t in tokens], dtype=torch.long)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> list[str]:
        """``(n,)`` ids -> ``n`` tokens."""
        out = []
        for i in torch.as_tensor(ids).tolist():
            if not 0 <= i < len(self):
                raise ValueError(f"ids: expected values in [0, {len(self)}), got {i}")
            out.append(self.tokens[i])
        return out

    def save(self, path: str | Path) -> None:
        """One token per line, specials first; the first line lists the specials."""
        lines = ["#specials\t" + "\t".join(self.specials), *self.tokens[len(self.specials):]]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        lines = Path(path).read_text(encoding="utf-8").split("\n")
        if not lines or not lines[0].startswith("#specials"):
            raise ValueError(f"{path}:1: expected a '#specials' header line, got {lines[0][:40]!r}")
        specials = [s for s in lines[0].split("\t")[1:] if s]
        if lines[-1] == "":
            lines = lines[:-1]
        return cls(lines[1:], specials)


def one_hot(ids: torch.Tensor, num_classes: int, sparse: bool = True,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(n,)`` ids -> ``(n, num_classes)`` one-hot vectors (sparse COO, or dense).

    The sparse form stores ``n`` ones; ``sparse @ W`` equals ``W[ids]`` (an embedding lookup).
    """
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1:
        shape = tuple(ids.shape) if isinstance(ids, torch.Tensor) else type(ids).__name__
        raise ValueError(f"ids: expected a 1-D tensor (n,), got {shape}")
    if ids.is_floating_point() or ids.dtype == torch.bool:
        raise TypeError(f"ids: expected an integer dtype, got {ids.dtype}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= num_classes):
        raise ValueError(f"ids: expected values in [0, {num_classes}) (num_classes), got "
                         f"min {int(ids.min())}, max {int(ids.max())}")
    n = ids.shape[0]
    if not sparse:
        return torch.nn.functional.one_hot(ids.long(), num_classes).to(dtype)
    indices = torch.stack([torch.arange(n, device=ids.device), ids.long()])
    values = torch.ones(n, dtype=dtype, device=ids.device)
    return torch.sparse_coo_tensor(indices, values, (n, num_classes), is_coalesced=True,
                                   check_invariants=False)
