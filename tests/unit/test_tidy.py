"""The tidy table: one typed row per asking, loaded by pandas in one line and written to Parquet as loaded."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

import pandas as pd

from vsync_models.record import Record, Repeat, Rotation
from vsync_models.report.results import write_results
from vsync_models.report.tidy import answer_text, tidy_path, tidy_rows, write_tidy
from vsync_models.types import Outcome

OPTIONS = ("A. the red circle", "B. the blue square", "C. the green triangle", "D. the grey star")


def choice(i: int, outcome: str, modality: str = "avt", **extra) -> Record:
    prediction = {"correct": "A", "wrong": "B"}.get(outcome)
    return Record.from_json(
        {
            "id": i,  # a number in the dataset: text in the table
            "level": 1,
            "modality": modality,
            "task": "who_said",
            "video_path": f"clip_{i}.mp4",
            "options": list(OPTIONS),
            "correct_answer": "A",
            "prediction": prediction,
            "is_correct": outcome == "correct",
            "outcome": outcome,
            "latency_s": 0.25,
            "error_kind": "server_error" if outcome == "error" else None,
            **extra,
        }
    )


def interval(i: int, prediction: list[float] | None, outcome: str) -> Record:
    return Record.from_json(
        {
            "id": f"l2-{i}",
            "level": 2,
            "modality": "vt",
            "task": "when_speaks",
            "video_path": "clip_9.mp4",
            "correct_answer": "",
            "prediction": prediction,
            "is_correct": outcome == "correct",
            "outcome": outcome,
            "answer_type": "interval",
            "answer": [1.0, 2.8],
            "iou": 0.8,
        }
    )


def test_answers_are_text_or_null():
    assert [answer_text(v) for v in ("B", "yes", 2.5, [1.0, 2.8], (0.5, 1), None)] == [
        "B",
        "yes",
        "2.5",
        "[1.0, 2.8]",
        "[0.5, 1]",
        None,
    ]


def test_one_row_per_plain_record_and_null_correctness_for_errors():
    (ok,) = tidy_rows(choice(7, "correct"), "m")
    assert asdict(ok) == {
        "model": "m",
        "level": 1,
        "modality": "avt",
        "task": "who_said",
        "id": "7",
        "clip": "clip_7.mp4",
        "repeat": 0,
        "rotation": 0,
        "expected": "A",
        "extracted": "A",
        "outcome": "correct",
        "is_correct": True,
        "latency_s": 0.25,
        "cached": False,
        "error_kind": None,
    }
    (err,) = tidy_rows(choice(8, "error"), "m")
    assert (err.is_correct, err.extracted, err.error_kind) == (None, None, "server_error")
    (timed,) = tidy_rows(interval(1, [1.2, 3.0], "correct"), "m")
    assert (timed.expected, timed.extracted, timed.is_correct) == ("[1.0, 2.8]", "[1.2, 3.0]", True)


def test_every_repeat_and_rotation_is_a_row_with_its_own_answer():
    def rotation(shift: int, prediction: str | None, outcome: Outcome, kind: str | None = None) -> Rotation:
        options = OPTIONS[shift:] + OPTIONS[:shift]
        correct = "ABCD"[(0 - shift) % 4]
        return Rotation(options, correct, prediction, outcome, "raw", 0.1, False, kind)

    def circular(answers: list[tuple[str | None, Outcome]]) -> tuple[Rotation, ...]:
        return tuple(
            rotation(s, p, o, "timeout" if o is Outcome.ERROR else None) for s, (p, o) in enumerate(answers)
        )

    c, w, e = Outcome.CORRECT, Outcome.WRONG, Outcome.ERROR
    first = circular([("A", c), ("D", c), ("A", w), ("B", c)])
    second = circular([("A", c), (None, e), ("C", c), ("B", c)])
    repeats = (
        Repeat(0, "A", c, "raw", circular_outcome=w, rotations=first),
        Repeat(1, "A", c, "raw", circular_outcome=e, rotations=second),
    )
    record = choice(3, "correct", circular_outcome="wrong")
    record = record.repeated(repeats, Outcome.ERROR, flaky=True)
    rows = tidy_rows(record, "m")
    assert [(r.repeat, r.rotation) for r in rows] == [(r, i) for r in (0, 1) for i in range(4)]
    assert [r.expected for r in rows[:4]] == ["A", "D", "C", "B"]  # each rotation's own letter
    assert [r.outcome for r in rows[4:]] == ["correct", "error", "correct", "correct"]
    assert (rows[5].is_correct, rows[5].error_kind, rows[5].extracted) == (None, "timeout", None)
    assert [r.is_correct for r in rows[:4]] == [True, True, False, True]


def test_the_table_loads_in_one_line_writes_parquet_and_gives_the_results_accuracy(tmp_path):
    records = [
        choice(0, "correct"),
        choice(1, "wrong"),
        choice(2, "unparseable"),
        choice(3, "error"),
        choice(4, "correct"),
        choice(0, "correct", "vt"),
        choice(1, "error", "vt"),
        interval(0, [1.2, 3.0], "correct"),
        interval(1, None, "unparseable"),
    ]
    results = tmp_path / "results_m_level1.json"
    write_tidy(tidy_path(results), "m", records)
    assert tidy_path(results).name == "results_m_level1.items.jsonl"
    df = pd.read_json(tidy_path(results), lines=True)
    df.to_parquet(tmp_path / "items.parquet")  # types are consistent as loaded
    back = pd.read_parquet(tmp_path / "items.parquet")
    assert back.shape == df.shape == (9, 15)
    assert set(back.extracted.dropna()) == {"A", "B", "[1.2, 3.0]"}
    accuracy = df.groupby(["level", "modality"]).is_correct.mean()
    for (level, modality), group in ((1, "avt"), records[:5]), ((1, "vt"), records[5:7]):
        doc = write_results(tmp_path / f"{level}{modality}.json", "m", modality, group)
        assert round(100 * accuracy[(level, modality)], 2) == doc["accuracy"]
    assert accuracy[(1, "avt")] == 0.5 and accuracy[(1, "vt")] == 1.0 and accuracy[(2, "vt")] == 0.5


def test_results_keep_the_original_timestamp_and_add_iso_8601(tmp_path):
    doc = write_results(
        tmp_path / "r.json", "m", "avt", [choice(0, "correct")], now=datetime(2026, 1, 2, 3, 4, 5)
    )
    assert doc["timestamp"] == "20260102_030405"
    parsed = datetime.fromisoformat(doc["timestamp_iso"])
    assert parsed.replace(tzinfo=None) == datetime(2026, 1, 2, 3, 4, 5) and parsed.utcoffset() is not None
    assert (
        json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["timestamp_iso"] == doc["timestamp_iso"]
    )
