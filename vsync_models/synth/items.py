"""Level-1 questions: four task templates, four options each, all options from the same clip.

Options are always the clip's four characters, its four heard sentences or its four events, so an
option's text says nothing about whether it is right; the right one's letter is dealt per task and asked slot by a
:class:`~vsync_models.synth.rng.Balancer` (so neither a fixed letter nor "letter = slot" beats
chance), the other three are shuffled around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vsync_models.synth.layout import FPS
from vsync_models.synth.plan import SLOTS, TASKS, Ask, ClipPlan
from vsync_models.synth.rng import Balancer, Rng

__all__ = ["LETTERS", "QUESTIONS", "build_items", "quote"]

LETTERS = "ABCD"

QUESTIONS: dict[str, str] = {
    "who_said": 'Which character said "{quote}"?',
    "said_when_event": "What was being said when {event}?",
    "event_when_said": 'What happened on screen while "{quote}" was being said?',
    "in_sync": "Which character's lips match the voice?",
}
"""Question wording per task; options are character names, quoted sentences or event phrases."""

_ITEM_STREAM = 1_000_003  # items draw from their own stream, so wording never moves a timeline


def quote(sentence: str) -> str:
    return sentence.rstrip(".!?")


def build_items(plans: Sequence[ClipPlan], seed: int) -> list[dict[str, Any]]:
    """Items in the original level-1 format plus ``task``, ``level``, ``seed`` and ``truth``."""
    rng = Rng(seed + _ITEM_STREAM)
    per_task = {t: Balancer(rng, LETTERS) for t in TASKS}
    letters = {
        (t, k): Balancer(rng, LETTERS, parent=per_task[t]) for t in TASKS for k in (None, *range(SLOTS))
    }
    items: list[dict[str, Any]] = []
    for plan in plans:
        for ask in plan.asks:
            question, answer, distractors, truth = _compose(plan, ask)
            at = LETTERS.index(letters[ask.task, ask.slot].pick())
            others = rng.shuffled(distractors)
            options = [*others[:at], answer, *others[at:]]
            items.append(
                {
                    "id": f"syn-{len(items) + 1:04d}",
                    "video_path": plan.video_path,
                    "question": question,
                    "options": [f"{LETTERS[i]}. {text}" for i, text in enumerate(options)],
                    "correct_answer": LETTERS[at],
                    "asr_content": plan.transcript(),
                    "task": ask.task,
                    "level": 1,
                    "seed": seed,
                    "truth": truth,
                }
            )
    return items


def _span(plan: ClipPlan, slot: int) -> dict[str, Any]:
    heard = plan.slots[slot].heard
    return {"slot": slot, "start_s": heard.start_frame / FPS, "end_s": heard.end_frame / FPS}


def _compose(plan: ClipPlan, ask: Ask) -> tuple[str, str, list[str], dict[str, Any]]:
    """(question, right option text, the three others, item ground truth) for one ask."""
    sentences = [s.heard.sentence for s in plan.slots]
    names = [c.name for c in plan.cast]
    events = [e.text for e in plan.events]
    if ask.task == "in_sync":
        star = plan.slots[0].heard.character.name
        spans = [[s.heard.start_frame / FPS, s.heard.end_frame / FPS] for s in plan.slots]
        return QUESTIONS["in_sync"], star, _without(names, star), {"speaker": star, "spans_s": spans}
    assert ask.slot is not None
    heard = plan.slots[ask.slot].heard
    event = plan.event_in(ask.slot)
    if ask.task == "who_said":
        name = heard.character.name
        question = QUESTIONS["who_said"].format(quote=quote(heard.sentence))
        return question, name, _without(names, name), _span(plan, ask.slot) | {"speaker": name}
    timing = _span(plan, ask.slot) | {"event": event.text, "event_s": event.time_s}
    if ask.task == "said_when_event":
        right = f'"{quote(heard.sentence)}"'
        wrong = [f'"{quote(s)}"' for s in sentences if s != heard.sentence]
        return QUESTIONS["said_when_event"].format(event=event.text), right, wrong, timing
    if ask.task == "event_when_said":
        question = QUESTIONS["event_when_said"].format(quote=quote(heard.sentence))
        return question, event.text, _without(events, event.text), timing
    raise ValueError(f"unknown task {ask.task!r}")


def _without(values: list[str], value: str) -> list[str]:
    return [v for v in values if v != value]
