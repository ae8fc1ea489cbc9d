"""A long recording's log-mel features, taken in blocks of frames, equal the one-pass ones."""

from __future__ import annotations

import pytest
import torch

from selfattn.data import fbank
from selfattn.data.audio import frames


@pytest.mark.parametrize("count", [1, 6, 7, 13, 20])
def test_blocks_equal_one_pass(monkeypatch, count):
    samples = torch.randn(400 + 160 * (count - 1))
    x = frames(samples)
    assert x.shape[0] == count
    whole = fbank.log_mel_fbank(x, 23)
    monkeypatch.setattr(fbank, "BLOCK_FRAMES", 6)
    blocked = fbank.log_mel_fbank(x, 23)
    assert blocked.shape == (count, 23)
    torch.testing.assert_close(blocked, whole, atol=1e-5, rtol=0)


def test_blocks_bound_the_peak():
    from selfattn.bench.memory import peak_bytes

    x = frames(torch.randn(16000 * 60))  # 5998 frames: two blocks
    peak = peak_bytes(lambda: fbank.log_mel_fbank(x, 80))
    one_pass = peak_bytes(lambda: fbank.log_mel_fbank(x[:fbank.BLOCK_FRAMES], 80))
    assert peak < 1.3 * one_pass  # one block's spectra, plus the float32 output
