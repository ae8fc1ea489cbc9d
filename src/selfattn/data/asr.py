"""Transcribed speech: real sentences spoken by eSpeak NG voices, or your own WAV folder.

No transcribed human speech ships in a registry package here, so the corpus is made:
sentences of the OANC sample (``load_pos("oanc")``: plain words only, no digits,
abbreviations or acronyms, which the synthesiser would expand) are spoken by eSpeak NG
voice variants at random rates and pitches (:mod:`selfattn.data.espeak`), and each
utterance keeps its character transcript, its phoneme string and the synthesiser's own
phoneme timing. The voices are split three ways, so that the test voices are never heard
in training:

* ``train``: training sentences, each spoken once by a training voice;
* ``validation``: other sentences, by the development voices;
* ``test``: other sentences again, by the held-out test voices;
* ``test-seen``: the test sentences by training voices (held-out sentences only).

A corpus folder holds ``NNNNN.wav`` files and ``manifest.tsv``: a header naming the
columns, then one utterance per line. ``file`` and ``text`` are required; ``phonemes``
(space-separated), ``alignment`` (``phoneme=start_s`` items, space-separated: each
phoneme lasts until the next one starts), ``split``, ``voice``, ``rate`` and ``pitch``
are optional. :func:`read_manifest` names the file and line of every bad line (a wrong
number of fields, a missing or unreadable WAV, a bad alignment item).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .audio import SAMPLE_RATE, frames, read_wav, resample
from .fbank import log_mel_fbank

__all__ = ["CORPORA", "DEV_VOICES", "MANIFEST_COLUMNS", "SPLITS", "TEST_VOICES", "TRAIN_VOICES", "AsrCorpus",
           "AsrUtterance", "generate_asr_corpus", "load_asr_corpus", "normalize_transcript",
           "read_manifest", "speech_sentences"]

MANIFEST_COLUMNS = ("file", "split", "voice", "rate", "pitch", "text", "phonemes", "alignment")
SPLITS = ("train", "validation", "test", "test-seen")
# en-us with eSpeak NG voice variants (each changes formants, pitch range, breathiness):
# every one gives different audio for the same text (checked by hashing the samples).
TRAIN_VOICES = tuple(f"en-us+{v}" for v in (
    "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f4", "Andy", "Annie", "david", "edward", "john",
    "linda", "paul", "steph", "zac", "Alex", "quincy"))
DEV_VOICES = ("en-us+rob", "en-us+Gene")
DEFAULT_TRAIN = 3000  # training sentences of the registry corpus (3.1 h of speech)
CORPORA = ("espeak-asr", "espeak-asr-all")  # the generated corpora: 3,000 / all 4,209 training sentences
TEST_VOICES = ("en-us+m7", "en-us+f5", "en-us+Mike", "en-us+robert")

_WORD = re.compile(r"^(?:[A-Za-z]+|[a-z]*'[a-z]+|n't)$")
_PUNCT = {",", ".", "?", "!", ";", ":", "--", "``", "''"}
_ABBREVIATIONS = {"Mr", "Mrs", "Ms", "Dr", "St", "Jr", "Sr", "Co", "Inc", "Corp", "Ltd", "vs"}
_ATTACH = re.compile(r" (?=[,.?!;:]|n't\b|'[a-z]+\b)")


def speech_sentences(sentences: Sequence[Sequence[str]], min_words: int = 4, max_words: int = 20
                     ) -> list[str]:
    """Tokenised sentences -> the ones a synthesiser says as written, as plain text.

    Kept: ``min_words..max_words`` words, every token a plain word (letters and
    apostrophes) or punctuation, ending in ``.``, ``?`` or ``!``; no abbreviation (``Ms``),
    acronym (``NASA``) or single capital other than ``I`` and ``A`` (eSpeak spells those
    out or expands them, and the transcript would not say what was spoken)."""
    out, seen = [], set()
    for tokens in sentences:
        words = [t for t in tokens if t not in _PUNCT]
        if not min_words <= len(words) <= max_words or not tokens or tokens[-1] not in (".", "?", "!"):
            continue
        if any(not _WORD.match(w) or w in _ABBREVIATIONS or (len(w) > 1 and w.isupper())
               or (len(w) == 1 and w.isupper() and w not in ("I", "A")) for w in words):
            continue
        text = _ATTACH.sub("", " ".join(t for t in tokens if t not in ("``", "''", "--")))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def normalize_transcript(text: str) -> str:
    """The characters a recogniser writes: lower case ``a-z``, ``'`` and single spaces."""
    return " ".join(re.sub(r"[^a-z' ]+", " ", text.lower()).split())


