"""One scoring entry point: letters, IoU against a threshold, an instant within a tolerance, yes/no."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsync_models.scoring.score import ScoringSettings, iou, score
from vsync_models.types import Item, Outcome

BASE = Item(
    id="x", video_path="c.mp4", question="q", options=(), correct_answer="", video_file=Path("c.mp4"), level=2
)


def test_iou_of_known_pairs() -> None:
    assert iou((0, 2), (0, 2)) == 1.0
    assert iou((0, 2), (1, 3)) == pytest.approx(1 / 3)
    assert iou((0, 1), (2, 3)) == 0.0
    assert iou((0, 4), (1, 2)) == pytest.approx(0.25)


@given(a=st.tuples(st.floats(0, 50), st.floats(0.01, 10)), b=st.tuples(st.floats(0, 50), st.floats(0.01, 10)))
def test_iou_is_symmetric_and_bounded(a: tuple[float, float], b: tuple[float, float]) -> None:
    x, y = (a[0], a[0] + a[1]), (b[0], b[0] + b[1])
    assert iou(x, y) == pytest.approx(iou(y, x))
    assert 0.0 <= iou(x, y) <= 1.0 + 1e-12


def test_interval_passes_at_the_iou_threshold() -> None:
    item = replace(BASE, answer_type="interval", answer=(2.0, 4.0))
    scored = score(item, "from 2.0 s to 4.0 s")
    assert scored.outcome is Outcome.CORRECT and scored.measure == pytest.approx(1.0)
    half = score(item, "from 3.0 s to 5.0 s")  # IoU 1/3
    assert half.outcome is Outcome.WRONG and half.measure == pytest.approx(1 / 3)
    assert score(item, "from 3.0 s to 5.0 s", ScoringSettings(iou_threshold=0.3)).outcome is Outcome.CORRECT
    assert score(item, "2.5-4.0").outcome is Outcome.CORRECT  # IoU 0.75
    unread = score(item, "I cannot tell")
    assert unread.outcome is Outcome.UNPARSEABLE and unread.measure is None


def test_instant_passes_within_the_tolerance() -> None:
    item = replace(BASE, answer_type="instant", answer=4.0)
    assert score(item, "4.4 s").outcome is Outcome.CORRECT
    late = score(item, "4.6 s")
    assert late.outcome is Outcome.WRONG and late.measure == pytest.approx(0.6)
    assert score(item, "4.6 s", ScoringSettings(tolerance_s=1.0)).outcome is Outcome.CORRECT
    assert score(item, "3 to 5 s").outcome is Outcome.UNPARSEABLE


def test_a_signed_instant_is_read_with_its_sign_and_passes_within_the_tolerance() -> None:
    before = replace(BASE, answer_type="instant", answer=-1.2, signed=True)
    assert score(before, "-1.2 s").outcome is Outcome.CORRECT
    assert score(before, "Answer: -0.8 s").outcome is Outcome.CORRECT  # 0.4 s off
    assert score(before, "1.2 s before the sentence").outcome is Outcome.CORRECT
    flipped = score(before, "+1.2 s")  # the right size, the wrong side: 2.4 s off
    assert flipped.outcome is Outcome.WRONG and flipped.measure == pytest.approx(2.4)
    assert score(before, "-1.2 s after").outcome is Outcome.UNPARSEABLE  # sign and word disagree
    assert score(replace(before, answer=0.3), "-0.1 s").outcome is Outcome.CORRECT  # across zero
    unsigned = replace(before, answer=1.2, signed=False)  # a time in the clip reads the number alone
    assert score(unsigned, "-1.2 s").outcome is Outcome.CORRECT


def test_yes_no_and_choice() -> None:
    yes = replace(BASE, level=3, answer_type="yesno", answer="yes")
    assert score(yes, "Yes.").outcome is Outcome.CORRECT
    assert score(yes, "No").outcome is Outcome.WRONG
    assert score(yes, "hmm").outcome is Outcome.UNPARSEABLE
    choice = replace(BASE, options=("A. one", "B. two"), correct_answer="B")
    assert score(choice, "B").outcome is Outcome.CORRECT
    assert score(choice, "Answer: A").outcome is Outcome.WRONG
