"""Results files (original format + our fields) and outcome counting."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from vsync_models.record import Record
from vsync_models.report.results import read_results, results_path, write_results
from vsync_models.report.stats import Tally, tally_by


def rec(i: int, outcome: str, modality: str = "avt", task: str | None = "who_said") -> Record:
    return Record.from_json(
        {
            "id": f"q{i}",
            "video_path": f"c{i}.mp4",
            "question": "?",
            "options": ["A. a", "B. b"],
            "correct_answer": "A",
            "prediction": {"correct": "A", "wrong": "B"}.get(outcome),
            "raw_response": "",
            "is_correct": outcome == "correct",
            "modality": modality,
            "level": 1,
            "task": task,
            "outcome": outcome,
        }
    )


def test_accuracy_excludes_errors_but_counts_unparseable():
    t = Tally()
    for outcome in ["correct", "correct", "wrong", "unparseable", "error", "error"]:
        t.add(outcome)
    assert (t.scored, t.total, t.error) == (4, 6, 2)
    assert t.accuracy == 50.0
    assert Tally().accuracy is None
    with pytest.raises(ValueError):
        t.add("maybe")


def test_tally_by_groups():
    groups = tally_by(
        [rec(1, "correct"), rec(2, "wrong", "vt"), rec(3, "correct", "vt")], lambda r: r.modality
    )
    assert groups["avt"].accuracy == 100.0 and groups["vt"].accuracy == 50.0


def test_results_paths_keep_the_original_name_for_avt(tmp_path):
    assert results_path(tmp_path, "random", 1, "avt") == tmp_path / "results_random_level1.json"
    assert (
        results_path(tmp_path, "openai:gpt-4o", 1, "vt") == tmp_path / "results_openai_gpt-4o_level1_vt.json"
    )
    assert results_path(tmp_path, "m", 1, "at", "out_{model}.json") == tmp_path / "out_m_at.json"


def test_written_file_is_the_original_format_plus_extras(tmp_path):
    path = tmp_path / "r.json"
    records = [rec(1, "correct"), rec(2, "wrong"), rec(3, "unparseable"), rec(4, "error")]
    write_results(path, "random", "avt", records, now=datetime(2026, 1, 2, 3, 4, 5))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["model"] == "random" and doc["timestamp"] == "20260102_030405"
    assert (doc["accuracy"], doc["correct"], doc["total"]) == (33.33, 1, 3)
    assert (doc["errors"], doc["unparseable"], doc["modality"]) == (1, 1, "avt")
    original_fields = {
        "id",
        "video_path",
        "question",
        "options",
        "correct_answer",
        "prediction",
        "raw_response",
        "is_correct",
    }
    assert all(original_fields <= set(r) for r in doc["results"])
    assert read_results(path)["results"][0]["id"] == "q1"
    assert not list(tmp_path.glob("*.tmp"))


def test_reading_rejects_foreign_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="not a V-SYNC results file"):
        read_results(path)