@dataclass(frozen=True)
class AsrUtterance:
    """One line of a manifest (``line``: its number in ``manifest``)."""

    path: Path
    text: str
    manifest: Path
    line: int
    split: str = ""
    voice: str = ""
    phonemes: tuple[str, ...] = ()
    alignment: tuple[tuple[str, float], ...] = ()

    @property
    def where(self) -> str:
        return f"{self.manifest}:{self.line}"


def _parse_alignment(raw: str, where: str) -> tuple[tuple[str, float], ...]:
    items, last = [], -1.0
    for item in raw.split():
        name, eq, start = item.rpartition("=")
        try:
            if not eq or not name:
                raise ValueError
            t = float(start)
        except ValueError:
            raise ValueError(f"{where}: alignment item {item!r}: expected phoneme=start_seconds") from None
        if not t >= last:
            raise ValueError(f"{where}: alignment item {item!r}: starts before the one before it ({last})")
        items.append((name, t))
        last = t
    return tuple(items)


def read_manifest(path: str | Path) -> list[AsrUtterance]:
    """The utterances of ``manifest.tsv`` (or a folder holding one); WAV paths are relative
    to the manifest's folder. Every bad line raises a ``ValueError`` naming file and line."""
    path = Path(path)
    manifest = path / "manifest.tsv" if path.is_dir() else path
    if not manifest.is_file():
        raise FileNotFoundError(f"data.path: expected a folder with manifest.tsv or a manifest file, got "
                                f"{path} (no {manifest.name})")
    lines = manifest.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t") if lines else []
    missing = [c for c in ("file", "text") if c not in header]
    unknown = [c for c in header if c not in MANIFEST_COLUMNS]
    if missing or unknown:
        optional = ", ".join(c for c in MANIFEST_COLUMNS if c not in ("file", "text"))
        raise ValueError(f"{manifest}:1: expected a header of tab-separated column names with 'file' and "
                         f"'text' (optional: {optional}), got {header!r}")
    out = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        fields = line.split("\t")
        if len(fields) != len(header):
            raise ValueError(f"{where}: expected {len(header)} tab-separated fields ({', '.join(header)}), "
                             f"got {len(fields)}")
        row = dict(zip(header, fields, strict=True))
        wav = manifest.parent / row["file"]
        if not wav.is_file():
            raise ValueError(f"{where}: WAV file {row['file']!r} not found (looked for {wav})")
        if not row["text"].strip():
            raise ValueError(f"{where}: empty text")
        split = row.get("split", "")
        if split and split not in SPLITS:
            raise ValueError(f"{where}: split {split!r}: expected one of {list(SPLITS)}")
        out.append(AsrUtterance(wav, row["text"], manifest, number, split, row.get("voice", ""),
                                tuple(row.get("phonemes", "").split()),
                                _parse_alignment(row.get("alignment", ""), where)))
    if not out:
        raise ValueError(f"{manifest}: no utterances (expected a header line, then one per line)")
    return out


def generate_asr_corpus(folder: str | Path, sentences: Sequence[str], *, validation: int = 150,
                        test: int = 150, train: int | None = None, train_voices: Sequence[str] = TRAIN_VOICES,
                        dev_voices: Sequence[str] = DEV_VOICES, test_voices: Sequence[str] = TEST_VOICES,
                        rates: tuple[int, int] = (140, 200), pitches: tuple[int, int] = (30, 70),
                        seed: int = 0, train_before: int | None = None) -> Path:
    """Speak ``sentences`` into ``folder`` (``NNNNN.wav``, 16 kHz 16-bit, + ``manifest.tsv``;
    module doc): ``validation`` and ``test`` sentences held out, ``train`` (default: all the
    rest) for training. Same arguments, same corpus (sentences, voices, rates and pitches
    drawn from ``seed``), when spoken in a fresh interpreter: eSpeak NG's state (its pitch
    flutter) runs on from one utterance to the next. The synthesiser's 22,050 Hz audio is
    resampled to 16 kHz; the alignment is in seconds, so it holds at any rate.

    ``train_before``: how many training sentences are spoken before the held-out ones
    (default: all); the rest come after them. The corpus of ``train=n`` is then the first
    lines and files of the corpus with more training sentences and the same
    ``train_before=n``: every held-out utterance (voice, rate, pitch, audio) is the same in
    both, and ``data.train_utterances=n`` trains on the smaller corpus's sentences."""
    import soundfile

    from .espeak import Espeak, spoken_phonemes

    if len(sentences) <= validation + test:
        raise ValueError(f"sentences: expected more than validation + test = {validation + test}, "
                         f"got {len(sentences)}")
    if train_before is not None and (isinstance(train_before, bool) or train_before < 0):
        raise ValueError(f"train_before: expected None or an integer >= 0, got {train_before!r}")
    overlap = (set(train_voices) & set(test_voices)) | (set(dev_voices) & set(test_voices))
    if overlap:
        raise ValueError(f"test_voices: expected voices held out from training and development, "
                         f"got {sorted(overlap)} in both")
    engine = Espeak()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    order = list(sentences)
    rng.shuffle(order)
    val_s, test_s = order[:validation], order[validation:validation + test]
    train_s = order[validation + test:] if train is None else order[validation + test:][:train]
    first = len(train_s) if train_before is None else train_before
    plan = ([("train", s, train_voices) for s in train_s[:first]]
            + [("validation", s, dev_voices) for s in val_s]
            + [("test", s, test_voices) for s in test_s] + [("test-seen", s, train_voices) for s in test_s]
            + [("train", s, train_voices) for s in train_s[first:]])
    rows = ["\t".join(MANIFEST_COLUMNS)]
    for number, (split, text, voices) in enumerate(plan):
        voice, rate, pitch = rng.choice(voices), rng.randint(*rates), rng.randint(*pitches)
        said = engine.speak(text, voice, rate, pitch)
        name = f"{number:05d}.wav"
        audio = resample(torch.from_numpy(said.samples.astype("float32") / 32768), said.rate, SAMPLE_RATE)
        soundfile.write(folder / name, audio.clamp(-1, 32767 / 32768).numpy(), SAMPLE_RATE, subtype="PCM_16")
        alignment = " ".join(f"{p}={t:.6f}" for p, t in said.events)
        rows.append("\t".join([name, split, voice, str(rate), str(pitch), text,
                               " ".join(spoken_phonemes(said.events)), alignment]))
    (folder / "manifest.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


@dataclass
class AsrCorpus:
    """Utterances and their ``(frames, 80)`` log-mel features (16 kHz, 25 ms / 10 ms)."""

    utterances: list[AsrUtterance]
    features: list[torch.Tensor]
    samples_16k: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.utterances)

    def indices(self, split: str) -> list[int]:
        return [i for i, u in enumerate(self.utterances) if u.split == split]


