"""Speech with exact word timings, from the espeak-ng library that ships inside ``espeakng-loader``.

espeak-ng is driven through ctypes in synchronous mode rather than through its command line because
only the library reports word events with sample positions: the ground-truth timings that the
benchmark's questions are built on come for free and are exact. Formant speech is robotic, but it
needs no model download and takes a few ms per sentence.

Determinism: espeak-ng keeps synthesis state in C statics (pitch flutter, wave phase) that neither
``espeak_Terminate`` nor a new voice resets, so the same sentence comes out a few samples different
depending on what was spoken before. Each call therefore loads the library afresh and unloads it
afterwards (≈7 ms): output depends only on (text, voice, rate), in any process, in any order.
"""

from __future__ import annotations

import ctypes
import string
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SAMPLE_RATE", "Speech", "Word", "engine_version", "synthesize"]

SAMPLE_RATE = 22050
"""espeak-ng's native output rate; checked every time the engine starts."""

DEFAULT_VOICE = "en-us"
DEFAULT_RATE_WPM = 160

# espeak-ng constants (speak_lib.h), spelled out because there is no header to import.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_EVENT_END = 5

_SILENCE = 200
"""Amplitude (int16) under which a sample counts as silence when trimming a word's end."""


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based character position in the input text
        ("length", ctypes.c_int),  # word length in characters
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # sample index within this synthesis
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),  # union of int / char* / char[8]; unused
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Word:
    """A spoken word (or a few words espeak-ng spoke as one, e.g. ``"on the"``) and its span."""

    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True, eq=False)
class Speech:
    """One synthesised utterance: mono int16 samples at :data:`SAMPLE_RATE` and its word timings."""

    text: str
    samples: np.ndarray
    words: tuple[Word, ...]
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class _Collector:
    """Where the C callback puts what it receives during one synthesis."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, int]] = []


_collector: _Collector | None = None


def _on_synth(wav: Any, n: int, events: Any) -> int:
    assert _collector is not None
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        ev = events[i]
        _collector.events.append((ev.type, ev.text_position, ev.length, ev.sample))
        i += 1
    if n > 0 and wav:
        _collector.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.int16, copy=True))
    return 0  # 0 = go on synthesising


# Module-level so it outlives every call: a collected callback would crash the process.
_callback = _Callback(_on_synth)
_lock = threading.Lock()
_version: str | None = None


def _paths() -> tuple[str, bytes]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "speech synthesis needs the 'espeakng-loader' package (pip install 'vsync-bench[synth]')"
        ) from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path().encode()


def _load() -> ctypes.CDLL:
    lib_path, data_path = _paths()
    lib = ctypes.CDLL(lib_path)
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_Callback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT)
    if rate != SAMPLE_RATE:
        _unload(lib)
        raise RuntimeError(f"espeak-ng failed to start (returned {rate}, expected {SAMPLE_RATE} Hz)")
    lib.espeak_SetSynthCallback(_callback)
    return lib


def _unload(lib: ctypes.CDLL) -> None:
    """Unmap the library so that its C statics start from scratch on the next load."""
    import _ctypes

    lib.espeak_Terminate()
    close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
    if close is not None:
        close(lib._handle)


def engine_version() -> str:
    """espeak-ng's version string, recorded in manifests because output bytes depend on it."""
    global _version
    with _lock:
        if _version is None:
            lib = _load()
            try:
                _version = (lib.espeak_Info(None) or b"?").decode()
            finally:
                _unload(lib)
        return _version


def synthesize(text: str, voice: str = DEFAULT_VOICE, rate_wpm: int = DEFAULT_RATE_WPM) -> Speech:
    """Speak ``text``; the same arguments give the same samples and timings, whatever ran before."""
    global _collector
    if not text.strip():
        raise ValueError("cannot synthesise empty text")
    data = text.encode("utf-8")
    with _lock:
        lib = _load()
        _collector = collector = _Collector()
        try:
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            if lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0) != 0:
                raise ValueError(f"espeak-ng refused rate {rate_wpm}")
            err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != 0 or lib.espeak_Synchronize() != 0:
                raise RuntimeError(f"espeak-ng failed to synthesise {text!r} (error {err})")
        finally:
            _collector = None
            _unload(lib)
    samples = np.concatenate(collector.chunks) if collector.chunks else np.zeros(0, np.int16)
    return Speech(text=text, samples=samples, words=_word_timings(text, collector.events, samples))


_STRIP = string.whitespace + string.punctuation


def _word_timings(
    text: str, events: list[tuple[int, int, int, int]], samples: np.ndarray
) -> tuple[Word, ...]:
    """Turn WORD events into spans.

    espeak-ng reports only where a word starts. A word ends where the next word or clause starts,
    less the silence before that boundary (the pause after a comma belongs to no word). Short words
    that espeak-ng speaks together with the previous one get no event of their own, so a word's text
    runs up to the next event's text position: ``"on the"`` stays one span instead of inventing one.
    """
    n = len(samples)
    word_events = sorted(
        (pos, min(max(sample, 0), n)) for typ, pos, _, sample in events if typ == _EVENT_WORD
    )
    bounds = sorted({min(max(s, 0), n) for typ, _, _, s in events if typ in (_EVENT_WORD, _EVENT_END)} | {n})
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE)
    text_ends = [pos - 1 for pos, _ in word_events[1:]] + [len(text)]
    words = []
    for (pos, start), text_end in zip(word_events, text_ends, strict=True):
        stop = next((b for b in bounds if b > start), n)
        inside = loud[(loud >= start) & (loud < stop)]
        end = int(inside[-1]) + 1 if len(inside) else stop
        word = text[pos - 1 : text_end].strip(_STRIP)
        if word:
            words.append(Word(word, start / SAMPLE_RATE, end / SAMPLE_RATE))
    return tuple(words)
