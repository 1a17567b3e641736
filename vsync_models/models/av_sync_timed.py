"""``av_sync`` on levels 2 and 3: the same measurements (speech windows, mouth-vs-loudness
correlation, and the eyes), asked *when* instead of *who*.

- "When is the voice of X heard?" → the speech window in which X's mouth follows the loudness
  best → ``from <start> s to <end> s``; "At what time does X start speaking?" → its start.
- "Which character is speaking at T s?" → the window holding T → whose mouth follows it.
- "At what time does the lamp turn on relative to the start of the sentence '…'?" → the lamp's first
  changed frame minus the start of the speech window of the quoted sentence (its place in the
  transcript) → ``+1.24 s``.
- "Should you start speaking now?" (a prefix) → the last speech window → who spoke it; the
  character whose eyes changed at the last frame looks at the camera; yes iff they are the same
  (a pause inside a turn is a cut at which its speaker does not look, so it is a "no" alike).
- "At which of these moments should you start speaking?" (options are times) → the same
  measurement on the clip up to each option's time, as if it had been cut there → the one option
  that says yes.

Like level 1 it perceives only through the request's media view; with a stream withheld it
guesses among what it *can* perceive (:func:`guess_timed`): a speech window heard (``at``) or a
stretch in which the named character's mouth moves (``vt``), yes or no at random; for an offset,
``at`` places the sentence and guesses the middle of a random speech window for the change, ``vt``
sees the change and guesses the median mouth onset of a random stretch of mouthing for the
sentence. So its single-modality accuracy is that of an informed guess, the chance the oracles
measure.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import replace

import numpy as np

from vsync_models.models.av_measure import (
    UTTERANCE_FRAMES,
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
)
from vsync_models.synth.layout import FPS, POSITIONS, ROSTER
from vsync_models.types import Request

__all__ = ["decide_timed", "guess_timed"]

_LOOK_PIXELS = 30
"""Eye-box pixels that must differ from frame 0 for a character to count as looking at the camera."""
_VOICED = 0.15
"""Envelope level (of its maximum 1) above which a frame counts as speech."""
_TIME = re.compile(r"(\d+(?:\.\d+)?)\s*s\b")


def _kind(question: str) -> str | None:
    q = question.lower()
    if "relative to the start of the sentence" in q:
        return "offset"
    if "voice of" in q and "heard" in q:
        return "interval"
    if "start speaking?" in q and "at what time" in q:
        return "instant"
    if q.startswith("which character is speaking at"):
        return "who_at_time"
    if "should you start speaking now" in q:
        return "yesno"
    if "at which of these moments should you start speaking" in q:
        return "speak_when"
    return None


def _named(question: str) -> str:
    found = [c.name for c in ROSTER if norm(c.name) in norm(question)]
    if len(found) != 1:
        raise Undecided("the question does not name exactly one character")
    return found[0]


def _perceive(request: Request, sight: Sight) -> tuple[Video, Audio]:
    audio = perceive_audio(request)
    if audio is None:
        raise Undecided("this request withholds the audio the question needs")
    video = perceive_video(request, sight)
    if video is None:
        raise Undecided("this request withholds the frames the question needs")
    return video, audio


def _speaker(video: Video, audio: Audio, window: tuple[int, int]) -> int:
    return int(np.argmax([follows(video, audio, p, window) for p in range(POSITIONS)]))


def decide_timed(request: Request, sight: Sight) -> tuple[str, str] | None:
    """``(answer text, reason)`` for a level-2/3 question, ``None`` for any other question."""
    kind = _kind(request.question)
    if kind is None:
        return None
    video, audio = _perceive(request, sight)
    if kind == "yesno":
        return _speak_now(video, audio)
    if kind == "speak_when":
        return _speak_when(request, video, audio)
    if len(audio.windows) != 4:
        raise Undecided(f"found {len(audio.windows)} speech windows, not 4")
    if kind == "offset":
        event, prop = _event(request, video)
        onset = _sentence_onset(request, audio)
        why = f"the {prop} changed at {event / FPS:.2f} s, the sentence started at {onset / FPS:.2f} s"
        return f"{(event - onset) / FPS:+.2f} s", why
    if kind == "who_at_time":
        m = _TIME.search(request.question)
        if m is None:
            raise Undecided("the question names no time")
        frame = float(m.group(1)) * FPS
        window = min(
            audio.windows,
            key=lambda w: 0 if w[0] <= frame < w[1] else min(abs(frame - w[0]), abs(frame - w[1])),
        )
        name = video.names[_speaker(video, audio, window)]
        hits = [letter for letter, text in option_texts(request.options) if norm(text) == norm(name)]
        if len(hits) != 1:
            raise Undecided(f"no single option names {name}")
        return hits[0], f"{name}'s mouth follows the voice heard then"
    name = _named(request.question)
    if name not in video.names:
        raise Undecided(f"{name} is not on screen")
    position = video.names.index(name)
    s, e = max(audio.windows, key=lambda w: follows(video, audio, position, w))
    why = f"{name}'s mouth follows the voice best in this speech window"
    if kind == "instant":
        return f"{s / FPS:.2f} s", why
    return f"from {s / FPS:.2f} s to {e / FPS:.2f} s", why


def _asked_prop(question: str) -> str:
    """The prop an offset question names, outside the quoted sentence (which may name one too)."""
    prop = prop_in(re.sub(r"[\"“][^\"”]*[\"”]", " ", question))
    if prop is None:
        raise Undecided("the question does not name exactly one prop")
    return prop


def _event(request: Request, video: Video) -> tuple[int, str]:
    prop = _asked_prop(request.question)
    frame = video.events.get(prop)
    if frame is None:
        raise Undecided(f"the {prop} never changed on screen")
    return frame, prop


def _sentence_onset(request: Request, audio: Audio) -> int:
    """The start of the quoted sentence's speech window: the transcript lists the windows' sentences
    in order, so the quoted one must be there exactly once."""
    said = quoted(request.question)
    heard = sentences(request.asr_text or "")
    if not heard:
        raise Undecided("there is no transcript to place the quoted sentence in time")
    if said is None or heard.count(said) != 1 or len(heard) != len(audio.windows):
        raise Undecided("the quoted sentence cannot be placed in the transcript's order")
    return audio.windows[heard.index(said)][0]


def _speak_now(video: Video, audio: Audio) -> tuple[str, str]:
    voiced = np.flatnonzero(audio.envelope > _VOICED)
    if len(voiced) == 0:
        return "no", "nobody has spoken yet"
    end = int(voiced[-1]) + 1
    window = (max(0, end - UTTERANCE_FRAMES), end)
    speaker = _speaker(video, audio, window)
    if video.eyes is None or len(video.eyes) == 0:
        raise Undecided("the eyes could not be measured")
    last = video.eyes[-1]
    looker = int(np.argmax(last)) if last.max() >= _LOOK_PIXELS else None
    if looker is None:
        return "no", f"{video.names[speaker]} spoke last and nobody looks at the camera"
    if looker == speaker:
        return "yes", f"{video.names[speaker]} spoke last and now looks at the camera"
    return "no", f"{video.names[speaker]} spoke last, but {video.names[looker]} looks at the camera"


def _speak_when(request: Request, video: Video, audio: Audio) -> tuple[str, str]:
    """Each option's moment judged by :func:`_speak_now` on the media cut there; exactly one must say yes."""
    said = []
    for letter, text in option_texts(request.options):
        m = _TIME.search(text)
        if m is None:
            raise Undecided(f"option {letter} names no time")
        end = round(float(m.group(1)) * FPS)
        if not 0 < end <= len(video.mouths):
            raise Undecided(f"option {letter} is not a moment of the clip")
        eyes = None if video.eyes is None else video.eyes[:end]
        seen = None if video.seen is None else video.seen[:end]
        cut = _speak_now(
            replace(video, mouths=video.mouths[:end], eyes=eyes, seen=seen),
            replace(audio, envelope=audio.envelope[:end]),
        )
        said.append((letter, *cut))
    yes = [(letter, why) for letter, answer, why in said if answer == "yes"]
    if len(yes) != 1:
        raise Undecided(f"{len(yes)} of the moments look like a hand-over, not one")
    letter, why = yes[0]
    return letter, f"at {letter}: {why}"


