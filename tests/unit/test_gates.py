"""Coverage against the collected suite, the gates and the exit status they decide (no pytest runs)."""

from __future__ import annotations

import pytest

from vsync_models.report.gates import (
    CaseKey,
    GateStatus,
    Thresholds,
    check_gates,
    count_coverage,
    decide_exit_status,
    exit_line,
    total,
)


def suite(n: int, modality: str = "avt", task: str | None = None) -> dict[str, CaseKey]:
    return {f"t{i}-{modality}": CaseKey(1, modality, task) for i in range(n)}


def test_coverage_counts_every_collected_test_and_how_it_ended():
    collected = suite(10)
    endings = {"t0-avt": "correct", "t1-avt": "wrong", "t2-avt": "unparseable", "t3-avt": "error"}
    endings |= {"t4-avt": "skipped", "elsewhere": "correct"}  # not collected: ignored
    (row,) = count_coverage(collected, endings)
    c = row.count
    assert (c.collected, c.answered, c.error, c.skipped, c.missing) == (10, 3, 1, 1, 5)
    assert c.coverage == pytest.approx(0.3)
    assert c.accuracy == pytest.approx(1 / 3)  # over the answered, never over the collected


def test_rows_per_task_only_when_a_group_has_several():
    collected = {**suite(2, task="who_said"), **{f"u{i}-avt": CaseKey(1, "avt", "in_sync") for i in range(2)}}
    collected |= {f"v{i}-vt": CaseKey(1, "vt", "who_said") for i in range(2)}
    rows = count_coverage(collected, {})
    assert [(r.modality, r.task) for r in rows] == [
        ("avt", "all"),
        ("avt", "in_sync"),
        ("avt", "who_said"),
        ("vt", "all"),
    ]
    assert total(rows).collected == 6


def test_all_gates_hold_with_wrong_answers():
    endings = {f"t{i}-avt": "correct" if i % 2 else "wrong" for i in range(100)}
    verdict = check_gates(count_coverage(suite(100), endings), Thresholds(fail_under=40), [])
    assert verdict.failures == () and verdict.status == 0


@pytest.mark.parametrize(
    ("endings", "thresholds", "regressions", "status", "text"),
    [
        (
            {"t0-avt": "error", "t1-avt": "error", "t2-avt": "error"},
            Thresholds(),
            None,
            10,
            "INFRA: 3 of 100",
        ),
        ({"t0-avt": "skipped", "t1-avt": "skipped", "t2-avt": "skipped"}, Thresholds(), None, 11, "COVERAGE"),
        ({}, Thresholds(), ["REGRESSION: level 1 avt"], 12, "REGRESSION"),
        ({}, Thresholds(fail_under=60), None, 13, "FAIL-UNDER: level 1 avt: accuracy 50.0%"),
    ],
)
def test_each_gate_fails_with_its_own_status(endings, thresholds, regressions, status, text):
    base = {f"t{i}-avt": "correct" if i % 2 else "wrong" for i in range(100)}
    verdict = check_gates(count_coverage(suite(100), base | endings), thresholds, regressions)
    assert verdict.status == status
    assert verdict.failures[0].message.startswith(text)


def test_two_errors_in_a_hundred_are_within_the_default_budget_three_are_not():
    base = {f"t{i}-avt": "correct" for i in range(100)}
    two = check_gates(count_coverage(suite(100), base | {"t0-avt": "error", "t1-avt": "error"}), Thresholds())
    assert two.status == 0
    three = base | {"t0-avt": "error", "t1-avt": "error", "t2-avt": "error"}
    assert check_gates(count_coverage(suite(100), three), Thresholds()).status == GateStatus.ERROR_BUDGET


def test_a_partial_run_is_refused_for_comparison():
    endings = {f"t{i}-avt": "correct" for i in range(50)}  # the other 50 never ran
    verdict = check_gates(count_coverage(suite(100), endings), Thresholds(), ["REGRESSION: level 1 avt"])
    assert [f.status for f in verdict.failures] == [GateStatus.LOW_COVERAGE]
    assert "50 of 100" in verdict.failures[0].message and "50 never ran" in verdict.failures[0].message
    assert verdict.notes == (
        "regression gate refused: coverage is below --min-coverage, so the runs are not comparable",
    )


def test_the_most_basic_failure_decides_when_several_fail():
    endings = {f"t{i}-avt": "error" for i in range(50)}
    verdict = check_gates(count_coverage(suite(100), endings), Thresholds(fail_under=99), None)
    assert [f.status for f in verdict.failures] == [10, 11]  # fail-under has no answered item to judge
    assert verdict.status == GateStatus.ERROR_BUDGET


@pytest.mark.parametrize(
    ("pytest_status", "failing", "strict", "others", "expected"),
    [
        (1, False, False, 0, 0),  # wrong answers only: the gates decide
        (0, False, False, 0, 0),
        (1, False, True, 0, 1),  # --strict-items: pytest's rule
        (1, False, False, 2, 1),  # a failing test that is not a benchmark item keeps 1
        (1, True, False, 0, 13),
        (0, True, True, 0, 13),
        (2, True, False, 0, 2),  # interrupted stays interrupted
        (4, False, False, 0, 4),
        (5, False, False, 0, 5),
    ],
)
def test_exit_status(pytest_status, failing, strict, others, expected):
    endings = {f"t{i}-avt": "correct" if i % 2 else "wrong" for i in range(10)}
    verdict = check_gates(count_coverage(suite(10), endings), Thresholds(fail_under=90 if failing else None))
    assert decide_exit_status(pytest_status, verdict, strict, others) == expected


def test_statuses_do_not_collide_with_pytest():
    assert {int(s) for s in GateStatus}.isdisjoint({int(c) for c in pytest.ExitCode})


def test_the_last_line_names_the_status_and_its_meaning():
    assert exit_line(11, False) == (
        "V-SYNC exit status 11: too little of the collected suite answered (--min-coverage)"
    )
    assert exit_line(0, False).startswith("V-SYNC exit status 0: all gates hold")
    assert exit_line(1, True).endswith("(--strict-items: every wrong answer fails the run)")
    assert exit_line(1, False).endswith("tests failed that are not benchmark items")
    assert exit_line(2, False) == "V-SYNC exit status 2: interrupted"
