"""From an extracted answer and the truth to an outcome. No model calls, no I/O.

:func:`score` is the one entry point for every answer type, so a run and a later rescoring of
stored responses can never disagree: letters match exactly; an interval is correct when its IoU
with the truth reaches ``iou_threshold``; an instant when it is within ``tolerance_s``; yes/no
when it matches (a ``signed`` instant, an offset between two moments, is read with its sign). Text
that states no answer is ``unparseable``, never ``wrong``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vsync_models.scoring.answers import extract_choice
from vsync_models.scoring.time_answers import extract_interval, extract_time, extract_yes_no
from vsync_models.types import Answer, Item, Outcome

__all__ = [
    "DEFAULT_IOU_THRESHOLD",
    "DEFAULT_TOLERANCE_S",
    "Scored",
    "ScoringSettings",
    "iou",
    "score",
    "score_choice",
]

DEFAULT_IOU_THRESHOLD = 0.5
DEFAULT_TOLERANCE_S = 0.5
"""Half a second: well under the gap between two utterances of V-SYNC-Synth (>= 2 s apart), well
over a frame (0.04 s), so it separates the right moment from the neighbouring ones."""


@dataclass(frozen=True)
class ScoringSettings:
    """``benchmark.level{2,3}.{iou_threshold, tolerance_s}``."""

    iou_threshold: float = DEFAULT_IOU_THRESHOLD
    tolerance_s: float = DEFAULT_TOLERANCE_S


@dataclass(frozen=True)
class Scored:
    answer: Answer
    outcome: Outcome
    measure: float | None = None
    """IoU for intervals, absolute error in seconds for instants, else ``None``."""


def score_choice(answer: Answer, item: Item) -> Outcome:
    """A choice is correct, wrong, or (when no letter could be read) unparseable — never guessed."""
    if answer.letter is None:
        return Outcome.UNPARSEABLE
    return Outcome.CORRECT if answer.letter == item.correct_answer else Outcome.WRONG


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two intervals (0 when they do not overlap)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def score(item: Item, text: str, settings: ScoringSettings | None = None) -> Scored:
    """Extract the answer ``item`` asks for from ``text`` and score it against the truth."""
    settings = settings or ScoringSettings()
    kind = item.answer_type
    if kind == "choice":
        answer = extract_choice(text, item.options)
        return Scored(answer, score_choice(answer, item))
    if kind == "interval":
        answer = extract_interval(text)
        if answer.value is None:
            return Scored(answer, Outcome.UNPARSEABLE)
        overlap = iou(answer.value, item.answer)
        ok = overlap >= settings.iou_threshold
        return Scored(answer, Outcome.CORRECT if ok else Outcome.WRONG, overlap)
    if kind == "instant":
        answer = extract_time(text, signed=item.signed)
        if answer.value is None:
            return Scored(answer, Outcome.UNPARSEABLE)
        error = abs(answer.value - item.answer)
        ok = error <= settings.tolerance_s
        return Scored(answer, Outcome.CORRECT if ok else Outcome.WRONG, error)
    if kind == "yesno":
        answer = extract_yes_no(text)
        if answer.value is None:
            return Scored(answer, Outcome.UNPARSEABLE)
        return Scored(answer, Outcome.CORRECT if answer.value == item.answer else Outcome.WRONG)
    raise ValueError(f"unknown answer_type {kind!r}")
