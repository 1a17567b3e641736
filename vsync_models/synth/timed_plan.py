"""Level-2/3 timelines: who speaks in which slot, chosen independently of everything on screen.

The clips look like level 1's (four characters, four 1.8-s slots, **all four mouths move in every
slot**, each mouth shaping a different sentence: the characters x slots grid of mouthed sentences
is a Latin square; in level 3 each slot's four mouths shape their own four sentences, sixteen
distinct per clip, so that no heard phrase repeats another), but the speaker of each slot is drawn *independently* of the square and of
the staggered mouth onsets, and the heard sentence is simply what the speaker's mouth shapes. So:

- the picture alone (even read as lips) is the same whoever speaks: every slot's speaker is
  uniform given the video, and so is the slot in which a named character speaks;
- the sound alone has one voice for everybody and names nobody.

Level 2 (:data:`LEVEL2_TASKS`): every character speaks exactly once (the slot → speaker map is a
uniform permutation), so "when does X speak" has one answer; which slot is asked is dealt evenly.
As in level 1, one prop changes in each slot while every mouth moves (:func:`~.plan.slot_event`);
``event_offset`` asks when a prop changes relative to the start of a quoted heard sentence, once
for every sentence heard exactly once in the clip (a repeated one would not name one moment). The
picture shows the change but not in which slot the sentence is heard (the quoted text is mouthed
in every slot, and "heard once" leaves each slot equally likely), the sound places the sentence
but not the change (the props' slots are a uniform shuffle, drawn apart from everything else).
Props, events and ``event_offset`` asks come from their own random stream, so the other tasks'
clips and items are those of a set planned without them.

Level 3: the four slots are the phrases of one to three *turns*; every phrase is a complete
sentence, and the pause between two phrases of one turn is drawn like the gap between turns (no
phrase, duration or text says whether the turn goes on). After every phrase, once all mouths have
shut, one character *looks at the camera* (eyes wide, :func:`~.render.render_frames`); the clip is
cut :data:`CUT_DELAY_FRAMES` later. Each cut is one of three kinds (:data:`CUT_KINDS`):

- ``yield``: the turn is over and its speaker looks at the camera: the assistant should speak;
- ``pause``: a pause inside the turn (the same speaker says the next phrase); a listener looks;
- ``other``: the turn is over but a listener looks (the turn is not handed to the assistant).

Per clip two cuts are "yes" (``yield``), the pattern dealt evenly over the six; a "no" before the
last cut is a ``pause``, the last cut's "no" is ``other`` (what follows the clip is not shown).
The lookers are drawn *before and independently of* the answers (any three consecutive ones
differ, so that every pattern is possible), and the speakers are then fitted to both: a turn's
speaker is the looker at its end when it ends in ``yield``, and never looks during its pauses.
So the looker sequence alone is independent of the answers, the sound (one voice, sixteen
distinct sentences per clip, gaps drawn alike) names nobody, and only binding the heard phrase to
the mouth that shapes it (who spoke) and comparing with who looks decides the answer.

Level 3's multiple choice (``speak_when``, "at which of these moments should you start
speaking?") offers three of a clip's four cuts, in time order: one ``yield`` (the right one) and
both "no" cuts; the other ``yield`` is left out, so exactly one option is right. Which yield is
offered is dealt from a stream of its own (the clips and the ``speak_now`` items are those of a
set planned without it) by a :class:`~.rng.Balancer` over the ordered pairs (offered yield, left
out yield). With the yes patterns dealt evenly, those twelve pairs come out evenly, so given the
options (which reveal the left-out cut) the right one is equally often each of the three: its
letter, its time rank and its cut number say nothing (asking for the *first* yield instead would
be right at the first option half of the time).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from vsync_models.synth.layout import POSITIONS, ROSTER, Character
from vsync_models.synth.plan import (
    SLOTS,
    Ask,
    ClipPlan,
    Mouthing,
    Slot,
    _latin_squares,
    _onset_patterns,
    slot_event,
)
from vsync_models.synth.props import EVENT_KINDS, Event
from vsync_models.synth.rng import Balancer, Rng
from vsync_models.synth.speech import SENTENCES

__all__ = ["CUT_DELAY_FRAMES", "CUT_KINDS", "LEVEL2_TASKS", "LEVEL3_TASKS", "TimedPlan", "plan_timed"]

LEVEL2_TASKS = ("when_speaks", "speech_onset", "who_at_time", "event_offset")
LEVEL3_TASKS = ("speak_now", "speak_when")
CUT_DELAY_FRAMES = 5
"""A level-3 cut comes 0.2 s after the last mouth of the slot shut (within the next gap)."""
CUT_KINDS = ("yield", "pause", "other")

_LEAD_FRAMES = (5, 8)
_GAP_FRAMES = (10, 14)  # longer than level 1's, so a cut and its look fit before the next slot
_TAIL_FRAMES = 10
_STREAM = {2: 2_000_029, 3: 3_000_017}
_EVENT_STREAM = 4_000_037
"""Level 2's props and ``event_offset`` asks: a stream of their own (see the module doc)."""
_WHEN_STREAM = 5_000_011
"""Level 3's ``speak_when`` options: a stream of their own (see the module doc)."""
_YES_PATTERNS = tuple(p for p in itertools.product((True, False), repeat=SLOTS) if sum(p) == SLOTS // 2)


@dataclass(frozen=True)
class TimedPlan:
    """A clip of level 2 or 3: the level-1 plan type (events empty) plus level 3's looks and cuts."""

    level: int
    clip: ClipPlan
    looks: tuple[tuple[Character, int, int], ...] = ()
    """Level 3: ``(character, first_frame, end_frame)`` per slot, in slot order."""
    cuts: tuple[int, ...] = ()
    """Level 3: the frame each prefix ends at (exclusive), one per slot."""
    asked_slots: dict[str, int] | None = None
    """Level 2: the slot each task asks about."""
    probe_frame: int | None = None
    """Level 2: the frame ``who_at_time`` asks about (all four mouths move then)."""
    kinds: tuple[str, ...] = ()
    """Level 3: per cut, one of :data:`CUT_KINDS`."""
    offset_asks: tuple[tuple[int, str], ...] = ()
    """Level 2, ``event_offset``: ``(slot of the quoted sentence, prop whose change is asked)``."""
    when_options: tuple[int, ...] = ()
    """Level 3, ``speak_when``: the cuts offered as moments, in time order (one of them a yield)."""
    when_slot: int | None = None
    """Level 3, ``speak_when``: the offered cut at which the assistant should speak."""

    @property
    def name(self) -> str:
        return f"clip_{self.clip.index:04d}"

    def speaker(self, slot: int) -> Character:
        return self.clip.slots[slot].heard.character

    def speak(self, slot: int) -> bool:
        """Level 3: should the assistant speak at the cut after ``slot``?"""
        return self.looks[slot][0] == self.speaker(slot)

    def look_positions(self) -> list[tuple[int, int, int]]:
        return [(self.clip.cast.index(c), a, b) for c, a, b in self.looks]


def plan_timed(seed: int, n_clips: int, level: int) -> list[TimedPlan]:
    """Plan ``n_clips`` level-2 or level-3 clips; deterministic from ``seed`` (own random stream)."""
    if level not in _STREAM:
        raise ValueError(f"level must be 2 or 3, got {level}")
    if n_clips < 1:
        raise ValueError("need at least one clip")
    rng = Rng(seed + _STREAM[level])
    slot_dealers = {t: Balancer(rng, range(SLOTS)) for t in ("when_speaks", "speech_onset", "who_at_time")}
    event_rng = Rng(seed + _STREAM[level] + _EVENT_STREAM)
    prop_dealer = Balancer(event_rng, EVENT_KINDS)
    pattern_dealer = Balancer(rng, range(len(_YES_PATTERNS)))
    when_dealer = Balancer(Rng(seed + _STREAM[level] + _WHEN_STREAM), itertools.permutations(range(SLOTS), 2))
    deck: list[str] = []
    plans = []
    for index in range(1, n_clips + 1):
        n_texts = SLOTS if level == 2 else SLOTS * POSITIONS
        if len(deck) < n_texts:
            deck.extend(rng.shuffled(s for s in SENTENCES if s not in deck))
        texts = deck[:n_texts]
        del deck[:n_texts]
        square = rng.choice(_latin_squares())
        row_of = rng.shuffled(ROSTER)  # which character plays each row of the square
        cast = tuple(rng.shuffled(ROSTER))  # left to right, independent of the rows
        if level == 2:  # everyone speaks once
            speakers = rng.shuffled(range(SLOTS))
            slots, ends = _timeline(rng, [[texts[i] for i in row] for row in square], row_of, speakers)
            a = slot_dealers["when_speaks"].pick()
            b = slot_dealers["speech_onset"].pick(exclude=[a])
            c = slot_dealers["who_at_time"].pick()
            n_frames = ends[-1] + _TAIL_FRAMES
            s = slots[c]
            low = max(m.start_frame for m in s.mouthing) + 3
            high = min(m.end_frame for m in s.mouthing) - 3
            probe = low + rng.below(high - low + 1)
            events, offset_asks = _level2_events(event_rng, prop_dealer, slots)
            clip = ClipPlan(index, "timed", cast, tuple(slots), events, n_frames, _asks(level))
            asked = {"when_speaks": a, "speech_onset": b, "who_at_time": c}
            plans.append(
                TimedPlan(level, clip, asked_slots=asked, probe_frame=probe, offset_asks=offset_asks)
            )
            continue
        pattern = _YES_PATTERNS[pattern_dealer.pick()]
        kinds = tuple(
            "yield" if yes else "pause" if k + 1 < SLOTS else "other" for k, yes in enumerate(pattern)
        )
        lookers = _lookers(rng)
        talkers = _turn_speakers(rng, kinds, lookers)
        speakers = [row_of.index(c) for c in talkers]
        # level 3: sixteen distinct sentences, each slot's four mouths from their own four
        slots, ends = _timeline(
            rng, [[texts[POSITIONS * k + i] for k, i in enumerate(row)] for row in square], row_of, speakers
        )
        looks = []
        for k, slot in enumerate(slots):
            start = slot.last_frame
            looks.append((lookers[k], start, ends[k] if k + 1 < SLOTS else start + _TAIL_FRAMES))
        cuts = tuple(s.last_frame + CUT_DELAY_FRAMES for s in slots)
        n_frames = cuts[-1]
        clip = ClipPlan(index, "timed", cast, tuple(slots), (), n_frames, _asks(level))
        offered, left_out = _when(when_dealer, pattern)
        plans.append(
            TimedPlan(
                level,
                clip,
                looks=tuple(looks),
                cuts=cuts,
                kinds=kinds,
                when_options=tuple(k for k in range(SLOTS) if k != left_out),
                when_slot=offered,
            )
        )
    return plans


def _level2_events(
    rng: Rng, prop_dealer: Balancer[str], slots: list[Slot]
) -> tuple[tuple[Event, ...], tuple[tuple[int, str], ...]]:
    """One prop change per slot, the props shuffled over the slots; an ``event_offset`` ask for every
    slot whose heard sentence is heard nowhere else, the asked props dealt evenly over the set."""
    kinds = rng.shuffled(EVENT_KINDS)
    events = tuple(slot_event(rng, slot, kinds[slot.index]) for slot in slots)
    heard = [s.heard.sentence for s in slots]
    asks: list[tuple[int, str]] = []
    for k, text in enumerate(heard):
        if heard.count(text) == 1:
            asks.append((k, prop_dealer.pick(exclude=[kind for _, kind in asks])))
    return events, tuple(asks)


def _when(dealer: Balancer[tuple[int, int]], pattern: tuple[bool, ...]) -> tuple[int, int]:
    """``(offered yield, left-out yield)`` for ``speak_when``: the less dealt of this pattern's two
    orders, so that the twelve ordered pairs, and with them the right option's place, stay even."""
    first, second = (k for k, yes in enumerate(pattern) if yes)
    return dealer.pick(exclude=[p for p in dealer.counts if p not in ((first, second), (second, first))])


def _lookers(rng: Rng) -> list[Character]:
    """One looker per cut, drawn before the answers: uniform each, any three consecutive differ
    (so a turn of up to three phrases can end with its speaker looking, whatever the pattern)."""
    out: list[Character] = []
    for _ in range(SLOTS):
        out.append(rng.choice([c for c in ROSTER if c not in out[-2:]]))
    return out


def _turn_speakers(rng: Rng, kinds: tuple[str, ...], lookers: list[Character]) -> list[Character]:
    """Speakers that make ``kinds`` true for these ``lookers``: a turn runs up to and including
    the first cut that is not a ``pause``; its speaker is the looker there if it ends in
    ``yield``, else uniform among the characters who do not look during it."""
    speakers: list[Character] = []
    start = 0
    for k, kind in enumerate(kinds):
        if kind == "pause":
            continue
        during = lookers[start : k + 1]
        if kind == "yield":
            speaker = lookers[k]
            assert speaker not in lookers[start:k], "three consecutive lookers differ"
        else:
            speaker = rng.choice([c for c in ROSTER if c not in during])
        speakers.extend([speaker] * (k + 1 - start))
        start = k + 1
    return speakers


def _asks(level: int) -> tuple[Ask, ...]:
    tasks = LEVEL2_TASKS if level == 2 else LEVEL3_TASKS
    return tuple(Ask(t, None) for t in tasks)


def _timeline(
    rng: Rng,
    mouthed: list[list[str]],
    row_of: list[Character],
    speakers: list[int],
) -> tuple[list[Slot], list[int]]:
    """Slots with staggered onsets shuffled over the rows (independent of the speaker); row ``r``
    mouths ``mouthed[r][slot]``. Also the first frame of each slot and, last, where the clip's
    speech ends."""
    slots: list[Slot] = []
    starts: list[int] = []
    frame = _LEAD_FRAMES[0] + rng.below(_LEAD_FRAMES[1] - _LEAD_FRAMES[0] + 1)
    for k in range(SLOTS):
        starts.append(frame)
        onsets = rng.shuffled(rng.choice(_onset_patterns()))
        by_row = [
            Mouthing(row_of[r], mouthed[r][k], frame + onsets[r], heard=r == speakers[k])
            for r in range(POSITIONS)
        ]
        slots.append(Slot(k, tuple(sorted(by_row, key=lambda m: ROSTER.index(m.character)))))
        frame = slots[-1].last_frame + _GAP_FRAMES[0] + rng.below(_GAP_FRAMES[1] - _GAP_FRAMES[0] + 1)
    return slots, [*starts[1:], slots[-1].last_frame]
