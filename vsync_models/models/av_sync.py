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
- ``event_when_speaking``: the window in which the named character's mouth follows the loudness
  best, ahead of the other three mouths by the widest margin (no transcript needed) → the prop that
  changed in it → the option naming that prop.
- ``in_sync``: mean over the four windows of each mouth's correlation with the envelope → best.
- ``who_said_1fps`` (level 4: every mouth stops for one second at a different time, the voice
  with the speaker's): the seen frames that fall inside a pause of the voice (a silence of at least
  0.6 s) and show exactly one mouth shut → the character most of them show
  (:func:`~vsync_models.models.av_measure.shut_while_silent`). One frame a second is enough.

What it sees of the picture is configurable, so its accuracy can be measured at the sampling a
real model gets (``models.av_sync.fps``, ``models.av_sync.max_frames``; default every frame):
only the frames such a model would be shown are measured, a mouth's correlation uses only those,
and a prop change is seen at the first kept frame that shows it. The audio is always whole. A clip
that would decode to more than ``models.av_sync.max_decoded_pixels`` (width × height × frames) is
an item error naming that limit; frames are measured and dropped as they are decoded.

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
from typing import Any

import numpy as np

from vsync_models.errors import ConfigError
from vsync_models.models.av_measure import (
    DEFAULT_MAX_DECODED_PIXELS,
    EVERY_FRAME,
    SLOTS,
    Audio,
    Sight,
    Undecided,
    Video,
    follows,
    norm,
    option_texts,
    perceive_audio,
    perceive_video,
    prop_in,
    quoted,
    sentences,
    shut_while_silent,
)
from vsync_models.models.av_sync_timed import decide_timed, guess_timed
from vsync_models.models.base import ModelOutput
from vsync_models.synth.layout import FPS, POSITIONS
from vsync_models.synth.speaker_items import asked_speaker
from vsync_models.types import Request, Sampling

__all__ = ["AVSyncModel"]

VERSION = 2
_FALLBACKS = ("guess", "abstain")


