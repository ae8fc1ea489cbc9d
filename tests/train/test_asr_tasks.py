"""selfattn train phonemes / asr on a tiny synthesised corpus (one voice, a few sentences)."""

from __future__ import annotations

import json

import pytest
from train_setup import tiny_config

from selfattn.train.run import evaluate, predict, train

SENTENCES = ["The dog barks loudly.", "A cat sat on the warm mat.", "We walked to the river today.",
             "She reads a long letter.", "They sing in the morning.", "Open the window please.",
             "The train leaves at night.", "I like green apples."]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from selfattn.data.asr import generate_asr_corpus
    from selfattn.data.cache import DataUnavailableError

    folder = tmp_path_factory.mktemp("asr") / "corpus"
    try:
        return generate_asr_corpus(folder, SENTENCES, validation=1, test=1, train_voices=["en-us+m1"],
                                   dev_voices=["en-us+m1"], test_voices=["en-us+f3"])
    except DataUnavailableError as error:
        pytest.skip(f"eSpeak NG library missing (apt-get install espeak-ng): {error}")


@pytest.mark.parametrize(("preset", "decoder"), [("phonemes", None), ("asr", "ctc"), ("asr", "joint")])
def test_train_resume_eval_predict(preset, decoder, corpus, tmp_path):
    if preset == "asr":
        pytest.importorskip("jiwer")
    folder = tmp_path / "run"
    extra = [f"model.decoder={decoder}", "model.decoder_depth=1"] if decoder else []
    cfg = tiny_config(preset, folder, f"data.path={corpus}", "data.train_utterances=null",
                      "trainer.max_epochs=4", "trainer.patience=10", "trainer.max_time_s=null",
                      "trainer.max_tokens=600", "model.window=4", "run.beam_size=3", *extra)
    results = train(cfg, log=lambda _: None)
    rows = json.loads((folder / "metrics.json").read_text())
    assert len(rows) == 4 and rows[-1]["train_loss"] < rows[0]["train_loss"], rows
    if preset == "phonemes":
        assert 0 <= results["test_acc"] <= 1 and "test_seen_voices_acc" in results
    else:
        for key in ("test_cer", "test_cer_greedy", "test_cer_beam3", "test_wer_greedy",
                    "test_seen_voices_cer_greedy"):
            assert key in results, key
        # torchmetrics on the raw symbols (as validation) and jiwer (which strips spaces at the ends)
        assert abs(results["test_cer"] - results["test_cer_greedy"]) < 0.2
        assert set(results["decoded_examples"]) == {"test", "test_seen_voices"}
    scores = evaluate(folder, log=lambda _: None)
    for key, value in scores.items():
        if key.startswith("test_") and isinstance(value, float) and not key.endswith("_s"):  # not timings
            assert value == pytest.approx(results[key], abs=1e-4), key
    wav = next(corpus.glob("*.wav"))
    (line,) = predict(folder, wav)
    assert line.startswith(str(wav))


def test_unknown_units_is_a_config_error(corpus, tmp_path):
    from selfattn.train.errors import ConfigError

    with pytest.raises(ConfigError, match=r"data\.units"):
        tiny_config("asr", tmp_path / "run", f"data.path={corpus}", "data.units=words")


def test_language_model_fusion_is_tuned_on_validation_and_scored_on_both_tests(corpus, tmp_path):
    pytest.importorskip("jiwer")
    cfg = tiny_config("asr", tmp_path / "run", f"data.path={corpus}", "data.train_utterances=null",
                      "trainer.max_epochs=2", "trainer.patience=10", "trainer.max_time_s=null",
                      "trainer.max_tokens=600", "model.window=4", "run.beam_size=3", "model.lm_order=3")
    results = train(cfg, log=lambda _: None)
    from selfattn.train.tasks.asr_scoring import FUSION_BONUSES, FUSION_WEIGHTS

    grid = results["lm_grid"]
    assert len(grid) == 1 + len(FUSION_WEIGHTS) * len(FUSION_BONUSES) and grid[0] == {"lm_weight": 0.0, "length_bonus": 0.0,
                                                  "error": results["lm_val_error_plain"]}
    chosen = min(grid, key=lambda row: row["error"])
    assert (results["lm_weight"], results["length_bonus"]) == (chosen["lm_weight"], chosen["length_bonus"])
    assert results["lm_val_error_fused"] == chosen["error"] <= results["lm_val_error_plain"]
    assert results["lm_val_perplexity"] > 1
    for name in ("test", "test_seen_voices"):
        assert results[f"{name}_cer_beam3_lm"] >= 0 and f"{name}_wer_beam3_lm" in results
        assert "beam_lm" in results["decoded_examples"][name][0]


@pytest.mark.parametrize(("option", "message"), [
    ("model.lm_order=-1", r"model\.lm_order: expected an integer >= 0"),
    ("model.lm_smoothing=laplace", r"model\.lm_smoothing: expected one of \['kneser-ney', 'witten-bell'\]"),
    ("model.lm_weight=-0.5", r"model\.lm_weight: expected null \(tuned on the validation split\) or a number >= 0"),
    ("model.length_bonus=fast", r"model\.length_bonus: expected null .* or a number, got 'fast'"),
])
def test_bad_language_model_options_are_config_errors(option, message, corpus, tmp_path):
    from selfattn.train.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        tiny_config("asr", tmp_path / "run", f"data.path={corpus}", option)


def test_language_model_needs_the_ctc_decoder(corpus, tmp_path):
    from selfattn.train.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.lm_order: .* CTC beam search only .*'joint'"):
        tiny_config("asr", tmp_path / "run", f"data.path={corpus}", "model.lm_order=4", "model.decoder=joint")
