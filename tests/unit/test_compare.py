"""Comparing two runs: reading baselines and results files, pairing, the regression verdict, the CLI."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.support import choice_record as rec
from vsync_models.__main__ import main
from vsync_models.record import Record
from vsync_models.report.compare import (
    RunInfo,
    compare_runs,
    format_comparison,
    load_run,
    run_from_records,
    save_baseline,
    stable_hash,
)
from vsync_models.report.results import write_results

INFO = RunInfo(model="m", config_hash="c0ffee", dataset="d.json", dataset_hash="da7a")


def degraded(n: int = 200, lost: int = 10, gained: int = 0) -> tuple[list[Record], list[Record]]:
    """Baseline right on all but ``gained`` items; the candidate loses ``lost`` and wins those back."""
    before = [rec(i, "wrong" if i < gained else "correct") for i in range(n)]
    after = [rec(i, "wrong" if gained <= i < gained + lost else "correct") for i in range(n)]
    return before, after


def test_ten_of_two_hundred_degraded_is_a_regression_only_when_significant():
    before, after = degraded(lost=10, gained=0)
    cmp = compare_runs(run_from_records(before, "A"), run_from_records(after, "B"))
    (group,) = cmp.groups
    assert (group.n, group.test.b, group.test.c) == (200, 10, 0)
    assert group.test.p_value == pytest.approx(2 / 2**10)
    assert group.drop_points == pytest.approx(5.0)
    assert cmp.regressions(0.05, 0.0) == [group]
    assert group.difference.interval.high < 0  # the paired CI excludes "no change"

    before, after = degraded(lost=10, gained=5)
    cmp = compare_runs(run_from_records(before, "A"), run_from_records(after, "B"))
    (group,) = cmp.groups
    assert (group.test.b, group.test.c) == (10, 5) and group.test.p_value == pytest.approx(0.3018, abs=1e-4)
    assert cmp.regressions(0.05, 0.0) == []
    assert group.verdict(0.05, 0.0) == "no significant change"


def test_min_drop_spares_small_significant_drops():
    before, after = degraded(n=2000, lost=30, gained=0)  # 1.5 points, p far below 0.05
    cmp = compare_runs(run_from_records(before, "A"), run_from_records(after, "B"))
    assert cmp.regressions(0.05, 1.0) and not cmp.regressions(0.05, 2.0)
    assert "below --min-drop" in cmp.groups[0].verdict(0.05, 2.0)


def test_unmatched_and_errored_items_are_listed_never_paired():
    a = [rec(0, "correct"), rec(1, "correct"), rec(2, "correct"), rec(3, "wrong", "vt")]
    b = [rec(0, "wrong"), rec(1, "error"), rec(4, "correct"), rec(3, "unparseable", "vt")]
    cmp = compare_runs(run_from_records(a, "A"), run_from_records(b, "B"))
    assert cmp.only_a == [(1, "avt", "q002")] and cmp.only_b == [(1, "avt", "q004")]
    assert cmp.unpaired_errors == [(1, "avt", "q001")]
    assert [(g.modality, g.n) for g in cmp.groups] == [("avt", 1), ("vt", 1)]
    changed = {(c.before.id, c.regressed) for c in cmp.changed}
    assert changed == {("q000", True), ("q003", False)}  # wrong -> unparseable changed, not regressed
    text = "\n".join(format_comparison(cmp))
    assert "only in A (not paired): 1 items — level 1 avt: q002" in text
    assert "only in B (not paired): 1 items — level 1 avt: q004" in text
    assert "error in A or B (not paired): 1 items" in text
    assert "changed items (2):" in text


def test_circular_outcomes_are_compared_when_both_runs_have_them():
    a = [rec(0, "correct", circular_outcome="correct"), rec(1, "correct", circular_outcome="correct")]
    b = [rec(0, "correct", circular_outcome="wrong"), rec(1, "correct", circular_outcome="correct")]
    cmp = compare_runs(run_from_records(a, "A"), run_from_records(b, "B"))
    assert cmp.field == "circular_outcome" and cmp.groups[0].test.b == 1
    cmp = compare_runs(run_from_records(a, "A"), run_from_records([rec(0, "correct")], "B"))
    assert cmp.field == "outcome"


def test_baseline_round_trip(tmp_path):
    path = tmp_path / "sub" / "baseline.json"
    records = [rec(0, "correct"), rec(1, "wrong", circular_outcome="wrong")]
    save_baseline(path, records, INFO, now=datetime(2026, 1, 2, 3, 4, 5))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "vsync-baseline" and doc["timestamp"] == "20260102_030405"
    assert (doc["model"], doc["config_hash"], doc["dataset_hash"]) == ("m", "c0ffee", "da7a")
    assert "video_path" not in doc["items"][0] and doc["items"][1]["circular_outcome"] == "wrong"
    run = load_run(path)
    assert run.model == "m" and set(run.items) == {(1, "avt", "q000"), (1, "avt", "q001")}
    assert not list(path.parent.glob("*.tmp"))


def test_results_files_are_runs_too_including_the_original_format(tmp_path):
    ours = tmp_path / "ours.json"
    write_results(ours, "m", "vt", [rec(0, "correct", "vt"), rec(1, "unparseable", "vt")])
    run = load_run(ours)
    assert run.items[(1, "vt", "q001")].outcome == "unparseable"
    original = tmp_path / "original.json"
    original.write_text(
        json.dumps(
            {
                "model": "gpt4o",
                "accuracy": 50.0,
                "correct": 1,
                "total": 2,
                "results": [
                    {"id": 7, "is_correct": True, "prediction": "A"},
                    {"id": 8, "is_correct": False, "prediction": "B"},
                ],
            }
        ),
        encoding="utf-8",
    )
    run = load_run(original)
    assert {k: v.outcome for k, v in run.items.items()} == {
        (1, "avt", "7"): "correct",
        (1, "avt", "8"): "wrong",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not JSON"),
        ('{"x": 1}', "neither a V-SYNC baseline nor a results file"),
        ('{"results": [{}]}', "malformed"),
    ],
)
def test_unreadable_runs_say_why(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_run(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_run(tmp_path / "missing.json")


def test_cli_prints_the_table_and_gates(tmp_path, capsys):
    before, after = degraded(lost=10, gained=0)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_baseline(a, before, INFO)
    write_results(b, "m", "avt", after)
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "changed items (10):" in out
    assert main(["compare", str(a), str(b), "--fail-on-regression"]) == 12  # as the pytest gate
    assert main(["compare", str(a), str(b), "--fail-on-regression", "--min-drop", "6"]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "… 7 more changed items (--limit N shows more)" in out and "run compare" not in out
    assert "python -m vsync_models compare" not in out
    assert main(["compare", str(a), str(tmp_path / "nope.json")]) == 4  # a usage error, as in pytest
    assert "cannot read" in capsys.readouterr().err


def test_stable_hash_ignores_key_order():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2}) and len(stable_hash({})) == 12
