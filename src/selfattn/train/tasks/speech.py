"""Speech tasks: who is speaking (one label per utterance) and who speaks when (per frame).

An utterance is a set of frame vectors, 100 a second (25 ms windows, 10 ms apart, 80
log-mel energies each: ``selfattn.data.wav_features``). ``frame_stack = k`` joins ``k``
consecutive frames into one vector (``(n / k, 80 k)``): a shorter set, so attention over
it costs ``k^2`` times less. Features are standardised with training statistics.

* ``speaker``: utterances spoken by ``espeak-ng`` voices (``generate_speaker_set``), the
  voice is the label of the set;
* ``diarization``: pyannote's 30 s two-speaker sample cut into chunks, a 0/1 label per
  frame and speaker (several may speak at once): windowed attention over frames, the
  lecture's truncated self-attention for speech.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch

from ...data import SetDataset, VectorSet, load_pyannote_sample, load_speaker_set, wav_features
from ..errors import ConfigError
from .base import Task, TaskData, feature_stats, limit

__all__ = ["DiarizationTask", "SpeakerTask", "feature_stats", "stack_frames"]


def stack_frames(x: torch.Tensor, k: int) -> torch.Tensor:
    """``(n, d)`` -> ``(ceil(n / k), k d)``; the last group is padded by repeating its last frame."""
    if k == 1:
        return x
    n = x.shape[0]
    extra = (-n) % k
    if extra:
        x = torch.cat([x, x[-1:].expand(extra, -1)])
    return x.reshape(-1, k * x.shape[1])


def stack_labels(y: torch.Tensor, k: int) -> torch.Tensor:
    """Per-frame labels ``(n, c)`` -> one per group of ``k`` frames (the middle frame's)."""
    if k == 1:
        return y
    idx = torch.arange(k // 2, y.shape[0] + k - 1, k).clamp_max(y.shape[0] - 1)
    return y[idx]


# espeak-ng renders every en-gb variant with the same voice (byte-identical audio for en-gb+f4
# and en-gb+m2, the data registry's default set); these eight en-us variants all differ.
DISTINCT_VOICES = ("en-us+m1", "en-us+m2", "en-us+m3", "en-us+m7", "en-us+f1", "en-us+f2", "en-us+f3",
                   "en-us+f5")


def _generated(voices: list[str], per_voice: int) -> Path:
    """The speaker set for these voices, generated once into the cache (seed 0)."""
    import hashlib

    from ...data import cache_dir
    from ...data.speech import generate_speaker_set

    key = hashlib.sha1(f"{sorted(voices)}|{per_voice}".encode()).hexdigest()[:10]
    folder = cache_dir(f"espeak-speakers-{key}")
    if not (folder / ".complete").exists():
        generate_speaker_set(folder, voices, per_voice, seed=0)
        (folder / ".complete").touch()
    return folder


class SpeakerTask(Task):
    data_format = (
        "A folder of WAV files (mono, any rate) with a ``manifest.tsv``: a header, then "
        "``file<TAB>voice<TAB>speed<TAB>pitch<TAB>text`` per utterance; ``voice`` is the label.")
    name = "speaker"
    kind = "set"
    modality = "speech frames"
    data_defaults: ClassVar[dict[str, Any]] = {
        "path": None, "voices": list(DISTINCT_VOICES), "utterances_per_voice": 40, "features": "fbank",
        "frame_stack": 3, "fractions": [0.7, 0.15, 0.15], "split_seed": 0, "limit": None}

    def check_data(self, d: dict) -> None:
        if len(set(d["voices"])) < 2:
            raise ConfigError(f"data.voices: expected at least two different voices, got {d['voices']!r}")
        if d["features"] not in ("fbank", "mfcc"):
            raise ConfigError(f"data.features: expected 'fbank' or 'mfcc', got {d['features']!r}")
        if not isinstance(d["frame_stack"], int) or d["frame_stack"] < 1:
            raise ConfigError(f"data.frame_stack: expected a positive integer, got {d['frame_stack']!r}")

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        folder = d["path"] or _generated(d["voices"], d["utterances_per_voice"])
        full = load_speaker_set(folder, d["features"])
        k = d["frame_stack"]
        stacked = SetDataset([VectorSet(x=stack_frames(e.x, k), y=e.y, source=e.source)
                              for e in full.examples], full.info)
        parts = [limit(p, d["limit"]) for p in stacked.split(d["fractions"], d["split_seed"])]
        mean, std = feature_stats(parts[0])
        spec = {"task": "set", "target": "class", "outputs": len(full.info["classes"]),
                "input": {"kind": "features", "dim": stacked.examples[0].x.shape[1]},
                "feature_mean": mean, "feature_std": std, "max_len": int(stacked.lengths().max())}
        return TaskData(*parts, spec=spec, state={"classes": full.info["classes"]},
                        info={"sizes": [len(p) for p in parts]})

    def read_input(self, path: Path, state: dict, cfg: dict):
        """A WAV file, or a text file listing WAV files (one per line)."""
        files = [path] if path.suffix.lower() == ".wav" else [
            Path(line.strip()) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        k = cfg["data"]["frame_stack"]
        sets = [VectorSet(x=stack_frames(wav_features(f, cfg["data"]["features"]), k), source=str(f))
                for f in files]
        return sets, [str(f) for f in files]

    def format_prediction(self, display, prediction, state) -> str:
        return f"{display}\t{state['classes'][int(prediction)]}"


class DiarizationTask(Task):
    data_format = (
        "A folder with ``sample.wav`` (mono) and ``sample.rttm`` (``SPEAKER <file> 1 <start> <duration> "
        "<NA> <NA> <speaker> <NA> <NA>`` per turn), cut into ``data.chunk_seconds`` chunks.")
    name = "diarization"
    unit = "frame"
    kind = "vector"
    target = "multilabel"
    modality = "speech frames"
    layout_labels = "vector"
    data_defaults: ClassVar[dict[str, Any]] = {"path": None, "features": "fbank", "frame_stack": 2,
                                               "chunk_seconds": 2.0, "split": "time", "limit": None}
    model_defaults: ClassVar[dict[str, Any]] = {"pattern": "window", "window": 16}

    def check_data(self, d: dict) -> None:
        if d["split"] not in ("time", "random"):
            raise ConfigError(f"data.split: expected 'time' (train on the start, test on the end) or "
                              f"'random', got {d['split']!r}")

    def build(self, cfg: dict) -> TaskData:
        d = cfg["data"]
        full = load_pyannote_sample(d["path"], d["chunk_seconds"], d["features"])
        k = d["frame_stack"]
        sets = [VectorSet(x=stack_frames(e.x, k), y=stack_labels(e.y, k), source=e.source)
                for e in full.examples]
        n = len(sets)
        if d["split"] == "time":  # consecutive chunks: the test part is later speech, never seen
            a, b = int(n * 0.7), int(n * 0.85)
            order = list(range(n))
        else:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(0)).tolist()
            a, b = int(n * 0.7), int(n * 0.85)
        parts = [limit(SetDataset([sets[i] for i in order[lo:hi]]), d["limit"])
                 for lo, hi in ((0, a), (a, b), (b, n))]
        mean, std = feature_stats(parts[0])
        spec = {"task": "vector", "target": "multilabel", "outputs": len(full.info["classes"]),
                "input": {"kind": "features", "dim": sets[0].x.shape[1]}, "feature_mean": mean,
                "feature_std": std, "max_len": max(len(s) for s in sets), "frame_seconds": 0.01 * k}
        return TaskData(*parts, spec=spec, state={"classes": full.info["classes"], "frame_seconds": 0.01 * k},
                        info={"chunks": [len(p) for p in parts]})

    def read_input(self, path: Path, state: dict, cfg: dict):
        """A WAV file: labelled in chunks of ``chunk_seconds``."""
        k = cfg["data"]["frame_stack"]
        x = stack_frames(wav_features(path, cfg["data"]["features"]), k)
        step = max(1, round(cfg["data"]["chunk_seconds"] * 100 / k))
        sets = [VectorSet(x=x[i:i + step], source=f"{path} frames {i}") for i in range(0, len(x), step)]
        return sets, [i * state["frame_seconds"] for i in range(0, len(x), step)]

    def format_prediction(self, display, prediction, state) -> str:
        """``start_s  speakers-per-frame`` (one character per frame and speaker: 0/1)."""
        rows = ["".join(str(int(v)) for v in frame) for frame in prediction.tolist()]
        return f"{display:.2f}s\t" + " ".join(rows)