def utterance_features(path: Path, num_mel_bins: int = 80) -> tuple[torch.Tensor, int]:
    """``((frames, num_mel_bins) log-mel, samples at 16 kHz)`` of one WAV file."""
    samples, rate = read_wav(path)
    samples = resample(samples, rate, SAMPLE_RATE)
    return log_mel_fbank(frames(samples), num_mel_bins), int(samples.shape[0])


def load_asr_corpus(path: str | Path | None = None, num_mel_bins: int = 80, corpus: str = "espeak-asr"
                    ) -> AsrCorpus:
    """A manifest folder (default: the generated ``corpus``, ``espeak-asr`` or
    ``espeak-asr-all``, made on first use) with the features of every utterance. Features of
    a folder in the selfattn cache are kept next to it (``features-<bins>.pt``); a bad WAV
    raises naming the manifest line."""
    from .cache import cache_dir
    from .registry import fetch

    if corpus not in CORPORA:
        raise ValueError(f"corpus: expected one of {list(CORPORA)}, got {corpus!r}")
    folder = Path(path) if path is not None else fetch(corpus)
    utterances = read_manifest(folder)
    cached = folder / f"features-{num_mel_bins}.pt" if folder.is_dir() else None
    in_cache = cached is not None and cache_dir() in cached.resolve().parents
    if in_cache and cached.is_file():
        saved = torch.load(cached, weights_only=True)
        if saved["files"] == [u.path.name for u in utterances]:
            return AsrCorpus(utterances, saved["features"], saved["samples"])
    features, counts = [], []
    for u in utterances:
        try:
            x, n = utterance_features(u.path, num_mel_bins)
        except ValueError as error:
            raise ValueError(f"{u.where}: {error}") from None
        if x.shape[0] == 0:
            raise ValueError(f"{u.where}: {u.path.name} is shorter than one 25 ms frame")
        features.append(x)
        counts.append(n)
    if in_cache:
        partial = cached.with_name(cached.name + ".partial")
        torch.save({"files": [u.path.name for u in utterances], "features": features, "samples": counts},
                   partial)
        partial.replace(cached)
    return AsrCorpus(utterances, features, counts)


def default_sentences() -> list[str]:
    """The OANC sample's speakable sentences (:func:`speech_sentences`)."""
    from .pos import load_pos

    return speech_sentences(load_pos("oanc").sentences)


def generate_default_corpus(folder: Path) -> None:
    """The registry's ``espeak-asr``: OANC sentences, the default voices, seed 0."""
    generate_asr_corpus(folder, default_sentences(), train=DEFAULT_TRAIN, seed=0)


def generate_full_corpus(folder: Path) -> None:
    """The registry's ``espeak-asr-all``: ``espeak-asr`` (its first 3,450 files and manifest
    lines, byte for byte), then every other training sentence of the OANC sample
    (``train_before``)."""
    generate_asr_corpus(folder, default_sentences(), train=None, train_before=DEFAULT_TRAIN, seed=0)

