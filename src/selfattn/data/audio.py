"""Speech as a set of vectors: waveform in, one vector per 10 ms frame out.

A recording of ``S`` samples at 16 kHz is cut into overlapping frames of 25 ms
(``400`` samples) every 10 ms (``160`` samples): with Kaldi's ``snip_edges`` convention
(only whole frames) that is ``1 + (S - 400) // 160`` frames, so 1 s of audio gives 98
frames, 100 a second in the long run. Each frame becomes a feature vector (log-mel
filter bank or MFCC, :mod:`selfattn.data.fbank`), so the recording is the set
``(frames, features)``.

``read_wav`` reads with ``soundfile`` (float32 in ``[-1, 1]``, channels averaged to mono)
after checking the RIFF header itself: libsndfile silently returns the samples of a
truncated file, and nothing here is silently truncated. ``resample`` converts to
16 kHz with a polyphase filter (``scipy.signal.resample_poly``).
"""

from __future__ import annotations

import struct
from math import gcd
from pathlib import Path

import numpy as np
import torch

__all__ = ["SAMPLE_RATE", "check_wav_file", "frame_count", "frames", "read_wav", "resample"]

SAMPLE_RATE = 16000


def check_wav_file(path: str | Path) -> None:
    """Walk the RIFF chunks of a WAV file; raise ``ValueError`` naming the file if the
    header is not RIFF/WAVE or a chunk (the ``data`` chunk above all) is cut short."""
    path = Path(path)
    raw = path.read_bytes()
    if len(raw) < 12 or raw[:4] not in (b"RIFF", b"RIFX") or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: bytes 0-11 are {raw[:12]!r}, expected 'RIFF....WAVE' "
                         "(a WAV header)")
    endian = "<" if raw[:4] == b"RIFF" else ">"
    position, sizes = 12, {}
    while position + 8 <= len(raw):
        name = raw[position:position + 4]
        (size,) = struct.unpack(endian + "I", raw[position + 4:position + 8])
        start = position + 8
        streamed = name == b"data" and size in (0, 0xFFFFFFFF)  # size unknown when written
        if not streamed and start + size > len(raw):
            raise ValueError(f"{path}: truncated: chunk {name.decode('latin-1')!r} at byte "
                             f"{position} announces {size} bytes, only {len(raw) - start} follow")
        sizes[name] = size
        if name == b"data":
            break
        position = start + size + (size & 1)
    if b"fmt " not in sizes or b"data" not in sizes:
        raise ValueError(f"{path}: expected 'fmt ' and 'data' chunks, found "
                         f"{[n.decode('latin-1') for n in sizes]} (truncated or not a WAV file)")


def read_wav(path: str | Path) -> tuple[torch.Tensor, int]:
    """``(samples, sample_rate)``: ``(S,)`` float32 mono in ``[-1, 1]`` and its rate in Hz."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: expected a WAV file, got {path} (missing)")
    check_wav_file(path)
    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as error:
        raise ValueError(f"{path}: cannot be decoded as audio ({error})") from error
    return torch.from_numpy(data.mean(axis=1).astype(np.float32)), int(rate)


def resample(samples: torch.Tensor, rate: int, target: int = SAMPLE_RATE) -> torch.Tensor:
    """``(S,)`` at ``rate`` Hz -> ``(round(S * target / rate),)`` at ``target`` Hz (polyphase
    low-pass filter, so no aliasing)."""
    if samples.dim() != 1:
        raise ValueError(f"samples: expected a 1-D waveform (S,), got shape {tuple(samples.shape)}")
    if rate <= 0 or target <= 0:
        raise ValueError(f"rate, target: expected positive sample rates, got {rate}, {target}")
    if rate == target:
        return samples
    from scipy.signal import resample_poly

    step = gcd(rate, target)
    out = resample_poly(samples.double().numpy(), target // step, rate // step)
    return torch.from_numpy(out.astype(np.float32))


def frame_count(num_samples: int, rate: int = SAMPLE_RATE, window_ms: float = 25.0,
                shift_ms: float = 10.0) -> int:
    """Whole frames in ``num_samples`` (Kaldi ``snip_edges``): ``1 + (S - window) // shift``."""
    window, shift = int(rate * window_ms / 1000), int(rate * shift_ms / 1000)
    return 0 if num_samples < window else 1 + (num_samples - window) // shift


def frames(samples: torch.Tensor, rate: int = SAMPLE_RATE, window_ms: float = 25.0,
           shift_ms: float = 10.0) -> torch.Tensor:
    """``(S,)`` -> ``(frame_count, window)`` overlapping frames (a strided view, no copy)."""
    if samples.dim() != 1:
        raise ValueError(f"samples: expected a 1-D waveform (S,), got shape {tuple(samples.shape)}")
    window, shift = int(rate * window_ms / 1000), int(rate * shift_ms / 1000)
    if samples.shape[0] < window:
        return samples.new_zeros((0, window))
    return samples.unfold(0, window, shift)