class AVSyncModel:
    """Answers from loudness-vs-mouth synchrony, speech windows and prop events; see the module doc."""

    def __init__(
        self,
        name: str = "av_sync",
        fallback: str = "guess",
        seed: int = 0,
        sampling: Sampling = EVERY_FRAME,
        max_decoded_pixels: int = DEFAULT_MAX_DECODED_PIXELS,
    ) -> None:
        if fallback not in _FALLBACKS:
            raise ConfigError(f"models.av_sync.fallback must be one of {_FALLBACKS}, got {fallback!r}")
        if max_decoded_pixels < 1:
            raise ConfigError(f"models.av_sync.max_decoded_pixels must be >= 1, got {max_decoded_pixels}")
        self.name = name
        self.fallback = fallback
        self.seed = seed
        self.sight = Sight(sampling, max_decoded_pixels)
        self.sampling = sampling  # what the reports' ceiling line looks up

    def fingerprint(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "av_sync",
            "version": VERSION,
            "fallback": self.fallback,
            "seed": self.seed,
        }
        sampling = self.sight.sampling
        if sampling != EVERY_FRAME:  # every frame (the default) keeps the cache keys answers had before
            out["sampling"] = {"fps": sampling.fps, "max_frames": sampling.max_frames}
        return out

    def check(self) -> None:
        return None

    def generate(self, request: Request) -> ModelOutput:
        try:
            timed = decide_timed(request, self.sight)
            if timed is not None:  # levels 2/3: the reason first, so the answer is the last thing said
                return ModelOutput(text=f"({timed[1]})\nAnswer: {timed[0]}")
            letter, why = self._decide(request)
        except Undecided as exc:
            if not request.options and self.fallback == "guess":
                return ModelOutput(text=guess_timed(request, str(exc), self.seed, self.sight))
            return ModelOutput(text=self._fall_back(request, str(exc)))
        return ModelOutput(text=f"Answer: {letter}\n({why})")

    # -- reasoning ---------------------------------------------------------------------------------

    def _decide(self, request: Request) -> tuple[str, str]:
        q = request.question.lower()
        options = option_texts(request.options)
        if "mouth stops for one second" in q:
            return self._who_paused(request, options)
        if "lips match" in q or "in sync" in q:
            return self._in_sync(request, options)
        if q.startswith("which character said"):
            return self._who_said(request, options)
        if "being said when" in q:
            return self._said_when_event(request, options)
        if asked_speaker(request.question) is not None:
            return self._event_when_speaking(request, options)
        if "happened on screen" in q:
            return self._event_when_said(request, options)
        raise Undecided("the question is not one of the five level-1 kinds this model knows")

    def _need(self, request: Request, video: bool, audio: bool) -> tuple[Video | None, Audio | None]:
        # Audio first: in vt it is refused at once, before any frame is decoded for nothing.
        a = perceive_audio(request) if audio else None
        if audio and a is None:
            raise Undecided("this request withholds the audio the question needs")
        v = perceive_video(request, self.sight) if video else None
        if video and v is None:
            raise Undecided("this request withholds the frames the question needs")
        if a is not None and len(a.windows) != SLOTS:
            raise Undecided(f"found {len(a.windows)} speech windows, not {SLOTS}")
        return v, a

    def _window_of(self, request: Request, audio: Audio) -> tuple[int, int]:
        said = quoted(request.question)
        if not request.asr_text:
            raise Undecided("there is no transcript to place the quoted sentence in time")
        heard = sentences(request.asr_text)
        if said is None or said not in heard or len(heard) != len(audio.windows):
            raise Undecided("the quoted sentence cannot be placed in the transcript's order")
        return audio.windows[heard.index(said)]

    @staticmethod
    def _speaker_in(video: Video, audio: Audio, window: tuple[int, int]) -> tuple[int, float]:
        scores = [follows(video, audio, p, window) for p in range(POSITIONS)]
        best = int(np.argmax(scores))
        return best, scores[best]

    @staticmethod
    def _option_naming(options: list[tuple[str, str]], name: str) -> str:
        hits = [letter for letter, text in options if norm(text) == norm(name)]
        if len(hits) != 1:
            raise Undecided(f"no single option names {name}")
        return hits[0]

    def _who_said(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        window = self._window_of(request, audio)
        pos, r = self._speaker_in(video, audio, window)
        name = video.names[pos]
        why = f"{name}'s mouth follows the voice at {window[0] / FPS:.2f}-{window[1] / FPS:.2f} s, r={r:.2f}"
        return self._option_naming(options, name), why

    def _who_paused(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        """Level 4: the character whose mouth is shut, alone, in a frame seen while the voice pauses."""
        audio = perceive_audio(request)
        if audio is None:
            raise Undecided("this request withholds the audio the question needs")
        video = perceive_video(request, self.sight)
        if video is None:
            raise Undecided("this request withholds the frames the question needs")
        seen = shut_while_silent(video, audio)
        votes = np.bincount([p for _, p in seen], minlength=POSITIONS)
        if not seen or (votes == votes.max()).sum() > 1:
            raise Undecided("no frame shows one mouth shut, alone, while the voice pauses")
        pos = int(np.argmax(votes))
        frames = [f for f, p in seen if p == pos]
        name = video.names[pos]
        why = f"{name}'s mouth is the only one shut while the voice pauses ({len(frames)} frames from {frames[0] / FPS:.2f} s)"
        return self._option_naming(options, name), why

    def _in_sync(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        totals = np.zeros(POSITIONS)
        for window in audio.windows:
            totals += [follows(video, audio, p, window) for p in range(POSITIONS)]
        pos = int(np.argmax(totals))
        name = video.names[pos]
        why = f"{name}'s mouth follows the voice, mean r={totals[pos] / len(audio.windows):.2f}"
        return self._option_naming(options, name), why

    def _said_when_event(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        prop = prop_in(request.question)
        frame = video.events.get(prop) if prop else None
        if frame is None:
            raise Undecided("the named event was not seen")
        if not request.asr_text:
            raise Undecided("there is no transcript")
        heard = sentences(request.asr_text)
        if len(heard) != len(audio.windows):
            raise Undecided("the transcript's sentences do not match the speech windows")

        def distance(w: tuple[int, int]) -> int:
            return 0 if w[0] <= frame < w[1] else min(abs(frame - w[0]), abs(frame - w[1] + 1))

        i = min(range(len(audio.windows)), key=lambda k: distance(audio.windows[k]))
        said = heard[i]
        hits = [letter for letter, text in options if norm(text) == said]
        if len(hits) != 1:
            raise Undecided("no single option quotes the sentence heard then")
        return hits[0], f"the {prop} changed at {frame / FPS:.2f} s, during sentence {i + 1}"

    def _event_when_said(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        return self._event_in(video, self._window_of(request, audio), options)

    def _event_when_speaking(self, request: Request, options: list[tuple[str, str]]) -> tuple[str, str]:
        """The window whose voice the named character's mouth follows, not a quote's place in the
        transcript: the window where that mouth beats the others by the widest margin."""
        video, audio = self._need(request, video=True, audio=True)
        assert video is not None and audio is not None
        name = asked_speaker(request.question)
        if name is None or norm(name) not in [norm(n) for n in video.names]:
            raise Undecided(f"{name} is not on screen")
        pos = [norm(n) for n in video.names].index(norm(name))

        def lead(window: tuple[int, int]) -> float:
            scores = [follows(video, audio, p, window) for p in range(POSITIONS)]
            return scores[pos] - max(x for p, x in enumerate(scores) if p != pos)

        window = max(audio.windows, key=lead)
        letter, why = self._event_in(video, window, options)
        return letter, f"{name}'s mouth follows the voice there; {why}"

    def _event_in(
        self, video: Video, window: tuple[int, int], options: list[tuple[str, str]]
    ) -> tuple[str, str]:
        """The option naming the prop that changed inside ``window`` (else the one nearest its centre)."""
        s, e = window
        inside = [p for p, f in video.events.items() if f is not None and s <= f < e]
        if len(inside) != 1:
            centre = (s + e) / 2
            seen = [(abs(f - centre), p) for p, f in video.events.items() if f is not None]
            if not seen:
                raise Undecided("no prop changed on screen")
            inside = [min(seen)[1]]
        prop = inside[0]
        hits = [letter for letter, text in options if prop_in(text) == prop]
        if len(hits) != 1:
            raise Undecided(f"no single option names the {prop}")
        when = f"the {prop} changed at {video.events[prop] / FPS:.2f} s"
        return hits[0], f"{when}, within {s / FPS:.2f}-{e / FPS:.2f} s"

    def _fall_back(self, request: Request, reason: str) -> str:
        if self.fallback == "abstain":
            return f"I cannot tell: {reason}."
        key = f"{self.seed}|{request.item_id}|{request.modality.value}|{request.question}"
        letter = random.Random(hashlib.sha256(key.encode()).digest()).choice([o[0] for o in request.options])
        return f"Answer: {letter}\n(a guess: {reason})"
