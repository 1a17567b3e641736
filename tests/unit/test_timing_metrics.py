"""Level-2/3 metrics from result records: IoU recall, instant error, first-"yes" timing per clip."""

from __future__ import annotations

import pytest

from vsync_models.record import Record
from vsync_models.report.stats import summarize
from vsync_models.report.timing_metrics import GroundingMetrics, TurnMetrics, timing_metrics
from vsync_pytest.reporting import format_summary


def rec(**fields) -> Record:
    base = {"level": 2, "modality": "avt", "outcome": "correct", "id": "x", "video_path": "c.mp4"}
    return Record.from_json(base | fields)


def test_grounding_metrics_count_unparseable_as_zero_iou_and_skip_it_in_mae() -> None:
    records = [
        rec(id=1, answer_type="interval", iou=1.0),
        rec(id=2, answer_type="interval", iou=0.6, outcome="correct"),
        rec(id=3, answer_type="interval", iou=0.4, outcome="wrong"),
        rec(id=4, answer_type="interval", iou=None, outcome="unparseable"),
        rec(id=5, answer_type="instant", abs_error_s=0.2),
        rec(id=6, answer_type="instant", abs_error_s=1.0, outcome="wrong"),
        rec(id=7, answer_type="instant", abs_error_s=None, outcome="unparseable"),
        rec(id=8, answer_type="interval", iou=None, outcome="error"),
        rec(id=9, answer_type="choice", modality="vt"),
    ]
    (m,) = timing_metrics(records)
    assert isinstance(m, GroundingMetrics) and (m.level, m.modality) == (2, "avt")
    assert m.intervals == 4 and m.mean_iou == pytest.approx(0.5)
    assert m.recall == {0.3: 0.75, 0.5: 0.5, 0.7: 0.25}
    assert (m.instants, m.parsed_instants, m.mae_s) == (3, 2, pytest.approx(0.6))


def cut(group: str, t: float, answer: str, said: str | None, modality: str = "avt", **extra) -> Record:
    return rec(
        level=3,
        modality=modality,
        answer_type="yesno",
        group=group,
        cut_s=t,
        answer=answer,
        prediction=said,
        **extra,
    )


def test_first_yes_timing_separates_interruption_latency_and_misses() -> None:
    records = [
        # on time
        cut("a", 2.0, "no", "no"),
        cut("a", 4.0, "yes", "yes"),
        cut("a", 6.0, "no", "yes"),
        # interruption: says yes at 2.0, should have waited until 6.0
        cut("b", 6.0, "yes", "no"),
        cut("b", 2.0, "no", "yes"),
        # latency: right moment 2.0, first yes 5.0
        cut("c", 2.0, "yes", "no"),
        cut("c", 5.0, "no", "yes"),
        # never says yes
        cut("d", 2.0, "yes", None),
        # no right moment: left out
        cut("e", 2.0, "no", "yes"),
    ]
    (m,) = timing_metrics(records)
    assert isinstance(m, TurnMetrics)
    assert (m.clips, m.on_time, m.early_s, m.late_s, m.missed) == (4, 1, (4.0,), (3.0,), 1)
    assert m.mean_interruption_s == 4.0 and m.mean_latency_s == 3.0


def test_summary_shows_the_level_metrics_next_to_accuracy() -> None:
    records = [
        rec(id=1, answer_type="interval", iou=1.0, options=[]),
        cut("a", 2.0, "yes", "yes", id=2),
        cut("a", 2.0, "yes", "no", modality="vt", id=2, outcome="wrong"),
    ]
    lines = format_summary(summarize(records, n_boot=50))
    text = "\n".join(lines)
    assert "timing (levels 2/3):" in text
    assert "level 2 avt  intervals n=1: mean IoU 1.00, R@0.3 100.0% R@0.5 100.0% R@0.7 100.0%" in text
    assert "level 3 vt   first yes over 1 clips: on time 0" in text and "never 1" in text


def test_the_cuts_of_one_clip_are_one_cluster() -> None:
    """Level-3 cuts are separate files of one clip: their answers are correlated, so the CI widens."""
    records = []
    for clip in range(6):
        right = clip % 2 == 0  # a model that gets whole clips right or wrong
        for k in range(4):
            records.append(
                cut(
                    f"c{clip}",
                    float(k),
                    "yes",
                    "yes" if right else "no",
                    id=f"{clip}-{k}",
                    video_path=f"c{clip}_cut{k}.mp4",
                    outcome="correct" if right else "wrong",
                )
            )
    (group,) = summarize(records, n_boot=50).groups
    assert group.clustered is not None and group.clustered.clusters == 6 and group.clustered.design_effect > 1


def test_html_item_shows_the_time_answer_and_its_iou() -> None:
    from vsync_models.report.html import item_html

    html = item_html(
        rec(
            id="l2-1",
            question="When?",
            answer_type="interval",
            correct_answer="1-2.8 s",
            prediction=[1.0, 3.0],
            iou=0.9,
            raw_response="from 1 s to 3 s",
            outcome="correct",
        ),
    )
    assert "expected <b>1-2.8 s</b>" in html and "[1.0, 3.0]" in html and "IoU 0.90" in html
