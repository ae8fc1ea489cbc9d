"""Speech data sets: who speaks when (pyannote's sample) and who is speaking (espeak-ng).

* ``wav_features``: WAV file -> 16 kHz -> ``(frames, features)`` log-mel or MFCC set.
* ``read_rttm`` / ``rttm_frame_labels``: RTTM speaker turns (``SPEAKER file 1 start
  duration <NA> <NA> name ...``) -> per-frame labels ``(frames, speakers)`` 0/1 (several
  may speak at once), frame ``i`` centred at ``i * 10 ms + 12.5 ms``.
* ``load_pyannote_sample``: the 30 s, 2-speaker recording shipped in ``pyannote.audio``
  with its 10 turns: a sequence-labeling set of ~3,000 frames, cut into chunks if asked.
* ``generate_speaker_set`` / ``load_speaker_set``: a speaker-identification set spoken by
  ``espeak-ng`` (Debian package): each utterance is a random sentence (words drawn with
  ``random.Random(seed)`` from a fixed list of 64 words, 4 to 9 of them) said by one of
  several voices, with a random speed (140-180 words a minute) and pitch (40-60); the
  voice is the per-set label. Same seed, same sentences, speeds and pitches.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from .audio import SAMPLE_RATE, frames, read_wav, resample
from .fbank import log_mel_fbank, mfcc
from .registry import DatasetEntry, fetch, register
from .sets import SetDataset, VectorSet

__all__ = [
    "SPEAKER_VOICES",
    "SpeakerTurn",
    "generate_speaker_set",
    "load_pyannote_sample",
    "load_speaker_set",
    "read_rttm",
    "rttm_frame_labels",
    "wav_features",
]

SPEAKER_VOICES = ("en-us+m1", "en-us+m3", "en-us+m7", "en-us+f1", "en-us+f3", "en-us+f5",
                  "en-gb+m2", "en-gb+f4")
_WORDS = ("the", "a", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
          "zero", "red", "green", "blue", "yellow", "black", "white", "house", "tree", "river",
          "table", "window", "garden", "morning", "evening", "quickly", "slowly", "happy",
          "quiet", "small", "large", "bright", "cold", "warm", "dog", "cat", "bird", "horse",
          "book", "letter", "music", "water", "bread", "apple", "orange", "train", "station",
          "city", "village", "walks", "runs", "sings", "reads", "writes", "opens", "closes",
          "finds", "under", "over", "near", "behind", "today", "tomorrow")


def wav_features(path: str | Path, kind: Literal["fbank", "mfcc"] = "fbank",
                 num_mel_bins: int = 80) -> torch.Tensor:
    """WAV file -> ``(frames, num_mel_bins)`` log-mel (or ``(frames, 13)`` MFCC) at 16 kHz."""
    samples, rate = read_wav(path)
    framed = frames(resample(samples, rate, SAMPLE_RATE))
    if kind == "fbank":
        return log_mel_fbank(framed, num_mel_bins)
    if kind == "mfcc":
        return mfcc(framed)
    raise ValueError(f"kind: expected 'fbank' or 'mfcc', got {kind!r}")


@dataclass(frozen=True)
class SpeakerTurn:
    speaker: str
    start: float
    duration: float


def read_rttm(path: str | Path) -> list[SpeakerTurn]:
    """``SPEAKER`` lines of an RTTM file; a malformed line raises naming the file and line."""
    path = Path(path)
    turns = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] != "SPEAKER":
            continue
        try:
            if len(fields) < 8:
                raise ValueError("too few fields")
            start, duration = float(fields[3]), float(fields[4])
            if start < 0 or duration < 0:
                raise ValueError("negative time")
        except ValueError as error:
            raise ValueError(f"{path}:{number}: expected 'SPEAKER file channel start duration "
                             f"<NA> <NA> name ...' ({error}), got {line!r}") from None
        turns.append(SpeakerTurn(fields[7], start, duration))
    return turns


def rttm_frame_labels(turns: Sequence[SpeakerTurn], num_frames: int,
                      speakers: Sequence[str] | None = None, shift_s: float = 0.010,
                      window_s: float = 0.025) -> tuple[torch.Tensor, list[str]]:
    """``((num_frames, K) float32 0/1, speaker names)``: who speaks at each frame centre."""
    names = list(speakers) if speakers is not None else sorted({t.speaker for t in turns})
    column = {name: k for k, name in enumerate(names)}
    labels = torch.zeros(num_frames, len(names))
    centres = torch.arange(num_frames, dtype=torch.float64) * shift_s + window_s / 2
    for turn in turns:
        if turn.speaker not in column:
            raise ValueError(f"speakers: turn of {turn.speaker!r} at {turn.start}s, expected "
                             f"one of {names}")
        inside = (centres >= turn.start) & (centres < turn.start + turn.duration)
        labels[inside, column[turn.speaker]] = 1.0
    return labels, names


def load_pyannote_sample(path: str | Path | None = None, chunk_seconds: float | None = None,
                         kind: Literal["fbank", "mfcc"] = "fbank") -> SetDataset:
    """pyannote's sample as sets of frames with labels ``(frames, 2)``; ``path`` is a folder
    with ``sample.wav`` and ``sample.rttm``. ``chunk_seconds`` cuts the recording into
    consecutive chunks (the last may be shorter); none are dropped."""
    folder = Path(path) if path is not None else fetch("pyannote-sample")
    features = wav_features(folder / "sample.wav", kind)
    labels, names = rttm_frame_labels(read_rttm(folder / "sample.rttm"), features.shape[0])
    step = features.shape[0] if chunk_seconds is None else max(1, round(chunk_seconds * 100))
    examples = [
        VectorSet(x=features[i:i + step], y=labels[i:i + step],
                  source=f"{folder / 'sample.wav'} frames {i}..{min(i + step, len(labels)) - 1}")
        for i in range(0, features.shape[0], step)
    ]
    return SetDataset(examples, {"labels": "vector", "classes": names,
                                 "speech_fraction": float(labels.amax(1).mean())})


def generate_speaker_set(folder: str | Path, voices: Sequence[str] = SPEAKER_VOICES,
                         utterances_per_voice: int = 40, seed: int = 0) -> Path:
    """Speak ``utterances_per_voice`` random sentences with each voice into ``folder``;
    writes ``NNNN.wav`` files and ``manifest.tsv`` (file, voice, speed, pitch, text)."""
    if shutil.which("espeak-ng") is None:
        from .cache import DataUnavailableError

        raise DataUnavailableError("espeak-ng is not installed (Debian package espeak-ng)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = []
    for number in range(utterances_per_voice * len(voices)):
        voice = voices[number % len(voices)]
        text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 9)))
        speed, pitch = rng.randint(140, 180), rng.randint(40, 60)
        name = f"{number:05d}.wav"
        command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch),
                   "-w", str(folder / name), text]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        rows.append(f"{name}\t{voice}\t{speed}\t{pitch}\t{text}")
    (folder / "manifest.tsv").write_text("file\tvoice\tspeed\tpitch\ttext\n"
                                         + "\n".join(rows) + "\n", encoding="utf-8")
    return folder


def load_speaker_set(path: str | Path | None = None, kind: Literal["fbank", "mfcc"] = "fbank"
                     ) -> SetDataset:
    """A folder written by :func:`generate_speaker_set` (default: generate and cache) ->
    sets ``(frames, features)`` with the voice index as per-set label."""
    folder = Path(path) if path is not None else fetch("espeak-speakers")
    manifest = folder / "manifest.tsv"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines[1:] if line]
    for number, row in enumerate(rows, start=2):
        if len(row) != 5:
            raise ValueError(f"{manifest}:{number}: expected 5 tab-separated fields "
                             f"(file, voice, speed, pitch, text), got {len(row)}")
    voices = sorted({row[1] for row in rows})
    examples = [VectorSet(x=wav_features(folder / row[0], kind),
                          y=torch.tensor(voices.index(row[1])), source=str(folder / row[0]))
                for row in rows]
    return SetDataset(examples, {"labels": "set", "classes": voices})


def _generate_default(folder: Path) -> None:
    generate_speaker_set(folder)


register(DatasetEntry(
    name="espeak-speakers", task="speech, speaker identification (per-set label)",
    size=f"{len(SPEAKER_VOICES)} voices x 40 utterances, generated (seed 0)",
    licence="generated with espeak-ng (GPL-3.0 program; output is yours)",
    source=("generated", "espeak-ng"), generate=_generate_default,
))
