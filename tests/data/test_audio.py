import math
import shutil
import subprocess

import numpy as np
import pytest
import torch

from selfattn.data import (
    frame_count,
    frames,
    generate_speaker_set,
    load_pyannote_sample,
    load_speaker_set,
    log_mel_fbank,
    mfcc,
    read_rttm,
    read_wav,
    resample,
    rttm_frame_labels,
)
from selfattn.data.speech import SpeakerTurn

soundfile = pytest.importorskip("soundfile")


def _signal(seconds=1.0, rate=16000, seed=0):
    t = torch.arange(int(seconds * rate)) / rate
    noise = torch.randn(t.shape[0], generator=torch.Generator().manual_seed(seed))
    return (0.3 * torch.sin(2 * math.pi * (200 + 900 * t) * t) + 0.05 * noise).float()


def _kaldi(samples, mfcc_features=False, num_bins=80):
    knf = pytest.importorskip("kaldi_native_fbank")
    if mfcc_features:
        options = knf.MfccOptions()
    else:
        options = knf.FbankOptions()
        options.mel_opts.num_bins = num_bins
    options.frame_opts.dither = 0.0
    computer = (knf.OnlineMfcc if mfcc_features else knf.OnlineFbank)(options)
    computer.accept_waveform(16000, samples.tolist())
    computer.input_finished()
    return torch.tensor(np.stack([computer.get_frame(i) for i in range(computer.num_frames_ready)]))


def test_one_second_gives_98_frames_of_25_ms():
    assert frame_count(16000) == 98  # 1 + (16000 - 400) // 160
    assert frame_count(399) == 0 and frame_count(400) == 1
    framed = frames(_signal(1.0))
    assert framed.shape == (98, 400)
    assert torch.equal(framed[1], _signal(1.0)[160:560])
    assert frame_count(30 * 16000) == 2998  # about 100 a second


def test_fbank_and_mfcc_match_kaldi_native_fbank_on_a_generated_signal():
    samples = _signal(1.0)
    ours = log_mel_fbank(frames(samples), 80)
    reference = _kaldi(samples)
    assert ours.shape == reference.shape == (98, 80)
    assert torch.allclose(ours, reference, atol=2e-3, rtol=1e-4)
    ours_mfcc = mfcc(frames(samples))
    reference_mfcc = _kaldi(samples, mfcc_features=True)
    assert ours_mfcc.shape == reference_mfcc.shape == (98, 13)
    assert torch.allclose(ours_mfcc, reference_mfcc, atol=2e-3, rtol=1e-4)


def test_wav_round_trip_and_truncated_file(tmp_path):
    samples = _signal(0.5).numpy()
    path = tmp_path / "tone.wav"
    soundfile.write(path, samples, 16000, subtype="PCM_16")
    read, rate = read_wav(path)
    assert rate == 16000 and read.shape == (8000,)
    assert np.abs(read.numpy() - samples).max() < 1e-4  # 16-bit quantisation
    raw = path.read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"cut.wav: truncated: chunk 'data' at byte 36"):
        read_wav(tmp_path / "cut.wav")
    (tmp_path / "header.wav").write_bytes(raw[:30])
    with pytest.raises(ValueError, match=r"header.wav: truncated"):
        read_wav(tmp_path / "header.wav")
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(ValueError, match=r"text.wav: bytes 0-11"):
        read_wav(tmp_path / "text.wav")


def test_resample_keeps_duration_and_pitch():
    rate = 22050
    t = torch.arange(rate) / rate
    tone = torch.sin(2 * math.pi * 440 * t)
    out = resample(tone, rate, 16000)
    assert out.shape == (16000,)
    spectrum = torch.fft.rfft(out[2000:14000] * torch.hann_window(12000))
    peak_hz = int(spectrum.abs().argmax()) * 16000 / 12000
    assert abs(peak_hz - 440) < 2


def test_rttm_turns_to_frame_labels(tmp_path):
    path = tmp_path / "talk.rttm"
    path.write_text("SPEAKER talk 1 0.00 0.50 <NA> <NA> alice <NA> <NA>\n"
                    "SPEAKER talk 1 0.40 0.30 <NA> <NA> bob <NA> <NA>\n")
    turns = read_rttm(path)
    assert turns == [SpeakerTurn("alice", 0.0, 0.5), SpeakerTurn("bob", 0.4, 0.3)]
    labels, names = rttm_frame_labels(turns, 98)
    assert names == ["alice", "bob"] and labels.shape == (98, 2)
    assert labels[0].tolist() == [1, 0] and labels[45].tolist() == [1, 1]  # centre 0.4625 s
    assert labels[60].tolist() == [0, 1] and labels[90].tolist() == [0, 0]
    (tmp_path / "bad.rttm").write_text("SPEAKER talk 1 zero 0.5 <NA> <NA> alice\n")
    with pytest.raises(ValueError, match=r"bad.rttm:1: expected 'SPEAKER file"):
        read_rttm(tmp_path / "bad.rttm")


def test_real_pyannote_sample_matches_kaldi(real_data):
    folder = real_data("pyannote-sample")
    samples, rate = read_wav(folder / "sample.wav")
    assert rate == 16000 and samples.shape == (480000,)
    head = samples[:32000]
    assert torch.allclose(log_mel_fbank(frames(head)), _kaldi(head), atol=2e-3, rtol=1e-4)
    data = load_pyannote_sample(folder, chunk_seconds=10)
    assert [len(e) for e in data] == [1000, 1000, 998]
    assert data.info["classes"] == ["speaker90", "speaker91"]
    assert 0.6 < data.info["speech_fraction"] < 0.9


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs Debian espeak-ng")
def test_espeak_speaker_set_is_seeded_and_voices_differ(tmp_path):
    voices = ("en-us+m1", "en-us+f3")
    generate_speaker_set(tmp_path / "a", voices, utterances_per_voice=2, seed=5)
    generate_speaker_set(tmp_path / "b", voices, utterances_per_voice=2, seed=5)
    manifest = (tmp_path / "a" / "manifest.tsv").read_text()
    assert manifest == (tmp_path / "b" / "manifest.tsv").read_text()
    assert len(manifest.splitlines()) == 5
    data = load_speaker_set(tmp_path / "a")
    assert len(data) == 4 and data.info["classes"] == sorted(voices)
    assert sorted(int(e.y) for e in data) == [0, 0, 1, 1]
    assert all(e.x.shape[1] == 80 and len(e) > 50 for e in data)
    # the same words in two voices must not give the same sound
    for voice in voices:
        name = voice.replace("+", "_")
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(tmp_path / f"{name}.wav"),
                        "seven green apples"], check=True)
    a, _ = read_wav(tmp_path / "en-us_m1.wav")
    b, _ = read_wav(tmp_path / "en-us_f3.wav")
    n = min(len(a), len(b))
    assert not torch.allclose(a[:n], b[:n], atol=1e-2)
