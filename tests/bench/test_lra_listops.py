"""ListOps generator: every answer checked by an independent stack evaluator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfattn.bench.lra.listops import VOCAB, ListOpsDataset, encode, generate_listops


def _median_floor(values: list[int]) -> int:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) // 2


def stack_evaluate(tokens: list[str]) -> int:
    """An evaluator written apart from the generator: a left-to-right stack machine."""
    ops = {"MAX": max, "MIN": min, "SM": lambda v: sum(v) % 10, "MED": _median_floor}
    stack: list[tuple[str, list[int]]] = []
    result = None
    for t in tokens:
        if t.startswith("["):
            stack.append((t[1:], []))
        elif t == "]":
            op, args = stack.pop()
            value = ops[op](args)
            if stack:
                stack[-1][1].append(value)
            else:
                result = value
        else:
            stack[-1][1].append(int(t))
    assert not stack and result is not None
    return result


def test_hand_examples():
    assert stack_evaluate(["[MAX", "4", "3", "[MIN", "2", "3", "]", "1", "0", "]"]) == 4
    assert stack_evaluate(["[MED", "1", "5", "8", "9", "]"]) == 6  # (5 + 8) / 2 = 6.5 -> 6
    assert stack_evaluate(["[SM", "9", "8", "[MED", "7", "1", "3", "]", "]"]) == 0  # 9 + 8 + 3 = 20


@pytest.mark.parametrize(("lo", "hi"), [(10, 40), (100, 300), (500, 2000)])
def test_answers_match_an_independent_evaluator(lo, hi):
    rng = np.random.default_rng(lo)
    depths = []
    for _ in range(60 if hi < 2000 else 15):
        tokens, answer, _ = generate_listops(rng, min_len=lo, max_len=hi)
        assert lo <= len(tokens) <= hi
        assert stack_evaluate(tokens) == answer
        assert 0 <= answer <= 9
        depth = best = 0
        for t in tokens:
            depth += t.startswith("[") - (t == "]")
            best = max(best, depth)
        depths.append(best)
    assert max(depths) >= 2  # the expressions are nested, not flat lists


def test_long_sequences_reach_two_thousand_tokens():
    rng = np.random.default_rng(0)
    lengths = [len(generate_listops(rng)[0]) for _ in range(40)]
    assert min(lengths) >= 500 and max(lengths) <= 2000 and max(lengths) > 1500


def test_dataset_is_seeded_and_encoded():
    a, b = ListOpsDataset(8, seed=3, min_len=20, max_len=60), ListOpsDataset(8, seed=3, min_len=20, max_len=60)
    c = ListOpsDataset(8, seed=4, min_len=20, max_len=60)
    assert all(torch.equal(x[0], y[0]) and x[1] == y[1] for x, y in zip(a, b, strict=True))
    assert any(not torch.equal(x[0], y[0]) for x, y in zip(a, c, strict=True))
    ids, label = a[0]
    inverse = {i: t for t, i in VOCAB.items()}
    assert stack_evaluate([inverse[int(i)] for i in ids]) == label
    assert int(ids.min()) > 0  # 0 is reserved for padding


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_len"):
        generate_listops(np.random.default_rng(0), min_len=50, max_len=10)
    with pytest.raises(ValueError, match="token"):
        encode(["[MAX", "12", "]"])
