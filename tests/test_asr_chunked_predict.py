"""Predictor on long speech: chunked encoding gives the whole-utterance answer (run.chunk_seconds)."""

from __future__ import annotations

import pytest
import torch

from selfattn.data import VectorSet
from selfattn.nn.ctc import CTCModel
from selfattn.nn.model import build_model
from selfattn.train.predictor import Predictor
from selfattn.train.tasks.asr import AsrTask, PhonemesTask


def _cfg(seconds, beam=1):
    return {"run": {"beam_size": beam, "chunk_seconds": seconds}, "data": {"num_mel_bins": 12}}


def _asr(pattern="window", beam=1, seconds=0.2):
    torch.manual_seed(0)
    model = CTCModel(12, 5, 16, 2, 2, ff=32, positional="rope", pattern=pattern, window=3)
    with torch.no_grad():
        model.head.bias[1:] += 2.0  # some symbols, not all blanks
    spec = {"task": "ctc", "target": "ctc", "symbols": 5}
    return Predictor(_cfg(seconds, beam), AsrTask(), spec, {"symbols": list("abcde"), "units": "characters"},
                     model)


@pytest.mark.parametrize("beam", [1, 3])
def test_long_recording_chunked_equals_whole(beam):
    chunked = _asr(beam=beam)
    whole = _asr(beam=beam, seconds=None)
    assert chunked.chunk_frames() == 20 and whole.chunk_frames() is None
    sets = [VectorSet(x=torch.randn(n, 12), source=f"s{n}") for n in (7, 130, 20, 61)]
    a, b = chunked.predict_sets(sets), whole.predict_sets(sets)
    assert [p.text for p in a] == [p.text for p in b]
    assert [p.source for p in a] == ["s7", "s130", "s20", "s61"]
    assert any(p.text for p in a)


def test_phonemes_chunked_equals_whole():
    torch.manual_seed(2)
    cfg = {"kind": "transformer", "width": 16, "depth": 2, "heads": 2, "ff": 32, "pattern": "window",
           "window": 4, "positional": "rope"}
    spec = {"task": "vector", "target": "class", "outputs": 4, "input": {"kind": "features", "dim": 12}}
    model = build_model(cfg, spec)
    state = {"classes": ["a", "b", "c", "d"]}
    sets = [VectorSet(x=torch.randn(n, 12), source=f"s{n}") for n in (3, 95)]
    a = Predictor(_cfg(0.1), PhonemesTask(), spec, state, model).predict_sets(sets)
    b = Predictor(_cfg(None), PhonemesTask(), spec, state, model).predict_sets(sets)
    assert [p.labels for p in a] == [p.labels for p in b]
    torch.testing.assert_close(a[1].probabilities, b[1].probabilities, atol=1e-5, rtol=0)


def test_full_attention_warns_and_still_answers():
    p = _asr(pattern="none")
    with pytest.warns(UserWarning, match="full attention"):
        out = p.predict_sets([VectorSet(x=torch.randn(90, 12), source="s")])
    assert len(out) == 1


@pytest.mark.parametrize("bad", [0, -1, "30", True])
def test_bad_chunk_seconds_is_named(bad):
    p = _asr(seconds=bad)
    with pytest.raises(ValueError, match=r"run\.chunk_seconds: expected a positive number"):
        p.predict_sets([VectorSet(x=torch.randn(90, 12), source="s")])
