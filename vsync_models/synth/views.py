"""What each modality could perceive of a clip, cut from the generator's ground truth.

The oracles (:mod:`.oracles`) may only look at a clip through these views: a :class:`VideoView`
has no sound and no record of which mouthing was heard; an :class:`AudioView` has no speaker and
nothing on screen; a :class:`LateView` (frames at 1 fps plus the transcript) has no sound, no
lip reading and no time finer than a second. Building them from the manifest record, and nothing
else, is what makes an oracle's accuracy a statement about what it was given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

__all__ = ["AudioView", "Case", "LateView", "Mouth", "VideoView", "bare", "cases", "dur"]

_QUOTED = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Mouth:
    slot: int
    character: str
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class VideoView:
    """What a perfect viewer (and lip reader) gets from the pixels."""

    duration_s: float
    positions: dict[str, int]
    mouthing: tuple[Mouth, ...]
    events: tuple[tuple[int, str, float], ...]
    """(slot, text, time_s) in time order."""

    @cached_property
    def _by_slot(self) -> dict[int, list[Mouth]]:
        out: dict[int, list[Mouth]] = {}
        for m in sorted(self.mouthing, key=lambda m: (m.slot, m.start_s)):
            out.setdefault(m.slot, []).append(m)
        return out

    def mouth(self, character: str, slot: int) -> Mouth:
        return next(m for m in self._by_slot[slot] if m.character == character)

    def in_slot(self, slot: int) -> list[Mouth]:
        """The slot's mouthings, earliest onset first."""
        return self._by_slot[slot]

    def onset_rank(self, character: str, slot: int) -> int:
        return [m.character for m in self._by_slot[slot]].index(character)

    def slot_of_event(self, text: str) -> int:
        return next(s for s, t, _ in self.events if t == text)


@dataclass(frozen=True)
class AudioView:
    """What a perfect listener gets from the soundtrack: (slot, text, start_s, end_s) per utterance."""

    duration_s: float
    utterances: tuple[tuple[int, str, float, float], ...]

    def slot_of(self, sentence: str) -> int:
        return next(s for s, t, _, _ in self.utterances if bare(t) == bare(sentence))


@dataclass(frozen=True)
class LateView:
    """What frames at 1 fps plus the transcript give, with no sound (the OpenAI-compatible path in
    ``avt``: late fusion). The picture is a :class:`VideoView` whose every time is moved to the first
    whole second at or after it (the first frame that can show it) and whose mouthings carry no text
    (one frame a second shows an open mouth, not what it says); the transcript is the heard
    sentences in order, without times."""

    video: VideoView
    transcript: tuple[str, ...]

    def index(self, sentence: str) -> int:
        """Where ``sentence`` is in the transcript (0-based)."""
        return [bare(t) for t in self.transcript].index(bare(sentence))

    def quarter(self, time_s: float) -> int:
        """Which of four equal slots of the clip ``time_s`` falls in."""
        return min(3, int(4 * time_s / self.video.duration_s))


def _seen_at_1fps(t: float) -> float:
    return float(math.ceil(t - 1e-9))


@dataclass(frozen=True)
class Case:
    """One item with its clip's ground truth, and the views cut from it."""

    item: dict[str, Any]
    clip: dict[str, Any]

    @property
    def task(self) -> str:
        return str(self.item["task"])

    @cached_property
    def options(self) -> list[str]:
        return [o.split(". ", 1)[1] for o in self.item["options"]]

    @cached_property
    def answer(self) -> int:
        return "ABCDEFGH".index(self.item["correct_answer"])

    @cached_property
    def quote(self) -> str | None:
        m = _QUOTED.search(self.item["question"])
        return m.group(1) if m else None

    @cached_property
    def video(self) -> VideoView:
        c = self.clip
        return VideoView(
            duration_s=c["duration_s"],
            positions={m["name"]: m["position"] for m in c["cast"]},
            mouthing=tuple(
                Mouth(m["slot"], m["character"], m["text"], m["start_s"], m["end_s"]) for m in c["mouthing"]
            ),
            events=tuple((e["slot"], e["text"], e["time_s"]) for e in c["events"]),
        )

    @cached_property
    def audio(self) -> AudioView:
        c = self.clip
        return AudioView(
            duration_s=c["duration_s"],
            utterances=tuple((u["slot"], u["text"], u["start_s"], u["end_s"]) for u in c["utterances"]),
        )

    @cached_property
    def late(self) -> LateView:
        return _late(self)


def _late(case: Case) -> LateView:
    v = case.video
    video = VideoView(
        duration_s=v.duration_s,
        positions=v.positions,
        mouthing=tuple(
            replace(m, text="", start_s=_seen_at_1fps(m.start_s), end_s=_seen_at_1fps(m.end_s))
            for m in v.mouthing
        ),
        events=tuple((slot, text, _seen_at_1fps(t)) for slot, text, t in v.events),
    )
    heard = sorted(case.audio.utterances, key=lambda u: u[2])
    return LateView(video, tuple(text for _, text, _, _ in heard))


def cases(items: Iterable[dict[str, Any]], clips: Iterable[dict[str, Any]]) -> list[Case]:
    by_path = {c["video_path"]: c for c in clips}
    return [Case(it, by_path[it["video_path"]]) for it in items]


def dur(start: float, end: float) -> float:
    """A duration rounded to the millisecond: times are frame-exact, float noise must not break ties."""
    return round(end - start, 3)


def bare(text: str) -> str:
    return text.strip('"').rstrip(".!?")
