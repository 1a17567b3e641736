"""From an extracted answer and the truth to an outcome. No model calls, no I/O."""

from __future__ import annotations

from vsync_models.types import Answer, Item, Outcome

__all__ = ["score_choice"]


def score_choice(answer: Answer, item: Item) -> Outcome:
    """A choice is correct, wrong, or (when no letter could be read) unparseable — never guessed."""
    if answer.letter is None:
        return Outcome.UNPARSEABLE
    return Outcome.CORRECT if answer.letter == item.correct_answer else Outcome.WRONG
