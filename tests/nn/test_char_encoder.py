"""CharWordEncoder: a word's vector from its spelling, against the one-word-at-a-time twin."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn.char_encoder import CharWordEncoder, char_word_vectors_loop


def _chars(lengths: list[list[int]], width: int, vocab: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(len(lengths), max(len(r) for r in lengths), width, dtype=torch.long)
    for i, row in enumerate(lengths):
        for j, n in enumerate(row):
            out[i, j, :n] = torch.randint(1, vocab, (n,), generator=g)
    return out


@settings(deadline=None, max_examples=25)
@given(st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=4), min_size=1, max_size=3),
       st.sampled_from([1, 3, 5]), st.integers(0, 10_000))
def test_equals_the_one_word_twin_outputs_and_gradients(lengths, kernel, seed):
    torch.manual_seed(seed)
    enc = CharWordEncoder(9, 4, char_dim=3, kernel=kernel).double()
    width = 6
    rows = [row + [0] * (max(map(len, lengths)) - len(row)) for row in lengths]  # padded word slots: no chars
    chars = _chars(rows, width, 9, seed)
    fast = enc(chars)
    slow = char_word_vectors_loop(enc, chars)
    assert fast.shape == (len(rows), len(rows[0]), 4)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    empty = chars.eq(0).all(-1)
    assert fast[empty].abs().sum() == 0  # a slot without characters is zeros, never -inf or NaN
    weights = torch.randn_like(fast)
    if empty.all():  # nothing to read: no gradient reaches any parameter
        grads = torch.autograd.grad((fast * weights).sum(), list(enc.parameters()), allow_unused=True)
        assert all(g is None or g.abs().sum() == 0 for g in grads)
        return
    g_fast = torch.autograd.grad((fast * weights).sum(), list(enc.parameters()))
    g_slow = torch.autograd.grad((slow * weights).sum(), list(enc.parameters()))
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_stays_near_float64(dtype):
    torch.manual_seed(0)
    enc = CharWordEncoder(20, 16)
    chars = _chars([[3, 0, 7, 16], [1, 2, 0, 0]], 16, 20, 1)
    exact = enc.double()(chars)
    low = enc.to(dtype)(chars)
    tol = {torch.float32: 1e-5, torch.bfloat16: 5e-2, torch.float16: 5e-3}[dtype]
    assert low.dtype == dtype and torch.isfinite(low).all()
    torch.testing.assert_close(low.double(), exact, rtol=tol, atol=tol)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"kernel: expected an odd width >= 1"):
        CharWordEncoder(5, 4, kernel=2)
    with pytest.raises(ValueError, match=r"chars: expected int ids \(B, L, C\), got torch.float32 \(2, 3\)"):
        CharWordEncoder(5, 4)(torch.zeros(2, 3))
