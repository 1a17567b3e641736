"""Level-1 event questions asked about a *speaker* instead of a quote: a variant of
``event_when_said`` that frames plus the transcript cannot answer.

``event_when_said`` quotes a sentence; the transcript gives the quote's place in the heard order, one
prop changes per sentence, and frames a second apart show the order of the changes, so late fusion
answers it without the sound. ``event_when_speaking`` names a character instead ("What happened on
screen while the red circle was speaking?"): the transcript carries no speakers, all four mouths move
in every slot, and the voice is the same for everybody, so only whose mouth follows the voice says
which slot is meant. It is asked over the existing clips (:func:`.plan.plan_clips`, same seed), only
of characters that speak exactly once in a ``turns`` clip (one slot, one right event), one item per
such character; the four options are the clip's four prop changes, the right one's letter dealt per
slot by a :class:`~.rng.Balancer` on an item stream of its own, so the shipped ``dataset.json`` is
not touched.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import Any

from vsync_models.synth.items import LETTERS
from vsync_models.synth.layout import FPS
from vsync_models.synth.plan import SLOTS, ClipPlan
from vsync_models.synth.rng import Balancer, Rng

__all__ = [
    "SPEAKER_FILE",
    "SPEAKER_QUESTION",
    "SPEAKER_TASK",
    "asked_speaker",
    "build_speaker_items",
    "speaking_once",
]

SPEAKER_TASK = "event_when_speaking"
SPEAKER_QUESTION = "What happened on screen while {name} was speaking?"
SPEAKER_FILE = "extra/event_when_speaking.json"
"""Where the items go, relative to the level-1 directory (a companion set over its ``videos/``)."""

_PREFIX, _SUFFIX = SPEAKER_QUESTION.split("{name}")
_ITEM_STREAM = 2_000_003  # its own stream: the level-1 items and timelines never move


def asked_speaker(question: str) -> str | None:
    """The character a speaker question names (``None`` for any other question)."""
    if question.startswith(_PREFIX) and question.endswith(_SUFFIX):
        return question[len(_PREFIX) : len(question) - len(_SUFFIX)]
    return None


def speaking_once(plan: ClipPlan) -> list[int]:
    """The slots whose speaker is heard in no other slot of the clip, in time order."""
    speakers = [s.heard.character for s in plan.slots]
    counts = collections.Counter(speakers)
    return [k for k, who in enumerate(speakers) if counts[who] == 1]


def build_speaker_items(plans: Sequence[ClipPlan], seed: int) -> list[dict[str, Any]]:
    """One item per character that speaks exactly once in a clip; the original format plus
    ``task``, ``level``, ``seed`` and ``truth``, ids ``spk-NNNN``."""
    rng = Rng(seed + _ITEM_STREAM)
    total = Balancer(rng, LETTERS)
    letters = {k: Balancer(rng, LETTERS, parent=total) for k in range(SLOTS)}
    items: list[dict[str, Any]] = []
    for plan in plans:
        events = [e.text for e in plan.events]
        for slot in speaking_once(plan):
            heard = plan.slots[slot].heard
            event = plan.event_in(slot)
            at = LETTERS.index(letters[slot].pick())
            others = rng.shuffled(t for t in events if t != event.text)
            options = [*others[:at], event.text, *others[at:]]
            items.append(
                {
                    "id": f"spk-{len(items) + 1:04d}",
                    "video_path": plan.video_path,
                    "question": SPEAKER_QUESTION.format(name=heard.character.name),
                    "options": [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)],
                    "correct_answer": LETTERS[at],
                    "asr_content": plan.transcript(),
                    "task": SPEAKER_TASK,
                    "level": 1,
                    "seed": seed,
                    "truth": {
                        "slot": slot,
                        "start_s": heard.start_frame / FPS,
                        "end_s": heard.end_frame / FPS,
                        "speaker": heard.character.name,
                        "event": event.text,
                        "event_s": event.time_s,
                    },
                }
            )
    return items
