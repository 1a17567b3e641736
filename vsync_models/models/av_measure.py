"""What ``av_sync`` perceives: the measurements its level-1 answers (:mod:`~vsync_models.models.av_sync`)
and its level-2/3 answers (:mod:`~vsync_models.models.av_sync_timed`) both reason over.

They live apart from either so that the two answering modules share one perception (one memo, one
reading of the screen layout) without importing each other. Perception goes only through the
request's media view, and the memo is keyed by the sha256 of the *file handed over*, so a request
that was given a different file (the audio-free copy in ``vt``) never reuses another's measurement.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from vsync_models.data.media import content_hash
from vsync_models.errors import MediaError, ModalityViolation
from vsync_models.synth.layout import FPS, POSITIONS, PROP_BOXES, ROSTER, character_centre
from vsync_models.synth.measure import eye_changes, mouth_darkness, prop_change_frames, rms_per_frame
from vsync_models.types import Request

__all__ = [
    "SLOTS",
    "UTTERANCE_FRAMES",
    "Audio",
    "Undecided",
    "Video",
    "correlation",
    "norm",
    "option_texts",
    "perceive_audio",
    "perceive_video",
    "prop_in",
    "quoted",
    "sentences",
]

SLOTS = 4
UTTERANCE_FRAMES = 45  # every synth sentence lasts exactly 1.8 s at 25 fps
_MIN_GAP_FRAMES = 3  # slots are separated by >= 0.24 s of silence


@dataclass(frozen=True)
class Video:
    mouths: np.ndarray
    """``(n_frames, 4)`` mouth darkness per screen position."""
    names: tuple[str, ...]
    """The character standing at each position, e.g. ``"the red circle"``."""
    events: dict[str, int | None]
    """First changed frame per prop."""
    eyes: np.ndarray | None = None
    """``(n_frames, 4)`` pixels of each position's eyes that differ from frame 0 (level 3's look)."""


@dataclass(frozen=True)
class Audio:
    envelope: np.ndarray
    """Loudness per video frame, normalised to max 1 and raised to 0.7 (how mouths are drawn)."""
    windows: tuple[tuple[int, int], ...]
    """The speech windows ``[start, end)`` in frames, in time order."""


class Undecided(Exception):
    """The perceived streams do not determine an answer; the message says why."""


_memo: dict[tuple[str, str], Any] = {}
_memo_lock = threading.Lock()


def _memoised(kind: str, path: Path, compute: Callable[[Path], Any]) -> Any:
    key = (kind, content_hash(path))
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    value = compute(path)
    with _memo_lock:
        _memo[key] = value
    return value


def perceive_video(request: Request) -> Video | None:
    """The frames' measurements, or ``None`` where the request withholds the frames."""
    try:
        path = request.media.video_file()
    except ModalityViolation:
        return None
    return _memoised("video", path, _measure_video)


def perceive_audio(request: Request) -> Audio | None:
    """The sound's measurements, or ``None`` where the request withholds the audio."""
    try:
        path = request.media.audio_file()
    except ModalityViolation:
        return None
    return _memoised("audio", path, _measure_audio)


def _measure_video(path: Path) -> Video:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(f"av_sync cannot decode video {path.name}: {exc}") from exc
    names = []
    for p in range(POSITIONS):
        x, y = character_centre(p)
        patch = frames[0, y - 20 : y - 14, x - 3 : x + 4].reshape(-1, 3).astype(float)
        colour = np.median(patch, axis=0)
        nearest = min(ROSTER, key=lambda c: float(np.sum((colour - np.array(c.rgb)) ** 2)))
        names.append(nearest.name)
    return Video(mouth_darkness(frames), tuple(names), prop_change_frames(frames), eye_changes(frames))


def _measure_audio(path: Path) -> Audio:
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate = int(stream.codec_context.sample_rate)
            chunks = [f.to_ndarray().mean(axis=0) for f in container.decode(stream)]
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(f"av_sync cannot decode audio {path.name}: {exc}") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0)
    n_frames = int(np.ceil(len(samples) * FPS / rate)) if rate else 0
    rms = rms_per_frame(samples, rate, n_frames)
    peak = float(rms.max()) if len(rms) else 0.0
    envelope = (rms / peak) ** 0.7 if peak > 0 else rms
    return Audio(envelope, _speech_windows(envelope))


def _speech_windows(envelope: np.ndarray, k: int = SLOTS, length: int = UTTERANCE_FRAMES) -> tuple:
    """The ``k`` non-overlapping windows of ``length`` frames holding the most loudness (exact DP)."""
    n = len(envelope) - length + 1
    if n < 1:
        return ()
    score = np.convolve(envelope, np.ones(length), "valid")
    step = length + _MIN_GAP_FRAMES
    # best[j, t]: the most loudness j windows can hold when all start at or after frame t.
    best = np.full((k + 1, n + step + 1), -np.inf)
    best[0, :] = 0.0
    for j in range(1, k + 1):
        for t in range(n - 1, -1, -1):
            best[j, t] = max(best[j, t + 1], score[t] + best[j - 1, t + step])
    if not np.isfinite(best[k, 0]):
        return ()
    starts, t, j = [], 0, k
    while j > 0:
        if score[t] + best[j - 1, t + step] >= best[j, t + 1]:
            starts.append(t)
            t, j = t + step, j - 1
        else:
            t += 1
    return tuple((s, s + length) for s in starts)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r, 0 for a flat signal (a closed mouth, or silence, follows nothing)."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def norm(text: str) -> str:
    """Lower case, punctuation dropped, so a transcript, a question and an option compare equal."""
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def option_texts(options: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(opt[0], opt[2:].strip()) for opt in options]


_PROP_WORDS = {kind: kind for kind in PROP_BOXES} | {"light": "lamp", "bulb": "lamp"}


def sentences(transcript: str) -> list[str]:
    """The transcript's sentences in order, normalised (:func:`norm`)."""
    return [norm(s) for s in re.split(r"(?<=[.!?])\s+", transcript.strip()) if norm(s)]


def quoted(question: str) -> str | None:
    """The first quoted text of a question, normalised."""
    m = re.search(r"[\"“]([^\"”]+)[\"”]", question)
    return norm(m.group(1)) if m else None


def prop_in(text: str) -> str | None:
    """The one prop ``text`` names (``None`` for none or several)."""
    words = norm(text).split()
    found = {_PROP_WORDS[w] for w in words if w in _PROP_WORDS}
    return found.pop() if len(found) == 1 else None