def guess_timed(request: Request, reason: str, seed: int, sight: Sight) -> str:
    """An informed guess from the stream that is there (see the module docstring), said to be one."""
    key = f"{seed}|{request.item_id}|{request.modality.value}|{request.question}"
    rng = random.Random(hashlib.sha256(key.encode()).digest())
    kind = _kind(request.question)
    if kind is None:
        return f"I cannot tell: {reason}."
    if kind == "yesno":
        return f"(a guess: {reason})\nAnswer: {rng.choice(['yes', 'no'])}"
    if kind == "offset":
        guessed = _guess_offset(request, rng, sight)
        if guessed is None:
            return f"I cannot tell: {reason}."
        return f"(a guess: {reason})\nAnswer: {guessed / FPS:+.2f} s"
    candidates = _candidates(request, sight)
    if not candidates:
        return f"I cannot tell: {reason}."
    s, e = rng.choice(candidates)
    answer = f"{s / FPS:.2f} s" if kind == "instant" else f"from {s / FPS:.2f} s to {e / FPS:.2f} s"
    return f"(a guess: {reason})\nAnswer: {answer}"


def _guess_offset(request: Request, rng: random.Random, sight: Sight) -> float | None:
    """Frames from the sentence's start to the change, with one of the two moments guessed: ``at``
    places the sentence and puts the change mid-way through a random speech window (it happens
    while someone speaks); ``vt`` sees the change and puts the sentence at the middle mouth onset of
    a random stretch of mouthing (one of those mouths is the speaker's)."""
    audio = perceive_audio(request)
    if audio is not None:
        if len(audio.windows) != 4:
            return None
        try:
            onset = _sentence_onset(request, audio)
        except Undecided:
            return None
        s, e = rng.choice(audio.windows)
        return (s + e) / 2 - onset
    video = perceive_video(request, sight)
    if video is None:
        return None
    try:
        event, _ = _event(request, video)
    except Undecided:
        return None
    onsets = _stretch_onsets(video.mouths)
    return event - rng.choice(onsets) if onsets else None


