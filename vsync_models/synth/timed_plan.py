"""Level-2/3 timelines: who speaks in which slot, chosen independently of everything on screen.

The clips look like level 1's (four characters, four 1.8-s slots, **all four mouths move in every
slot**, each mouth shaping a different sentence: the characters x slots grid of mouthed sentences
is a Latin square), but the speaker of each slot is drawn *independently* of the square and of
the staggered mouth onsets, and the heard sentence is simply what the speaker's mouth shapes. So:

- the picture alone (even read as lips) is the same whoever speaks: every slot's speaker is
  uniform given the video, and so is the slot in which a named character speaks;
- the sound alone has one voice for everybody and names nobody.

Level 2 (:data:`LEVEL2_TASKS`): every character speaks exactly once (the slot → speaker map is a
uniform permutation), so "when does X speak" has one answer; which slot is asked is dealt evenly.

Level 3: each slot's speaker is uniform and independent. After every slot, once all mouths have
shut, one character *looks at the camera* (eyes wide, :func:`~.render.render_frames`). The clip
is cut :data:`CUT_DELAY_FRAMES` later; the assistant should speak exactly when the character
who just spoke is the one looking at it (it hands the turn over). Per clip two cuts are "yes" and
two "no" (the pattern dealt evenly over the six), and a "no" cut's looker is uniform among the
other three; so the looker alone is uniform in both cases and the picture cannot tell them apart.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from vsync_models.synth.layout import POSITIONS, ROSTER, Character
from vsync_models.synth.plan import SLOTS, Ask, ClipPlan, Mouthing, Slot, _latin_squares, _onset_patterns
from vsync_models.synth.rng import Balancer, Rng
from vsync_models.synth.speech import SENTENCES

__all__ = ["CUT_DELAY_FRAMES", "LEVEL2_TASKS", "LEVEL3_TASKS", "TimedPlan", "plan_timed"]

LEVEL2_TASKS = ("when_speaks", "speech_onset", "who_at_time")
LEVEL3_TASKS = ("speak_now",)
CUT_DELAY_FRAMES = 5
"""A level-3 cut comes 0.2 s after the last mouth of the slot shut (within the next gap)."""

_LEAD_FRAMES = (5, 8)
_GAP_FRAMES = (10, 14)  # longer than level 1's, so a cut and its look fit before the next slot
_TAIL_FRAMES = 10
_STREAM = {2: 2_000_029, 3: 3_000_017}
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
    slot_dealers = {t: Balancer(rng, range(SLOTS)) for t in LEVEL2_TASKS}
    pattern_dealer = Balancer(rng, range(len(_YES_PATTERNS)))
    deck: list[str] = []
    plans = []
    for index in range(1, n_clips + 1):
        if len(deck) < SLOTS:
            deck.extend(rng.shuffled(s for s in SENTENCES if s not in deck))
        texts = deck[:SLOTS]
        del deck[:SLOTS]
        square = rng.choice(_latin_squares())
        row_of = rng.shuffled(ROSTER)  # which character plays each row of the square
        cast = tuple(rng.shuffled(ROSTER))  # left to right, independent of the rows
        # level 2: everyone speaks once; level 3: each slot's speaker on its own
        speakers = rng.shuffled(range(SLOTS)) if level == 2 else [rng.below(SLOTS) for _ in range(SLOTS)]
        slots, ends = _timeline(rng, square, texts, row_of, speakers)
        if level == 2:
            a = slot_dealers["when_speaks"].pick()
            b = slot_dealers["speech_onset"].pick(exclude=[a])
            c = slot_dealers["who_at_time"].pick()
            n_frames = ends[-1] + _TAIL_FRAMES
            s = slots[c]
            low = max(m.start_frame for m in s.mouthing) + 3
            high = min(m.end_frame for m in s.mouthing) - 3
            probe = low + rng.below(high - low + 1)
            clip = ClipPlan(index, "timed", cast, tuple(slots), (), n_frames, _asks(level))
            asked = {"when_speaks": a, "speech_onset": b, "who_at_time": c}
            plans.append(TimedPlan(level, clip, asked_slots=asked, probe_frame=probe))
            continue
        pattern = _YES_PATTERNS[pattern_dealer.pick()]
        looks = []
        for k, slot in enumerate(slots):
            speaker = slot.heard.character
            looker = speaker if pattern[k] else rng.choice([c for c in ROSTER if c != speaker])
            start = slot.last_frame
            looks.append((looker, start, ends[k] if k + 1 < SLOTS else start + _TAIL_FRAMES))
        cuts = tuple(s.last_frame + CUT_DELAY_FRAMES for s in slots)
        n_frames = cuts[-1]
        clip = ClipPlan(index, "timed", cast, tuple(slots), (), n_frames, _asks(level))
        plans.append(TimedPlan(level, clip, looks=tuple(looks), cuts=cuts))
    return plans


def _asks(level: int) -> tuple[Ask, ...]:
    tasks = LEVEL2_TASKS if level == 2 else LEVEL3_TASKS
    return tuple(Ask(t, None) for t in tasks)


def _timeline(
    rng: Rng,
    square: tuple[tuple[int, ...], ...],
    texts: list[str],
    row_of: list[Character],
    speakers: list[int],
) -> tuple[list[Slot], list[int]]:
    """Slots with staggered onsets shuffled over the rows (independent of the speaker); also the
    first frame of each slot and, last, where the clip's speech ends."""
    slots: list[Slot] = []
    starts: list[int] = []
    frame = _LEAD_FRAMES[0] + rng.below(_LEAD_FRAMES[1] - _LEAD_FRAMES[0] + 1)
    for k in range(SLOTS):
        starts.append(frame)
        onsets = rng.shuffled(rng.choice(_onset_patterns()))
        by_row = [
            Mouthing(row_of[r], texts[square[r][k]], frame + onsets[r], heard=r == speakers[k])
            for r in range(POSITIONS)
        ]
        slots.append(Slot(k, tuple(sorted(by_row, key=lambda m: ROSTER.index(m.character)))))
        frame = slots[-1].last_frame + _GAP_FRAMES[0] + rng.below(_GAP_FRAMES[1] - _GAP_FRAMES[0] + 1)
    return slots, [*starts[1:], slots[-1].last_frame]
