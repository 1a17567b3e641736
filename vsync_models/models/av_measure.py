"""What ``av_sync`` perceives: the measurements its level-1 answers (:mod:`~vsync_models.models.av_sync`)
and its level-2/3 answers (:mod:`~vsync_models.models.av_sync_timed`) both reason over.

They live apart from either so that the two answering modules share one perception (one memo, one
reading of the screen layout) without importing each other. Perception goes only through the
request's media view, and the memo is keyed by the sha256 of the *file handed over* (and the
sampling), so a request that was given a different file (the audio-free copy in ``vt``) never
reuses another's measurement.

Frames are decoded, measured and dropped a few at a time, so memory does not grow with a clip's
length; a clip that would decode to more than :attr:`Sight.max_decoded_pixels` (width × height ×
frames) is refused before decoding. Only the frames a model sampling at :attr:`Sight.sampling`
would see are measured (:func:`~vsync_models.data.media.sampled_positions`); the others are
marked unseen in :attr:`Video.seen` and hold the last seen frame's measurement.
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

from vsync_models.data.media import content_hash, frame_times, sampled_positions
from vsync_models.errors import MediaError, ModalityViolation
from vsync_models.synth.layout import FPS, POSITIONS, PROP_BOXES, ROSTER, character_centre
from vsync_models.synth.measure import (
    PROP_MIN_PIXELS,
    eye_changes,
    mouth_darkness,
    prop_changed_pixels,
    rms_per_frame,
)
from vsync_models.types import Request, Sampling

__all__ = [
    "DEFAULT_MAX_DECODED_PIXELS",
    "EVERY_FRAME",
    "SLOTS",
    "UTTERANCE_FRAMES",
    "Audio",
    "Sight",
    "Undecided",
    "Video",
    "correlation",
    "follows",
    "measure_video",
    "norm",
    "option_texts",
    "perceive_audio",
    "perceive_video",
    "prop_in",
    "quoted",
    "sentences",
    "shut_while_silent",
]

SLOTS = 4
UTTERANCE_FRAMES = 45  # every synth sentence lasts exactly 1.8 s at 25 fps
_MIN_GAP_FRAMES = 3  # slots are separated by >= 0.24 s of silence
_CHUNK_PIXELS = 4_000_000
_SILENT = 0.02  # envelope (max 1) below which the voice is silent
_MIN_PAUSE_FRAMES = 15  # a silence this long is a pause, not the gap between two words
_SHUT_RATIO = 2.0  # a shut mouth is at most half as dark as the least open moving one  # decoded pixels measured at once (~12 MB of RGB)

EVERY_FRAME = Sampling()
"""The default sampling: every decoded frame, no cap."""

DEFAULT_MAX_DECODED_PIXELS = 2_000_000_000
"""Width × height × frames a clip may decode to: ~17 minutes of the shipped 320×240 at 25 fps
(an 11-s shipped clip is 21 million)."""


@dataclass(frozen=True)
class Sight:
    """How ``av_sync`` looks at a clip's picture: the frames a model sampling so would get, and the
    most it will decode (``models.av_sync.fps`` / ``max_frames`` / ``max_decoded_pixels``)."""

    sampling: Sampling = EVERY_FRAME
    max_decoded_pixels: int = DEFAULT_MAX_DECODED_PIXELS


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
    seen: np.ndarray | None = None
    """``(n_frames,)`` bool: the frames the sampling kept (``None``: all); an unseen frame's row
    holds the last seen frame's measurement, as a model sees the last frame it was shown."""


@dataclass(frozen=True)
class Audio:
    envelope: np.ndarray
    """Loudness per video frame, normalised to max 1 and raised to 0.7 (how mouths are drawn)."""
    windows: tuple[tuple[int, int], ...]
    """The speech windows ``[start, end)`` in frames, in time order."""


class Undecided(Exception):
    """The perceived streams do not determine an answer; the message says why."""


_memo: dict[tuple[str, str, Sight | None], Any] = {}
_memo_lock = threading.Lock()


def _memoised(kind: str, path: Path, compute: Callable[..., Any], sight: Sight | None = None) -> Any:
    key = (kind, content_hash(path), sight)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    value = compute(path) if sight is None else compute(path, sight)
    with _memo_lock:
        _memo[key] = value
    return value


def perceive_video(request: Request, sight: Sight) -> Video | None:
    """The frames' measurements, or ``None`` where the request withholds the frames."""
    try:
        path = request.media.video_file()
    except ModalityViolation:
        return None
    return _memoised("video", path, measure_video, sight)


def perceive_audio(request: Request) -> Audio | None:
    """The sound's measurements, or ``None`` where the request withholds the audio."""
    try:
        path = request.media.audio_file()
    except ModalityViolation:
        return None
    return _memoised("audio", path, _measure_audio)


def measure_video(path: Path, sight: Sight) -> Video:
    """What the frames of ``path`` show, as a model sampling at ``sight`` would see them (unmemoised)."""
    try:
        keep = _frames_to_measure(path, sight)
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            measured = _Measured()
            for i, frame in enumerate(container.decode(stream)):
                measured.add(i, frame.to_ndarray(format="rgb24") if i in keep else None)
            return measured.video(path)
    except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
        raise MediaError(f"av_sync cannot decode video {path.name}: {exc}") from exc