def _stretch_onsets(mouths: np.ndarray) -> list[float]:
    """Per stretch in which some mouth moves, the median of the mouths' first moving frames in it."""
    starts = [[s for s, _ in _bursts(mouths[:, p], min_len=5)] for p in range(mouths.shape[1])]
    out = []
    for s, _ in _bursts(mouths.max(axis=1)):
        firsts = [
            next(b for b in bs if b >= s) for bs in starts if any(s <= b < s + UTTERANCE_FRAMES for b in bs)
        ]
        if firsts:
            out.append(float(np.median(firsts)))
    return out


def _candidates(request: Request, sight: Sight) -> list[tuple[int, int]]:
    """Stretches the question could be about, from whichever stream the request carries."""
    audio = perceive_audio(request)
    if audio is not None:
        return list(audio.windows)
    video = perceive_video(request, sight)
    if video is None:
        return []
    try:
        position = video.names.index(_named(request.question))
    except (Undecided, ValueError):
        return []
    return _bursts(video.mouths[:, position])


def _bursts(mouth: np.ndarray, min_len: int = 20, bridge: int = 8) -> list[tuple[int, int]]:
    """Stretches in which a mouth moves (short closures between words bridged)."""
    if len(mouth) == 0:
        return []
    closed = float(np.median(mouth[:3]))
    active = mouth > closed + 0.02
    spans: list[list[int]] = []
    for i in np.flatnonzero(active):
        if spans and i - spans[-1][1] <= bridge:
            spans[-1][1] = int(i) + 1
        else:
            spans.append([int(i), int(i) + 1])
    return [(s, min(s + UTTERANCE_FRAMES, len(mouth))) for s, e in spans if e - s >= min_len]
