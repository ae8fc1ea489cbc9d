"""Learned absolute table: gradients, the error beyond max_len, interpolation on request."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.positional import LearnedEncoding
from selfattn.varlen import pack


def interpolated_row(weight: torch.Tensor, p: int, n: int) -> torch.Tensor:
    """Slow twin: position p of a set of length n read from the table, one row at a time."""
    m = weight.shape[0]
    if n <= m:
        return weight[p]
    t = p * (m - 1) / (n - 1)
    lo = int(t)
    hi = min(lo + 1, m - 1)
    return weight[lo] * (1 - (t - lo)) + weight[hi] * (t - lo)


def test_gradients_reach_exactly_the_rows_used():
    enc = LearnedEncoding(4, max_len=10).double()
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    enc(x).pow(2).sum().backward()
    used = enc.weight.grad.abs().sum(-1) > 0
    assert used[:6].all() and not used[6:].any()


def test_beyond_max_len_is_an_error_by_default():
    enc = LearnedEncoding(4, max_len=5)
    enc(torch.randn(1, 5, 4))  # the longest allowed set
    with pytest.raises(ValueError, match=r"x: a set of length 6 is longer than max_len=5"):
        enc(torch.randn(1, 6, 4))
    with pytest.raises(ValueError, match=r"length 7 is longer than max_len=5.*beyond='interpolate'"):
        enc(torch.randn(9, 4), offsets=torch.tensor([0, 2, 9]))
    with pytest.raises(ValueError, match=r"beyond: expected one of \('error', 'interpolate'\)"):
        LearnedEncoding(4, beyond="clip")


@settings(max_examples=30, deadline=None)
@given(max_len=st.integers(2, 8), lengths=st.lists(st.integers(1, 20), min_size=1, max_size=4))
def test_interpolation_equals_the_row_by_row_twin(max_len, lengths):
    enc = LearnedEncoding(3, max_len=max_len, beyond="interpolate").double()
    offsets = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    x = torch.zeros(int(offsets[-1]), 3, dtype=torch.float64)
    got = enc(x, offsets=offsets)
    want = torch.stack([interpolated_row(enc.weight, p, n) for n in lengths for p in range(n)])
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)


def test_interpolation_keeps_the_ends_and_stretches_between():
    enc = LearnedEncoding(2, max_len=3, beyond="interpolate").double()
    e = enc.table(5)
    w = enc.weight.detach()
    torch.testing.assert_close(e[0], w[0])
    torch.testing.assert_close(e[2], w[1])  # position 2 of 5 -> row 1 of 3
    torch.testing.assert_close(e[4], w[2])
    torch.testing.assert_close(e[1], (w[0] + w[1]) / 2)
    e.sum().backward()
    assert (enc.weight.grad != 0).all()


def test_padded_with_lengths_equals_packed_when_interpolating():
    enc = LearnedEncoding(3, max_len=4, beyond="interpolate").double()
    lengths = torch.tensor([7, 3])
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    padded = enc(x, lengths=lengths)
    packed, offsets = pack(x, lengths=lengths)
    torch.testing.assert_close(pack(padded, lengths=lengths)[0], enc(packed, offsets=offsets))
    # Without lengths, the short set would be stretched as if it had length 7.
    assert not torch.allclose(enc(x)[1, :3], padded[1, :3])
    # Padded slots get no encoding.
    torch.testing.assert_close(padded[1, 3:], x[1, 3:])
