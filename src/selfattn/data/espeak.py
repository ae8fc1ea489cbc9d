"""Speech with its own phoneme timing: eSpeak NG driven through its C library.

The ``espeak-ng`` program prints phonemes (``-x``, ``--ipa``) but not *when* they are
spoken; ``--pho`` gives durations only with an MBROLA voice, and MBROLA is not in Debian's
main archive. The library the program is built on, ``libespeak-ng.so.1`` (Debian package
``espeak-ng`` / ``libespeak-ng1``), reports both: initialised with
``espeakINITIALIZE_PHONEME_EVENTS``, its synthesis callback receives the audio *and* one
``espeakEVENT_PHONEME`` event per phoneme, stamped with the sample at which the phoneme's
sound starts in that very audio (``espeak_EVENT.sample``, at the engine's 22,050 Hz).
So each phoneme lasts from its event to the next one: a phoneme per 10 ms frame from the
synthesiser's own timing, not a forced alignment or a guess. (Checked: the samples equal
``espeak-ng -w`` output for the same voice, rate and text, sample for sample.)

* :class:`Espeak`: ``speak(text, voice, rate, pitch) -> Utterance`` (int16 samples, rate,
  ``(phoneme, start_s)`` events). The library keeps global state: one instance per process.
* :func:`frame_labels`: events -> the phoneme at the centre of each 25 ms / 10 ms frame
  (``selfattn.data.audio.frame_count`` frames; frame ``i`` centred at ``i * 10 ms + 12.5 ms``);
  before the first event and for every pause phoneme (``_``, ``_:``, ``_!``, ...): ``"_"``.
* :func:`spoken_phonemes`: the phoneme string (pauses dropped), the target for phoneme
  recognition.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .audio import SAMPLE_RATE, frame_count

__all__ = ["SILENCE", "Espeak", "Utterance", "frame_labels", "spoken_phonemes"]

SILENCE = "_"
_SYNCHRONOUS, _PHONEME_EVENTS, _DONT_EXIT = 2, 0x0001, 0x8000
_EVENT_END_OF_LIST, _EVENT_PHONEME = 0, 7
_RATE, _PITCH = 1, 3
_POS_CHARACTER, _CHARS_UTF8 = 1, 1


class _Id(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8))


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of ``speak_lib.h``."""

    _fields_ = (("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id))


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


@dataclass(frozen=True)
class Utterance:
    """``samples (S,)`` int16 at ``rate`` Hz; ``events``: ``(phoneme, start_s)`` in time order."""

    samples: np.ndarray
    rate: int
    events: tuple[tuple[str, float], ...]

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def is_silence(phoneme: str) -> bool:
    return phoneme.startswith("_")


class Espeak:
    """The eSpeak NG library with phoneme events (module doc).

    ``voice``: an eSpeak voice with an optional variant, ``"en-us+f3"``; ``rate`` in words a
    minute (80-450); ``pitch`` 0-100 (eSpeak's default 50).
    """

    _instance: Espeak | None = None

    def __new__(cls) -> Espeak:
        if cls._instance is None:  # the C library is one global synthesiser
            cls._instance = super().__new__(cls)
            cls._instance._open()
        return cls._instance

    def _open(self) -> None:
        from .cache import DataUnavailableError

        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            self.lib = ctypes.CDLL(name)
        except OSError as error:
            raise DataUnavailableError(f"libespeak-ng is not installed (Debian package espeak-ng): {error}"
                                       ) from None
        self.rate = int(self.lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS | _DONT_EXIT))
        if self.rate <= 0:
            raise DataUnavailableError(f"espeak_Initialize failed ({self.rate}): espeak-ng-data missing?")
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _CALLBACK(self._receive)  # kept alive: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _receive(self, wav, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_END_OF_LIST:
            if events[i].type == _EVENT_PHONEME:
                self._events.append((events[i].id.string.decode("ascii", "replace"), int(events[i].sample)))
            i += 1
        return 0

    def speak(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50) -> Utterance:
        if not 80 <= rate <= 450:
            raise ValueError(f"rate: expected 80..450 words a minute, got {rate}")
        if not 0 <= pitch <= 100:
            raise ValueError(f"pitch: expected 0..100, got {pitch}")
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"voice: eSpeak NG has no voice {voice!r} (espeak-ng --voices; variants: "
                             "espeak-ng --voices=variant)")
        self.lib.espeak_SetParameter(_RATE, int(rate), 0)
        self.lib.espeak_SetParameter(_PITCH, int(pitch), 0)
        self._chunks, self._events = [], []
        raw = text.encode("utf-8")
        status = self.lib.espeak_Synth(raw, len(raw) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed ({status}) on {text!r}")
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        events = tuple((p, s / self.rate) for p, s in self._events)
        return Utterance(samples.astype(np.int16), self.rate, events)


def frame_labels(events: Sequence[tuple[str, float]], num_samples: int, rate: int = SAMPLE_RATE,
                 window_ms: float = 25.0, shift_ms: float = 10.0) -> list[str]:
    """The phoneme at the centre of each frame of a recording of ``num_samples`` at ``rate``
    (as many as ``frame_count`` gives, so they line up with the fbank frames one to one).

    Phoneme ``k`` covers ``[start_k, start_{k+1})``; pauses and time before the first event
    are ``"_"``. ``events`` must be in time order."""
    starts = np.array([t for _, t in events], dtype=np.float64)
    if len(starts) and bool((np.diff(starts) < 0).any()):
        raise ValueError("events: expected (phoneme, start_s) in time order")
    n = frame_count(num_samples, rate, window_ms, shift_ms)
    centres = np.arange(n) * shift_ms / 1000 + window_ms / 2000
    index = np.searchsorted(starts, centres, side="right") - 1   # last event at or before the centre
    names = [SILENCE if is_silence(p) else p for p, _ in events]
    return [SILENCE if i < 0 else names[i] for i in index]


def spoken_phonemes(events: Sequence[tuple[str, float]]) -> list[str]:
    """The phonemes said, in order, pauses dropped."""
    return [p for p, _ in events if not is_silence(p)]
