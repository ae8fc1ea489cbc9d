"""speech-truncation at tiny scale: three encoders trained on a synthesised corpus, the JSON and plot."""

from __future__ import annotations

import json

import pytest
import torch

SENTENCES = ["The dog barks loudly.", "A cat sat on the warm mat.", "We walked to the river today.",
             "She reads a long letter.", "They sing in the morning.", "Open the window please."]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    pytest.importorskip("jiwer")
    from selfattn.data.asr import generate_asr_corpus
    from selfattn.data.cache import DataUnavailableError

    try:
        return generate_asr_corpus(tmp_path_factory.mktemp("speech") / "corpus", SENTENCES, validation=1, test=1,
                                   train_voices=["en-us+m1"], dev_voices=["en-us+m1"], test_voices=["en-us+f3"])
    except DataUnavailableError as error:
        pytest.skip(f"eSpeak NG library missing (apt-get install espeak-ng): {error}")


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only contend on shared cores
    yield
    torch.set_num_threads(before)


def test_the_three_encoders_are_what_they_say(corpus, tmp_path, one_thread):
    from selfattn.experiments.speech_truncation import _config
    from selfattn.nn.baselines import RNNEncoder
    from selfattn.nn.ctc import build_ctc_model

    spec = {"input": {"dim": 80}, "symbols": 5}
    models = {e: build_ctc_model(_config("tiny", e, 0, tmp_path, corpus)["model"], spec)
              for e in ("full", "window", "bilstm")}
    assert (models["full"].pattern, models["window"].pattern) == ("none", "window")
    assert isinstance(models["bilstm"].encoder, RNNEncoder)
    # same weights, so full and window differ only where a key lies outside the window (4 frames)
    models["window"].load_state_dict(models["full"].state_dict())
    x = torch.randn(1, 16, 80)   # 4 subsampled frames: the window covers them all
    for m in models.values():
        m.eval()
    torch.testing.assert_close(models["window"](x), models["full"](x))
    long = torch.randn(1, 200, 80)  # 50 frames: it does not
    assert not torch.allclose(models["window"](long), models["full"](long), atol=1e-4)


def test_tiny_run_writes_every_figure(corpus, tmp_path):
    from selfattn.experiments import EXPERIMENTS

    result = EXPERIMENTS["speech-truncation"](tmp_path / "out", scale="tiny", data_path=corpus)
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (tmp_path / "out" / "figure.png").stat().st_size > 0
    assert [r["encoder"] for r in saved["accuracy"]] == ["full", "window", "bilstm"]
    for row in saved["accuracy"]:
        assert row["test_cer"] >= 0 and row["test_seen_voices_cer"] is not None and row["epochs"] == 2
        assert row["seconds_per_epoch"] > 0
    (cost,) = saved["cost"]
    assert cost["frames"] == 200 and cost["encoder_frames"] == 50
    assert all(cost[e]["peak_mib"] > 0 and cost[e]["step_ms"] > 0 for e in ("full", "window", "bilstm"))
    assert cost["full"]["time_ratio_to_full"] == 1.0
    assert result["run"]["scale"] == "tiny"


def test_tiny_needs_a_corpus(tmp_path):
    from selfattn.experiments.speech_truncation import run

    with pytest.raises(ValueError, match="data_path"):
        run(tmp_path, scale="tiny")
