"""Sinusoidal encoding against the closed formula."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.positional import SinusoidalEncoding


def closed_formula(p: int, dim: int, base: float) -> list[float]:
    """e_p[2i] = sin(p / base^(2i/E)), e_p[2i+1] = cos(p / base^(2i/E)), in Python floats."""
    out = []
    for c in range(dim):
        i = c // 2
        angle = p / base ** (2 * i / dim)
        out.append(math.sin(angle) if c % 2 == 0 else math.cos(angle))
    return out


@settings(max_examples=40, deadline=None)
@given(dim=st.integers(1, 24), base=st.sampled_from([10.0, 1000.0, 10000.0]),
       positions=st.lists(st.integers(0, 20000), min_size=1, max_size=6))
def test_values_equal_the_closed_formula(dim, base, positions):
    enc = SinusoidalEncoding(dim, base=base)
    pos = torch.tensor(positions)
    got = enc.encode(pos, pos + 1, torch.float64)
    want = torch.tensor([closed_formula(p, dim, base) for p in positions], dtype=torch.float64)
    # Angles up to 2e4 rad: float64 argument rounding gives ~1e-12 absolute error.
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_added_to_padded_and_packed_inputs():
    enc = SinusoidalEncoding(6)
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(enc(x) - x, enc.table(5, torch.float64).expand(2, 5, 6))
    packed = torch.randn(7, 6, dtype=torch.float64)
    offsets = torch.tensor([0, 3, 7])
    e = enc(packed, offsets=offsets) - packed
    table = enc.table(4, torch.float64)
    torch.testing.assert_close(e, torch.cat([table[:3], table[:4]]))


def test_float32_input_keeps_its_dtype_and_the_phase_at_long_positions():
    enc = SinusoidalEncoding(4)
    e32 = enc.table(100001, torch.float32)[-1]
    want = torch.tensor(closed_formula(100000, 4, 10000.0), dtype=torch.float32)
    assert e32.dtype == torch.float32
    torch.testing.assert_close(e32, want, atol=1e-6, rtol=0)


def test_bad_input_is_named():
    enc = SinusoidalEncoding(6)
    with pytest.raises(ValueError, match=r"x: expected last dimension 6 .* got shape \(2, 3, 5\)"):
        enc(torch.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor \(batch, length, 6\)"):
        enc(torch.randn(3, 6))
    with pytest.raises(ValueError, match=r"offsets: expected offsets\[-1\] == 3"):
        enc(torch.randn(3, 6), offsets=torch.tensor([0, 2, 4]))
    with pytest.raises(ValueError, match=r"lengths: expected values in \[0, 3\]"):
        enc(torch.randn(2, 3, 6), lengths=torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="base: expected a number > 1"):
        SinusoidalEncoding(6, base=1.0)
