"""``av_sync``: an embedded model that answers V-SYNC-Synth level-1 items from the decoded media.

numpy and PyAV only: no weights, no GPU, no network. It perceives exactly what the harness hands
it, nothing else: ``request.media.video_file()`` (the clip with audio in ``avt``, an audio-free
copy in ``vt``, refused in ``at``), ``request.media.audio_file()`` (refused in ``vt``),
``request.asr_text`` (``None`` in ``vt``), the question and the options. It never reads a
dataset's ``truth`` fields, the manifest or the clip's own path, and it memoises what it measured
by the sha256 of the *file it was given*, so an ``at`` request can never reuse frames measured for
an ``avt`` request of the same clip (the audio-free copy of ``vt`` has its own hash too).

What it measures (the fixed screen layout of :mod:`vsync_models.synth.layout`):

- **Speech windows** from the audio loudness envelope (:func:`~vsync_models.synth.measure.rms_per_frame`):
  the four non-overlapping 1.8-s windows holding the most loudness, in time order. The transcript's
  sentences are in heard order, so sentence *i* of ``asr_text`` was said in window *i*.
- **Mouth motion** per screen position (:func:`~vsync_models.synth.measure.mouth_darkness`) and the
  character standing there (its body colour, nearest of the roster's four).
- **Prop events** from frame differences in the prop strip
  (:func:`~vsync_models.synth.measure.prop_change_frames`).

How it answers:

- ``who_said``: the quoted sentence's window → the position whose mouth correlates best with the
  loudness envelope there → the option naming that character.
- ``said_when_event``: the named prop's event frame → the window containing it (or the nearest) →
  that window's transcript sentence → the option quoting it.
- ``event_when_said``: the quoted sentence's window → the prop that changed in it → the option
  naming that prop.
- ``in_sync``: mean over the four windows of each mouth's correlation with the envelope → best.

Missing streams (``vt`` has no audio or transcript, ``at`` no frames) leave every level-1 question
undecidable by construction. The model then says so and, by default (``fallback: guess``), makes a
seeded uniform guess among the options, stated as a guess, so its ``vt``/``at`` accuracy sits at
chance. With ``models.av_sync.fallback: abstain`` it answers ``"I cannot tell: ..."`` instead,
which the answer extractor scores as ``unparseable``. The same fallback covers a question it cannot
parse or a measurement that does not fit the layout (e.g. not four speech windows).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from vsync_models.errors import ConfigError, MediaError, ModalityViolation
from vsync_models.media import content_hash
from vsync_models.models.base import ModelOutput
from vsync_models.synth.layout import FPS, POSITIONS, PROP_BOXES, ROSTER, character_centre
from vsync_models.synth.measure import eye_changes, mouth_darkness, prop_change_frames, rms_per_frame
from vsync_models.types import Request

__all__ = ["AVSyncModel"]

VERSION = 2
_SLOTS = 4
_UTTERANCE_FRAMES = 45  # every synth sentence lasts exactly 1.8 s at 25 fps
_MIN_GAP_FRAMES = 3  # slots are separated by >= 0.24 s of silence
_FALLBACKS = ("guess", "abstain")
_PROP_WORDS = {kind: kind for kind in PROP_BOXES} | {"light": "lamp", "bulb": "lamp"}


@dataclass(frozen=True)
class _Video:
    mouths: np.ndarray
    """``(n_frames, 4)`` mouth darkness per screen position."""
    names: tuple[str, ...]
    """The character standing at each position, e.g. ``"the red circle"``."""
    events: dict[str, int | None]
    """First changed frame per prop."""
    eyes: np.ndarray | None = None
    """``(n_frames, 4)`` pixels of each position's eyes that differ from frame 0 (level 3's look)."""


@dataclass(frozen=True)
class _Audio:
    envelope: np.ndarray
    """Loudness per video frame, normalised to max 1 and raised to 0.7 (how mouths are drawn)."""
    windows: tuple[tuple[int, int], ...]
    """The speech windows ``[start, end)`` in frames, in time order."""


_memo: dict[tuple[str, str], Any] = {}
_memo_lock = threading.Lock()


def _memoised(kind: str, path: Path, compute: Any) -> Any:
    key = (kind, content_hash(path))
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    value = compute(path)
    with _memo_lock:
        _memo[key] = value
    return value


def _measure_video(path: Path) -> _Video:
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
    return _Video(mouth_darkness(frames), tuple(names), prop_change_frames(frames), eye_changes(frames))


def _measure_audio(path: Path) -> _Audio:
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
    return _Audio(envelope, _speech_windows(envelope))


def _speech_windows(envelope: np.ndarray, k: int = _SLOTS, length: int = _UTTERANCE_FRAMES) -> tuple:
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


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _sentences(transcript: str) -> list[str]:
    return [_norm(s) for s in re.split(r"(?<=[.!?])\s+", transcript.strip()) if _norm(s)]


def _quoted(question: str) -> str | None:
    m = re.search(r"[\"“]([^\"”]+)[\"”]", question)
    return _norm(m.group(1)) if m else None


def _prop_in(text: str) -> str | None:
    words = _norm(text).split()
    found = {_PROP_WORDS[w] for w in words if w in _PROP_WORDS}
    return found.pop() if len(found) == 1 else None


def _option_texts(options: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(opt[0], opt[2:].strip()) for opt in options]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


class _Undecided(Exception):
    """The perceived streams do not determine an answer; the message says why."""


class AVSyncModel:
    """Answers from loudness-vs-mouth synchrony, speech windows and prop events; see the module doc."""

    def __init__(self, name: str = "av_sync", fallback: str = "guess", seed: int = 0) -> None:
        if fallback not in _FALLBACKS:
            raise ConfigError(f"models.av_sync.fallback must be one of {_FALLBACKS}, got {fallback!r}")
        self.name = name
        self.fallback = fallback
        self.seed = seed

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "av_sync", "version": VERSION, "fallback": self.fallback, "seed": self.seed}

    def check(self) -> None:
        return None

    def generate(self, request: Request) -> ModelOutput:
        from vsync_models.models.av_sync_timed import decide_timed, guess_timed

        try:
            timed = decide_timed(self, request)
            if timed is not None:  # levels 2/3: the reason first, so the answer is the last thing said
                return ModelOutput(text=f"({timed[1]})\nAnswer: {timed[0]}")
            letter, why = self._decide(request)
        except _Undecided as exc:
            if not request.options and self.fallback == "guess":
                return ModelOutput(text=guess_timed(self, request, str(exc)))
            return ModelOutput(text=self._fall_back(request, str(exc)))
        return ModelOutput(text=f"Answer: {letter}\n({why})")

    # -- perception, only through the MediaView -------------------------------------------------

    @staticmethod
    def _video(request: Request) -> _Video | None:
        try:
            path = request.media.video_file()
        except ModalityViolation:
            return None
        return _memoised("video", path, _measure_video)

    @staticmethod
    def _audio(request: Request) -> _Audio | None:
        try:
            path = request.media.audio_file()
        except ModalityViolation:
            return None
        return _memoised("audio", path, _measure_audio)

    # -- reasoning ---------------------------------------------------------------------------------

    def _decide(self, request: Request) -> tuple[str, str]:
        q = request.question.lower()
        options = _option_texts(request.options)
        if "lips match" in q or "in sync" in q:
            return self._in_sync(request, options)
        if q.startswith("which character said"):
            return self._who_said(request, options)
        if "being said when" in q:
            return self._said_when_event(request, options)
        if "happened on screen" in q:
            return self._event_when_said(request, options)
        raise _Undecided("the question is not one of the four level-1 kinds this model knows")

    def _need(self, request: Request, video: bool, audio: bool) -> tuple[_Video | None, _Audio | None]:
        # Audio first: in vt it is refused at once, before any frame is decoded for nothing.
        a = self._audio(request) if audio else None
        if audio and a is None:
            raise _Undecided("this request withholds the audio the question needs")
        v = self._video(request) if video else None
        if video and v is None:
            raise _Undecided("this request withholds the frames the question needs")
        if a is not None and len(a.windows) != _SLOTS:
            raise _Undecided(f"found {len(a.windows)} speech windows, not {_SLOTS}")
        return v, a

    def _window_of(self, request: Request, audio: _Audio) -> tuple[int, int]:
        said = _quoted(request.question)
        if not request.asr_text:
            raise _Undecided("there is no transcript to place the quoted sentence in time")
        sentences = _sentences(request.asr_text)
        if said is None or said not in sentences or len(sentences) != len(audio.windows):
            raise _Undecided("the quoted sentence cannot be placed in the transcript's order")
        return audio.windows[sentences.index(said)]

    @staticmethod
    def _speaker_in(video: _Video, audio: _Audio, window: tuple[int, int]) -> tuple[int, float]:
        s, e = window
        e = min(e, len(video.mouths), len(audio.envelope))
        scores = [_correlation(video.mouths[s:e, p], audio.envelope[s:e]) for p in range(POSITIONS)]
        best = int(np.argmax(scores))
        return best, scores[best]

    @staticmethod
    def _option_naming(options: list[tuple[str, str]], name: str) -> str:
        hits = [letter for letter, text in options if _norm(text) == _norm(name)]
        if len(hits) != 1:
            raise _Undecided(f"no single option names {name}")
        return hits[0]

    def _who_said(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        window = self._window_of(request, audio)
        pos, r = self._speaker_in(video, audio, window)
        name = video.names[pos]
        why = f"{name}'s mouth follows the voice at {window[0] / FPS:.2f}-{window[1] / FPS:.2f} s, r={r:.2f}"
        return self._option_naming(options, name), why

    def _in_sync(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        totals = np.zeros(POSITIONS)
        for s, e in audio.windows:
            e = min(e, len(video.mouths), len(audio.envelope))
            totals += [_correlation(video.mouths[s:e, p], audio.envelope[s:e]) for p in range(POSITIONS)]
        pos = int(np.argmax(totals))
        name = video.names[pos]
        why = f"{name}'s mouth follows the voice, mean r={totals[pos] / len(audio.windows):.2f}"
        return self._option_naming(options, name), why

    def _said_when_event(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        prop = _prop_in(request.question)
        frame = video.events.get(prop) if prop else None
        if frame is None:
            raise _Undecided("the named event was not seen")
        if not request.asr_text:
            raise _Undecided("there is no transcript")
        sentences = _sentences(request.asr_text)
        if len(sentences) != len(audio.windows):
            raise _Undecided("the transcript's sentences do not match the speech windows")

        def distance(w: tuple[int, int]) -> int:
            return 0 if w[0] <= frame < w[1] else min(abs(frame - w[0]), abs(frame - w[1] + 1))

        i = min(range(len(audio.windows)), key=lambda k: distance(audio.windows[k]))
        said = sentences[i]
        hits = [letter for letter, text in options if _norm(text) == said]
        if len(hits) != 1:
            raise _Undecided("no single option quotes the sentence heard then")
        return hits[0], f"the {prop} changed at {frame / FPS:.2f} s, during sentence {i + 1}"

    def _event_when_said(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        s, e = self._window_of(request, audio)
        inside = [p for p, f in video.events.items() if f is not None and s <= f < e]
        if len(inside) != 1:
            centre = (s + e) / 2
            seen = [(abs(f - centre), p) for p, f in video.events.items() if f is not None]
            if not seen:
                raise _Undecided("no prop changed on screen")
            inside = [min(seen)[1]]
        prop = inside[0]
        hits = [letter for letter, text in options if _prop_in(text) == prop]
        if len(hits) != 1:
            raise _Undecided(f"no single option names the {prop}")
        when = f"the {prop} changed at {video.events[prop] / FPS:.2f} s"
        return hits[0], f"{when}, within {s / FPS:.2f}-{e / FPS:.2f} s"

    def _fall_back(self, request: Request, reason: str) -> str:
        if self.fallback == "abstain":
            return f"I cannot tell: {reason}."
        key = f"{self.seed}|{request.item_id}|{request.modality.value}|{request.question}"
        letter = random.Random(hashlib.sha256(key.encode()).digest()).choice([o[0] for o in request.options])
        return f"Answer: {letter}\n(a guess: {reason})"
