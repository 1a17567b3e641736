"""Level-1 timelines: who is heard, who mouths what, and when each prop changes.

A clip has four *slots*. In each slot one sentence is heard, from one speaker, and **all four
characters move their mouths at once**, each to a different sentence of the same clip: over the
four slots the characters × slots grid of mouthed sentences is a Latin square (every character
mouths every clip sentence exactly once, every slot shows all four). The square is uniform over all
576; an ``in_sync`` clip hears one row (one character speaks throughout), a ``turns`` clip hears an
order uniform over the 20 that no row mouths, so for any square and any quoted sentence each slot,
and so each character, is equally likely to be the one heard. Mouth onsets within a slot are
staggered by at least 3 frames, in an order drawn independently of who is heard. So the picture
alone shows four equally plausible talkers at every moment, and even a model that could read the
lips would find the quoted sentence on a different character in each slot; the sound alone has one
voice for everyone. One event happens per slot, while *all four* mouths move, so its timing picks
out no character either.

Answers are dealt by :class:`~vsync_models.synth.rng.Balancer` per task: which slot is asked
about, which character (and where it stands) or which event kind (per slot) is the answer, where
the heard mouth comes in each slot's onset order, the length rank of the asked sentence and (in
:mod:`.items`) the answer's letter per slot, so no position, order or identity prior beats chance.
Dealing only chooses among values that are equally likely anyway, so it hides nothing less.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from vsync_models.synth.layout import FPS, POSITIONS, ROSTER, Character
from vsync_models.synth.props import BALL_FALL_FRAMES, EVENT_KINDS, SIGN_COLOURS, Event
from vsync_models.synth.rng import Balancer, Rng
from vsync_models.synth.speech import SENTENCES, UTTERANCE_FRAMES, FittedVoice
from vsync_models.synth.tts import SAMPLE_RATE

__all__ = [
    "CLIP_KINDS",
    "SAMPLES_PER_FRAME",
    "SLOTS",
    "TASKS",
    "Ask",
    "ClipPlan",
    "Mouthing",
    "Slot",
    "plan_clips",
    "slot_event",
]

SLOTS = 4
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS
TASKS = ("who_said", "said_when_event", "event_when_said", "in_sync")
CLIP_KINDS = {"in_sync": 1, "turns": 1}
"""Clip kinds and their shares: one speaker for the whole clip, or several taking turns."""

_LEAD_FRAMES = (5, 8)
_GAP_FRAMES = (6, 10)
_TAIL_FRAMES = 8
_MAX_OFFSET = 14  # latest mouth onset in a slot, frames after the earliest
_MIN_SPACING = 3  # frames between any two mouth onsets in a slot
_EVENT_MARGIN = 3  # frames an event keeps from the edges of the span where all mouths move


@dataclass(frozen=True)
class Mouthing:
    """One character moving its mouth to one sentence; ``heard`` if that sentence is the audio."""

    character: Character
    sentence: str
    start_frame: int
    heard: bool

    @property
    def end_frame(self) -> int:
        return self.start_frame + UTTERANCE_FRAMES


@dataclass(frozen=True)
class Slot:
    index: int
    mouthing: tuple[Mouthing, ...]
    """One per character, in roster order."""

    @property
    def heard(self) -> Mouthing:
        return next(m for m in self.mouthing if m.heard)

    @property
    def first_frame(self) -> int:
        return min(m.start_frame for m in self.mouthing)

    @property
    def last_frame(self) -> int:
        return max(m.end_frame for m in self.mouthing)


@dataclass(frozen=True)
class Ask:
    """A question to write about a clip: its task and the slot it is about (``None``: whole clip)."""

    task: str
    slot: int | None


@dataclass(frozen=True)
class ClipPlan:
    index: int
    kind: str
    cast: tuple[Character, ...]
    """Left to right on screen."""
    slots: tuple[Slot, ...]
    events: tuple[Event, ...]
    """In time order, one per slot."""
    n_frames: int
    asks: tuple[Ask, ...]

    @property
    def video_path(self) -> str:
        return f"clip_{self.index:04d}.mp4"

    @property
    def duration_s(self) -> float:
        return self.n_frames / FPS

    @property
    def n_samples(self) -> int:
        return self.n_frames * SAMPLES_PER_FRAME

    def transcript(self) -> str:
        return " ".join(s.heard.sentence for s in self.slots)

    def event_in(self, slot: int) -> Event:
        s = self.slots[slot]
        return next(e for e in self.events if s.first_frame <= e.frame < s.last_frame)

    def audio(self, voice: FittedVoice) -> np.ndarray:
        """The soundtrack: each slot's heard sentence at its speaker's mouth onset, nothing else."""
        return self._track([s.heard for s in self.slots], voice)

    def mouth_tracks(self, voice: FittedVoice) -> list[np.ndarray]:
        """Per character, left to right: the speech its mouth follows (heard or not)."""
        return [
            self._track([m for s in self.slots for m in s.mouthing if m.character == c], voice)
            for c in self.cast
        ]

    def _track(self, parts: Sequence[Mouthing], voice: FittedVoice) -> np.ndarray:
        track = np.zeros(self.n_samples, np.int16)
        for m in parts:
            samples = voice(m.sentence).samples
            start = m.start_frame * SAMPLES_PER_FRAME
            track[start : start + len(samples)] = samples
        return track


@cache
def _latin_squares() -> tuple[tuple[tuple[int, ...], ...], ...]:
    """All 576 4x4 Latin squares: ``square[character][slot]`` = slot whose heard sentence is mouthed."""
    perms = list(itertools.permutations(range(SLOTS)))
    squares: list[tuple[tuple[int, ...], ...]] = []

    def extend(rows: tuple[tuple[int, ...], ...]) -> None:
        if len(rows) == SLOTS:
            squares.append(rows)
            return
        for p in perms:
            if all(p[k] != row[k] for row in rows for k in range(SLOTS)):
                extend((*rows, p))

    extend(())
    return tuple(squares)


@cache
def _onset_patterns() -> tuple[tuple[int, ...], ...]:
    """Sorted mouth-onset offsets (frames) for one slot: first at 0, spaced, the last by 14."""
    return tuple(
        (0, *rest)
        for rest in itertools.combinations(range(_MIN_SPACING, _MAX_OFFSET + 1), POSITIONS - 1)
        if all(b - a >= _MIN_SPACING for a, b in itertools.pairwise((0, *rest)))
    )


class _Dealers:
    """One balancer per (task, what is dealt), shared by every clip of a set."""

    def __init__(self, rng: Rng) -> None:
        self.kind = Balancer(rng, CLIP_KINDS, CLIP_KINDS.values())
        self.slot = {t: Balancer(rng, range(SLOTS)) for t in TASKS}
        self.who = {t: Balancer(rng, ROSTER) for t in ("who_said", "in_sync")}
        self.position = {t: Balancer(rng, range(POSITIONS)) for t in ("who_said", "in_sync")}
        event_totals = {t: Balancer(rng, EVENT_KINDS) for t in ("said_when_event", "event_when_said")}
        self.event = {
            (t, k): Balancer(rng, EVENT_KINDS, parent=total)
            for t, total in event_totals.items()
            for k in range(SLOTS)
        }
        self.length_rank = Balancer(rng, range(SLOTS))
        # No shared parent here: a parent would spread one clip's four picks over four different
        # ranks, and a speaker whose onset rank differs in every slot would stand out (the video
        # oracle found exactly that). Slots are dealt independently.
        self.heard_onset_rank = {
            (c, k): Balancer(rng, range(POSITIONS)) for c in CLIP_KINDS for k in range(SLOTS)
        }


def plan_clips(seed: int, n_clips: int) -> list[ClipPlan]:
    """Plan ``n_clips`` clips; sentences repeat across clips only after the pool runs out.

    Needs no speech: every utterance lasts exactly :data:`UTTERANCE_FRAMES` frames.
    """
    if n_clips < 1:
        raise ValueError("need at least one clip")
    rng = Rng(seed)
    dealers = _Dealers(rng)
    deck: list[str] = []
    plans = []
    for index in range(1, n_clips + 1):
        if len(deck) < SLOTS:
            deck.extend(rng.shuffled(s for s in SENTENCES if s not in deck))
        sentences = deck[:SLOTS]
        del deck[:SLOTS]
        kind = dealers.kind.pick()
        square = rng.choice(_latin_squares())
        if kind == "in_sync":
            heard = square[0]  # row 0 speaks throughout: any row would do, the square is uniform
            asks = [Ask("in_sync", None)]
        else:
            heard = _turns_order(rng, square)
            q1 = dealers.slot["who_said"].pick()
            asks = [Ask("who_said", q1), Ask("who_said", dealers.slot["who_said"].pick(exclude=[q1]))]
        speaker_rows = [_row_with(square, k, heard[k]) for k in range(SLOTS)]
        cast_of_row, cast = _cast(rng, dealers, asks, speaker_rows)
        a = dealers.slot["said_when_event"].pick()
        b = dealers.slot["event_when_said"].pick(exclude=[a])
        texts = _texts(rng, dealers, sentences, heard[a])
        ranks = [dealers.heard_onset_rank[kind, k].pick() for k in range(SLOTS)]
        slots, n_frames = _timeline(rng, ranks, texts, square, speaker_rows, cast_of_row)
        events = _events(rng, dealers, slots, a, b)
        asks = [
            *sorted(asks, key=lambda q: q.slot or 0),
            Ask("said_when_event", a),
            Ask("event_when_said", b),
        ]
        plans.append(ClipPlan(index, kind, cast, slots, events, n_frames, tuple(asks)))
    return plans


def _row_with(square: tuple[tuple[int, ...], ...], slot: int, symbol: int) -> int:
    return next(r for r in range(SLOTS) if square[r][slot] == symbol)


def _cast(
    rng: Rng, dealers: _Dealers, asks: list[Ask], speaker_rows: list[int]
) -> tuple[list[Character], tuple[Character, ...]]:
    """Who plays each (abstract) row, and who stands where.

    Any assignment is equally likely a priori, so dealing the answers' identities (and the first
    answer's place on screen) evenly tells no modality anything.
    """
    task = asks[0].task
    answer_rows = list(dict.fromkeys(speaker_rows[q.slot or 0] for q in asks))
    who: dict[int, Character] = {}
    for row in answer_rows:
        who[row] = dealers.who[task].pick(exclude=who.values())
    rest = rng.shuffled(c for c in ROSTER if c not in who.values())
    cast_of_row = [who[r] if r in who else rest.pop() for r in range(SLOTS)]
    star = who[answer_rows[0]]
    position = dealers.position[task].pick()
    others = rng.shuffled(c for c in ROSTER if c != star)
    return cast_of_row, tuple([*others[:position], star, *others[position:]])


def _texts(rng: Rng, dealers: _Dealers, sentences: list[str], asked_symbol: int) -> list[str]:
    """Sentence per square symbol: the one ``said_when_event`` asks about has a dealt length rank.

    Symbols are interchangeable, so choosing which sentence plays which keeps every view the same
    in distribution, while "pick the shortest (longest, ...) option" can only score chance.
    """
    by_length = sorted(sentences, key=lambda t: (len(t), t))
    asked = by_length[dealers.length_rank.pick()]
    others = rng.shuffled(t for t in sentences if t != asked)
    return [asked if k == asked_symbol else others.pop() for k in range(SLOTS)]


def _turns_order(rng: Rng, square: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """A heard order (sentence per slot) uniform over all orders that no single row mouths.

    Uniform over those orders is what makes the picture useless: for any square and any quoted
    sentence, exactly five of the twenty allowed orders put that sentence in each slot.
    """
    while True:
        order = tuple(rng.shuffled(range(SLOTS)))
        if order not in square:
            return order


def _timeline(
    rng: Rng,
    heard_ranks: list[int],
    texts: list[str],
    square: tuple[tuple[int, ...], ...],
    speaker_rows: list[int],
    cast_of_row: list[Character],
) -> tuple[tuple[Slot, ...], int]:
    slots = []
    frame = rng.below(_LEAD_FRAMES[1] - _LEAD_FRAMES[0] + 1) + _LEAD_FRAMES[0]
    for k in range(SLOTS):
        # The heard mouth's place in the onset order is dealt (per slot), the others shuffled.
        pattern = rng.choice(_onset_patterns())
        first = pattern[heard_ranks[k]]
        rest = rng.shuffled(o for o in pattern if o != first)
        onsets = [first if r == speaker_rows[k] else rest.pop() for r in range(SLOTS)]
        by_row = [
            Mouthing(cast_of_row[r], texts[square[r][k]], frame + onsets[r], heard=r == speaker_rows[k])
            for r in range(SLOTS)
        ]
        slots.append(Slot(k, tuple(sorted(by_row, key=lambda m: ROSTER.index(m.character)))))
        frame = slots[-1].last_frame + rng.below(_GAP_FRAMES[1] - _GAP_FRAMES[0] + 1) + _GAP_FRAMES[0]
    n_frames = slots[-1].last_frame + _TAIL_FRAMES
    return tuple(slots), n_frames


def _events(rng: Rng, dealers: _Dealers, slots: Sequence[Slot], a: int, b: int) -> tuple[Event, ...]:
    """One event per slot, inside the span where every mouth moves; the asked kinds are dealt."""
    kind_a = dealers.event["said_when_event", a].pick()
    kind_b = dealers.event["event_when_said", b].pick(exclude=[kind_a])
    rest = rng.shuffled(k for k in EVENT_KINDS if k not in (kind_a, kind_b))
    kinds = {a: kind_a, b: kind_b} | dict(
        zip([s for s in range(SLOTS) if s not in (a, b)], rest, strict=True)
    )
    return tuple(slot_event(rng, slot, kinds[slot.index]) for slot in slots)


def slot_event(rng: Rng, slot: Slot, kind: str) -> Event:
    """An event of ``kind`` at a uniform frame inside the span where every mouth of ``slot`` moves
    (so its timing picks out no character), the ball's whole fall included; shared with level 2."""
    low = max(m.start_frame for m in slot.mouthing) + _EVENT_MARGIN
    high = min(m.end_frame for m in slot.mouthing) - _EVENT_MARGIN - BALL_FALL_FRAMES
    frame = low + rng.below(high - low + 1)
    colour = rng.choice(sorted(SIGN_COLOURS)) if kind == "sign" else None
    return Event(kind, frame, colour)
