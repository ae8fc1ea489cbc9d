"""The transcribed-speech corpus: eSpeak NG phoneme events, frame labels, manifests."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from selfattn.data.asr import (
    generate_asr_corpus,
    load_asr_corpus,
    normalize_transcript,
    read_manifest,
    speech_sentences,
)
from selfattn.data.audio import frame_count
from selfattn.data.espeak import SILENCE, frame_labels, spoken_phonemes

SENTENCES = ["The dog barks loudly.", "A cat sat on the warm mat.", "We walked to the river today.",
             "She reads a long letter.", "They sing in the morning.", "Open the window please."]


def _espeak():
    from selfattn.data.cache import DataUnavailableError
    from selfattn.data.espeak import Espeak

    try:
        return Espeak()
    except DataUnavailableError as error:
        pytest.skip(f"eSpeak NG library missing (apt-get install espeak-ng): {error}")


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    _espeak()
    folder = tmp_path_factory.mktemp("asr") / "corpus"
    return generate_asr_corpus(folder, SENTENCES, validation=1, test=1, train_voices=["en-us+m1"],
                               dev_voices=["en-us+f1"], test_voices=["en-us+f3"])


def test_phoneme_events_are_the_synthesisers_and_match_its_audio(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    import ast
    import subprocess
    import sys

    import soundfile

    _espeak()
    # eSpeak NG keeps state between utterances (its pitch flutter runs on), so a process's
    # first utterance is the one the command line's output can be compared with: spoken
    # in a fresh interpreter, whatever other tests have said in this one.
    script = ("import sys, numpy as np\n"
              "from selfattn.data.espeak import Espeak\n"
              "said = Espeak().speak('The dog barks loudly.', 'en-us+f3', 150, 50)\n"
              "np.save(sys.argv[1], said.samples)\n"
              "print(said.rate)\n"
              "print(repr(said.events))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "lib.npy")], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    rate, events = int(out[0]), ast.literal_eval(out[1])
    samples = np.load(tmp_path / "lib.npy")
    names = spoken_phonemes(events)
    assert names[:5] == ["D", "@2", "d", "0", "g"]          # espeak-ng -x: D@ d'0g b'A@ks ...
    starts = [t for _, t in events]
    assert starts == sorted(starts) and 0 <= starts[0] < 0.05 and starts[-1] <= len(samples) / rate
    wav = tmp_path / "cli.wav"
    subprocess.run(["espeak-ng", "-v", "en-us+f3", "-s", "150", "-p", "50", "-w", str(wav),
                    "The dog barks loudly."], check=True, capture_output=True)
    cli, cli_rate = soundfile.read(wav, dtype="int16")
    assert cli_rate == rate
    assert np.array_equal(cli[:len(samples)], samples)      # the same audio the events describe


def test_frame_labels_line_up_with_fbank_frames():
    events = [("_", 0.0), ("a", 0.1), ("b", 0.2055), ("_:", 0.3)]
    samples = 16000 * 4 // 10                                # 0.4 s at 16 kHz
    labels = frame_labels(events, samples)
    assert len(labels) == frame_count(samples) == 38
    centres = np.arange(38) * 0.01 + 0.0125
    # frame i is phoneme k iff start_k <= centre_i < start_{k+1}
    assert labels[:9] == [SILENCE] * 9 and labels[9] == "a"          # centre 0.0975 < 0.1 <= 0.1075
    assert labels[19] == "a" and labels[20] == "b"                   # 0.2025 < 0.2055 <= 0.2125
    assert labels[28] == "b" and labels[29] == SILENCE               # pause phonemes are "_"
    assert all(centres[i] >= 0.1 for i, p in enumerate(labels) if p == "a")
    with pytest.raises(ValueError, match="time order"):
        frame_labels([("a", 0.2), ("b", 0.1)], samples)


def test_corpus_frames_and_labels_have_one_count(tiny_corpus):
    corpus = load_asr_corpus(tiny_corpus)
    assert [u.split for u in corpus.utterances].count("test-seen") == 1
    voices = {u.split: u.voice for u in corpus.utterances}
    assert voices["test"] == "en-us+f3" and voices["train"] == voices["test-seen"] == "en-us+m1"
    for u, x, n in zip(corpus.utterances, corpus.features, corpus.samples_16k, strict=True):
        labels = frame_labels(u.alignment, n)
        assert x.shape == (len(labels), 80)
        assert [p for p in labels if p != SILENCE]                 # speech is labelled
        assert u.phonemes == tuple(spoken_phonemes(u.alignment))
    test_text = next(u.text for u in corpus.utterances if u.split == "test")
    assert test_text not in {u.text for u in corpus.utterances if u.split == "train"}


def test_sentence_filter_and_transcripts():
    kept = speech_sentences([["The", "dog", "barks", "loudly", "."], ["Ms", "Smith", "left", "the", "room", "."],
                             ["It", "cost", "five", "dollars", "today", "?"], ["NASA", "sent", "a", "probe", "."],
                             ["She", "did", "n't", "go", "home", "."]])
    assert kept == ["The dog barks loudly.", "It cost five dollars today?", "She didn't go home."]
    assert normalize_transcript("  Don't   STOP, now!") == "don't stop now"


def _manifest(folder, lines):
    (folder / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "manifest.tsv"


def test_bad_manifest_lines_are_named_by_file_and_line(tmp_path):
    import soundfile

    soundfile.write(tmp_path / "a.wav", np.zeros(8000, np.float32), 16000)
    path = _manifest(tmp_path, ["file\ttext", "a.wav\thello", "a.wav"])
    with pytest.raises(ValueError, match=r"manifest\.tsv:3: expected 2 tab-separated fields"):
        read_manifest(tmp_path)
    _manifest(tmp_path, ["file\ttext", "missing.wav\thello"])
    with pytest.raises(ValueError, match=r"manifest\.tsv:2: WAV file 'missing.wav' not found"):
        read_manifest(path)
    _manifest(tmp_path, ["file\ttext\talignment", "a.wav\thi\th=0.0 i=zero"])
    with pytest.raises(ValueError, match=r"manifest\.tsv:2: alignment item 'i=zero'"):
        read_manifest(path)
    _manifest(tmp_path, ["wav\ttext", "a.wav\thi"])
    with pytest.raises(ValueError, match=r"manifest\.tsv:1: expected a header"):
        read_manifest(path)
    (tmp_path / "b.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    _manifest(tmp_path, ["file\ttext", "a.wav\thello", "b.wav\tbroken"])
    with pytest.raises(ValueError, match=r"manifest\.tsv:3: .*b\.wav"):
        load_asr_corpus(tmp_path)


def test_own_folder_loads_without_split_column(tmp_path):
    import soundfile

    for name in ("a", "b"):
        soundfile.write(tmp_path / f"{name}.wav", np.random.default_rng(0).normal(0, 0.1, 22050).astype(np.float32),
                        22050)
    _manifest(tmp_path, ["file\ttext", "a.wav\tone", "b.wav\ttwo"])
    corpus = load_asr_corpus(tmp_path)
    assert [u.text for u in corpus.utterances] == ["one", "two"]
    assert corpus.features[0].shape == (frame_count(16000), 80) and corpus.samples_16k == [16000, 16000]
    assert not (tmp_path / "features-80.pt").exists()          # nothing written into a user's folder
    assert torch.isfinite(corpus.features[1]).all()


def test_more_training_sentences_keep_the_smaller_corpus_as_a_prefix(tmp_path):
    """``train_before=n``: the corpus of ``train=n`` is the first lines and files of the corpus
    with all training sentences; the extra ones come after the held-out utterances. Each
    corpus is spoken in a fresh interpreter (eSpeak NG's state runs on between utterances)."""
    import filecmp
    import subprocess
    import sys

    _espeak()
    script = ("import sys\n"
              "from selfattn.data.asr import generate_asr_corpus\n"
              f"generate_asr_corpus(sys.argv[1], {SENTENCES!r}, validation=1, test=1,\n"
              "    train=None if sys.argv[2] == 'all' else int(sys.argv[2]), train_before=2,\n"
              "    train_voices=['en-us+m1', 'en-us+f2'], dev_voices=['en-us+f1'], test_voices=['en-us+f3'])\n")
    for name, train in (("small", "2"), ("all", "all")):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name), train], check=True)
    small = (tmp_path / "small" / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    full = (tmp_path / "all" / "manifest.tsv").read_text(encoding="utf-8").splitlines()
    assert len(small) == 1 + 2 + 1 + 1 + 1 and len(full) == len(small) + 2
    assert full[: len(small)] == small
    assert [line.split("\t")[1] for line in full[1:]] == ["train"] * 2 + ["validation", "test", "test-seen"] + [
        "train"] * 2
    for line in small[1:]:
        name = line.split("\t")[0]
        assert filecmp.cmp(tmp_path / "small" / name, tmp_path / "all" / name, shallow=False)
    extra = {line.split("\t")[5] for line in full[len(small):]}
    assert extra.isdisjoint(line.split("\t")[5] for line in small[1:])
    with pytest.raises(ValueError, match="train_before: expected None or an integer >= 0, got -1"):
        generate_asr_corpus(tmp_path / "bad", SENTENCES, validation=1, test=1, train_before=-1)
