"""Chunked encoding of long recordings equals whole-utterance encoding (selfattn.nn.chunked)."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from selfattn.nn.chunked import ChunkPlan, chunk_plan, chunked_forward
from selfattn.nn.ctc import CTCModel
from selfattn.nn.model import build_model

CHUNK = 5  # output frames


def _ctc(pattern="window", positional="rope", encoder="attention", depth=2, window=3):
    torch.manual_seed(0)
    m = CTCModel(12, 6, 16, depth, 2, ff=32, dropout=0.1, positional=positional, pattern=pattern,
                 window=window, encoder=encoder).double().eval()
    with torch.no_grad():
        m.embed.mean.normal_()
        m.embed.std.uniform_(0.5, 2.0)
    return m


def _phonemes(positional="rope"):
    torch.manual_seed(1)
    cfg = {"kind": "transformer", "width": 16, "depth": 3, "heads": 2, "ff": 32, "dropout": 0.1,
           "pattern": "window", "window": 2, "positional": positional}
    spec = {"task": "vector", "target": "class", "outputs": 7, "input": {"kind": "features", "dim": 12}}
    return build_model(cfg, spec).double().eval()


def _close(a, b):
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= 1e-10


@pytest.mark.parametrize("frames", [1, 2, 3, 4, 5, 19, 20, 21, 47, 80, 161])
def test_ctc_chunks_equal_whole_utterance(frames):
    """1 frame, shorter than, equal to (20 input frames = 5 output frames) and longer than a chunk."""
    m = _ctc()
    assert chunk_plan(m) == ChunkPlan(4, 6, 1)
    x = torch.randn(frames, 12, dtype=torch.float64)
    with torch.no_grad():
        whole = m(x[None])
    _close(chunked_forward(m, x, CHUNK), whole)


@pytest.mark.parametrize("frames", [1, 4, 5, 6, 23, 64])
def test_phoneme_chunks_equal_whole_utterance(frames):
    m = _phonemes()
    assert chunk_plan(m) == ChunkPlan(1, 6, 0)
    x = torch.randn(frames, 12, dtype=torch.float64)
    with torch.no_grad():
        whole = m(x[None])
    _close(chunked_forward(m, x, CHUNK), whole)


@settings(max_examples=25, deadline=None)
@given(frames=st.integers(1, 120), chunk=st.integers(1, 12), depth=st.integers(1, 3), window=st.integers(0, 4))
def test_ctc_chunks_any_sizes(frames, chunk, depth, window):
    m = _ctc(depth=depth, window=window)
    x = torch.randn(frames, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(frames))
    with torch.no_grad():
        whole = m(x[None])
    _close(chunked_forward(m, x, chunk), whole)


def test_too_little_context_is_not_equal():
    """The receptive field is needed: one frame less of context on each side changes the output."""
    m = _ctc()
    x = torch.randn(80, 12, dtype=torch.float64)
    from selfattn.nn.chunked import iter_chunks

    short = ChunkPlan(4, 5, 1)
    with torch.no_grad():
        whole = m(x[None])
        cut = torch.cat([o for _, o in iter_chunks(m, x, CHUNK, short)], 1)
    assert float((cut - whole).abs().max()) > 1e-6


@pytest.mark.parametrize("model, reason", [
    (lambda: _ctc(pattern="none"), "full attention"),
    (lambda: _ctc(encoder="lstm"), "RNNEncoder"),
    (lambda: _ctc(positional="sinusoidal"), "absolute input positions"),
    (lambda: _phonemes("learned"), "absolute input positions"),
])
def test_unbounded_receptive_field_warns_and_encodes_whole(model, reason):
    m = model()
    plan = chunk_plan(m)
    assert isinstance(plan, str) and reason in plan
    x = torch.randn(30, 12, dtype=torch.float64)
    with pytest.warns(UserWarning, match="encoding the whole recording"):
        out = chunked_forward(m, x, CHUNK)
    with torch.no_grad():
        _close(out, m(x[None]))


def test_chunk_must_be_positive():
    with warnings.catch_warnings(), pytest.raises(ValueError, match="chunk: expected >= 1"):
        chunked_forward(_ctc(), torch.randn(10, 12, dtype=torch.float64), 0)