def _frames_to_measure(path: Path, sight: Sight) -> set[int]:
    """The positions the sampling keeps; refuses a clip over the decoded-size limit before decoding."""
    times = frame_times(path)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width, height = int(stream.codec_context.width), int(stream.codec_context.height)
    pixels = width * height * len(times)
    if pixels > sight.max_decoded_pixels:
        raise MediaError(
            f"av_sync will not decode video {path.name}: {width}x{height} x {len(times)} frames = "
            f"{pixels:,} pixels, over models.av_sync.max_decoded_pixels ({sight.max_decoded_pixels:,})"
        )
    return set(sampled_positions(times, sight.sampling))


class _Measured:
    """What the frames show, filled frame by frame; kept frames are measured a chunk at a time and
    dropped, so only the per-frame numbers grow with the clip."""

    def __init__(self) -> None:
        self.n = 0
        self.first: np.ndarray | None = None
        self.names: tuple[str, ...] = ()
        self.pending: list[tuple[int, np.ndarray]] = []
        self.rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        """Per measured chunk: positions, mouths, eyes, prop-changed pixels (one column per prop)."""

    def add(self, position: int, rgb: np.ndarray | None) -> None:
        self.n = position + 1
        if rgb is None:
            return
        if self.first is None:
            self.first, self.names = rgb, _names(rgb)
        self.pending.append((position, rgb))
        if sum(f.size for _, f in self.pending) >= 3 * _CHUNK_PIXELS:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        assert self.first is not None
        positions = np.array([p for p, _ in self.pending])
        frames = np.stack([f for _, f in self.pending])
        self.pending = []
        props = prop_changed_pixels(frames, self.first)
        counts = np.stack([props[kind] for kind in PROP_BOXES], axis=1)
        self.rows.append((positions, mouth_darkness(frames), eye_changes(frames, self.first), counts))

    def video(self, path: Path) -> Video:
        self._flush()
        if self.first is None:
            raise MediaError(f"av_sync cannot decode video {path.name}: it has no frames to see")
        positions = np.concatenate([r[0] for r in self.rows])
        seen = np.zeros(self.n, dtype=bool)
        seen[positions] = True
        # each frame shows the last seen frame's row (positions are ascending, and frame 0 is seen)
        held = np.maximum.accumulate(np.where(seen, np.arange(self.n), 0))
        row_of = np.cumsum(seen) - 1
        mouths = np.concatenate([r[1] for r in self.rows])[row_of[held]]
        eyes = np.concatenate([r[2] for r in self.rows])[row_of[held]]
        counts = np.concatenate([r[3] for r in self.rows])
        events: dict[str, int | None] = {}
        for j, kind in enumerate(PROP_BOXES):
            changed = np.flatnonzero(counts[:, j] >= PROP_MIN_PIXELS)
            events[kind] = int(positions[changed[0]]) if len(changed) else None
        return Video(mouths, self.names, events, eyes, None if seen.all() else seen)


def _names(frame: np.ndarray) -> tuple[str, ...]:
    """The character standing at each position: its body colour's nearest in the roster."""
    names = []
    for p in range(POSITIONS):
        x, y = character_centre(p)
        patch = frame[y - 20 : y - 14, x - 3 : x + 4].reshape(-1, 3).astype(float)
        colour = np.median(patch, axis=0)
        nearest = min(ROSTER, key=lambda c: float(np.sum((colour - np.array(c.rgb)) ** 2)))
        names.append(nearest.name)
    return tuple(names)


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


def follows(video: Video, audio: Audio, position: int, window: tuple[int, int]) -> float:
    """How well ``position``'s mouth follows the loudness in ``window``: Pearson's r over the frames
    the sampling kept (an unseen frame's held value is not a measurement)."""
    s, e = window[0], min(window[1], len(video.mouths), len(audio.envelope))
    mouth, loudness = video.mouths[s:e, position], audio.envelope[s:e]
    if video.seen is not None:
        kept = video.seen[s:e]
        mouth, loudness = mouth[kept], loudness[kept]
    return correlation(mouth, loudness)


def shut_while_silent(video: Video, audio: Audio) -> list[tuple[int, int]]:
    """``(frame, position)`` for every seen frame where the voice is in a pause (a silence of at
    least 0.6 s) while exactly one mouth is shut and the other three are open (level 4's binding)."""
    silent = audio.envelope < _SILENT
    in_pause = np.zeros(len(silent), dtype=bool)
    start = None
    for i, quiet in enumerate([*silent.tolist(), False]):
        if quiet and start is None:
            start = i
        elif not quiet and start is not None:
            if i - start >= _MIN_PAUSE_FRAMES:
                in_pause[start:i] = True
            start = None
    seen = np.arange(len(video.mouths)) if video.seen is None else np.flatnonzero(video.seen)
    out = []
    for frame in seen[seen < len(in_pause)]:
        if not in_pause[frame]:
            continue
        darkness = video.mouths[frame]
        order = np.argsort(darkness)
        if darkness[order[1]] >= _SHUT_RATIO * darkness[order[0]]:
            out.append((int(frame), int(order[0])))
    return out


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
