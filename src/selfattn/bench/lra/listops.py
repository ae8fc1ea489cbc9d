"""ListOps: nested list operations to evaluate, a 10-way classification (LRA, Section 3.1).

"Long Range Arena: A Benchmark for Efficient Transformers", Tay et al. 2021
(arXiv:2011.04006), Section 3.1 ("Long ListOps"), after Nangia & Bowman 2018: sequences
with a hierarchical structure of the operators MAX, MIN, MED (median) and SM (sum modulo
10) over the digits 0-9, enclosed in brackets, e.g. ``[MAX 4 3 [MIN 2 3 ] 1 0 ]`` -> 4;
the answer is a digit, so the task is 10-way classification; sequences are up to 2K
tokens long. Written from that description (no code of the benchmark is used):

* an expression is a digit or ``[OP a_1 ... a_n ]`` with 2 <= n <= ``max_args`` arguments,
  each an expression, nested at most ``max_depth`` deep;
* MAX, MIN: the largest, smallest argument; MED: the median, rounded down (for an even
  count the mean of the two middle values, floored); SM: the sum modulo 10;
* a sequence's length (tokens) is drawn uniformly in ``[min_len, max_len]`` and the tree is
  grown top-down to that size: a node's token budget is split at random among its
  arguments (an argument given fewer than 4 tokens is a digit; each argument is a digit
  with probability ``digit_p`` as well; tokens an argument leaves unused go to the next
  one), so lengths follow the drawn target closely without rejection.

Tokens: ``[MAX``, ``[MIN``, ``[MED``, ``[SM``, ``]`` and the digits; ids in ``VOCAB``
(0 is padding). ``ListOpsDataset`` is seeded: example ``i`` is the same for the same seed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["OPERATORS", "VOCAB", "ListOpsDataset", "encode", "evaluate_tree", "generate_listops"]

OPERATORS = ("MAX", "MIN", "MED", "SM")
_TOKENS = ["<pad>", "]", *(f"[{op}" for op in OPERATORS), *(str(d) for d in range(10))]
#: token -> id; 0 is padding.
VOCAB: dict[str, int] = {t: i for i, t in enumerate(_TOKENS)}

Tree = int | tuple[str, list]


def apply_operator(op: str, values: list[int]) -> int:
    """The value of ``[op values... ]``, a digit."""
    if op == "MAX":
        return max(values)
    if op == "MIN":
        return min(values)
    if op == "MED":
        return int(statistics.median(values) // 1)
    if op == "SM":
        return sum(values) % 10
    raise ValueError(f"op: expected one of {OPERATORS}, got {op!r}")


def evaluate_tree(tree: Tree) -> int:
    """The value of a tree built by ``generate_listops`` (recursive)."""
    if isinstance(tree, int):
        return tree
    op, args = tree
    return apply_operator(op, [evaluate_tree(a) for a in args])


def _tokens(tree: Tree, out: list[str]) -> None:
    if isinstance(tree, int):
        out.append(str(tree))
        return
    op, args = tree
    out.append(f"[{op}")
    for a in args:
        _tokens(a, out)
    out.append("]")


def _split(rng: np.random.Generator, total: int, parts: int) -> list[int]:
    """``total`` tokens split into ``parts`` positive shares at random."""
    cuts = np.sort(rng.choice(np.arange(1, total), size=parts - 1, replace=False))
    return np.diff(np.concatenate([[0], cuts, [total]])).tolist()


def _grow(rng: np.random.Generator, budget: int, depth: int, max_depth: int, max_args: int,
          digit_p: float) -> tuple[Tree, int]:
    """A tree of at most ``budget`` tokens (and as close to it as the limits allow), with
    its token count. Tokens a child leaves unused are carried to its next sibling."""
    # An operator needs at least "[OP d d ]" = 4 tokens.
    if budget < 4:
        return int(rng.integers(0, 10)), 1
    op = OPERATORS[rng.integers(4)]
    inner = budget - 2
    if depth + 1 >= max_depth:  # deepest operator: a flat list of digits
        n = min(max_args, inner)
        return (op, [int(d) for d in rng.integers(0, 10, n)]), n + 2
    n = int(rng.integers(2, min(max_args, inner) + 1))
    args: list[Tree] = []
    used, carry = 2, 0
    for share in _split(rng, inner, n):
        share += carry
        if share < 4 or rng.random() < digit_p:
            child, size = int(rng.integers(0, 10)), 1
        else:
            child, size = _grow(rng, share, depth + 1, max_depth, max_args, digit_p)
        args.append(child)
        used += size
        carry = share - size
    return (op, args), used


def generate_listops(rng: np.random.Generator, *, min_len: int = 500, max_len: int = 2000,
                     max_depth: int = 10, max_args: int = 10, digit_p: float = 0.25
                     ) -> tuple[list[str], int, Tree]:
    """One example: ``(tokens, answer, tree)`` with ``min_len <= len(tokens) <= max_len``."""
    if not 4 <= min_len <= max_len:
        raise ValueError(f"min_len, max_len: expected 4 <= min_len <= max_len, got {min_len}, {max_len}")
    if max_args < 2 or max_depth < 1:
        raise ValueError(f"max_args, max_depth: expected >= 2 and >= 1, got {max_args}, {max_depth}")
    while True:  # the budget is an upper bound; resample the rare tree that falls short
        target = int(rng.integers(min_len, max_len + 1))
        tree, _ = _grow(rng, target, 0, max_depth, max_args, digit_p)
        toks: list[str] = []
        _tokens(tree, toks)
        if min_len <= len(toks) <= max_len and not isinstance(tree, int):
            return toks, evaluate_tree(tree), tree


def encode(tokens: list[str]) -> torch.Tensor:
    """Tokens -> int64 ids (see ``VOCAB``)."""
    try:
        return torch.tensor([VOCAB[t] for t in tokens], dtype=torch.long)
    except KeyError as e:
        raise ValueError(f"tokens: unknown ListOps token {e.args[0]!r}; expected one of "
                         f"{list(VOCAB)[1:]}") from None


@dataclass
class ListOpsDataset(torch.utils.data.Dataset):
    """``n`` seeded examples: item ``i`` is ``(ids (L_i,) int64, label int)``."""

    n: int
    seed: int = 0
    min_len: int = 500
    max_len: int = 2000
    max_depth: int = 10
    max_args: int = 10

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.examples = []
        for _ in range(self.n):
            toks, ans, _ = generate_listops(rng, min_len=self.min_len, max_len=self.max_len,
                                            max_depth=self.max_depth, max_args=self.max_args)
            self.examples.append((encode(toks), ans))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.examples[i]

    num_classes = 10
    vocab_size = len(VOCAB)
