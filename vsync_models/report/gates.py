"""Coverage against the collected suite, the gates, and the exit status they decide.

A score is only as honest as its denominator. The number of benchmark tests is fixed
when they are collected; every test then ends answered (correct, wrong, unparseable),
as an infrastructure error, skipped, or not at all (a killed or interrupted run).
Accuracy is computed over the answered ones, and *coverage* = answered / collected
says how much of the suite that is, so a partial run can never look complete.

Gates, checked in this order (the first that fails gives the exit status):

==========  ======================================================================
status      gate
==========  ======================================================================
10          ``--max-error-rate``: more infrastructure errors than the budget
11          ``--min-coverage``: a level × modality answered less of its collected suite
12          ``--fail-on-regression``: a significant, large enough drop against the baseline
13          ``--fail-under``: the accuracy of a level × modality is below the threshold
==========  ======================================================================

Not a gate, and before every gate: status 14 says that a results or records file (or the
baseline) could not be written, e.g. the disk is full; the files of earlier runs stay whole.

The numbers stay clear of pytest's own 0-5. In a benchmark run wrong answers are
failed tests but do not decide the exit status; the gates do (``--strict-items``
restores pytest's "any failure fails"). No pytest here: the plugin feeds this module
plain data (:mod:`vsync_pytest.gates`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from vsync_models.report.compare import text_table
from vsync_models.report.stats import ALL_TASKS
from vsync_models.types import MODALITY_ORDER

__all__ = [
    "ENDINGS",
    "CaseKey",
    "Count",
    "CoverageRow",
    "GateFailure",
    "GateStatus",
    "Thresholds",
    "Verdict",
    "check_gates",
    "count_coverage",
    "coverage_rows_shown",
    "decide_exit_status",
    "exit_line",
    "format_coverage",
    "total",
]

ENDINGS = ("correct", "wrong", "unparseable", "error", "skipped")
"""How a collected test can end; a test with none of these is *missing* (never ran to the end)."""


class GateStatus(enum.IntEnum):
    """Exit statuses of a benchmark run beyond pytest's 0-5: gates that fail, and output not written."""

    ERROR_BUDGET = 10
    LOW_COVERAGE = 11
    REGRESSION = 12
    BELOW_THRESHOLD = 13
    NOT_WRITTEN = 14

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    GateStatus.ERROR_BUDGET: "infrastructure errors over the budget (--max-error-rate)",
    GateStatus.LOW_COVERAGE: "too little of the collected suite answered (--min-coverage)",
    GateStatus.REGRESSION: "significant regression against the baseline (--fail-on-regression)",
    GateStatus.BELOW_THRESHOLD: "accuracy below the threshold (--fail-under)",
    GateStatus.NOT_WRITTEN: "results or records could not be written (see the message above); "
    "the files of earlier runs are whole",
}


@dataclass(frozen=True)
class CaseKey:
    """Where a collected test counts: its level, modality and task."""

    level: int
    modality: str
    task: str | None = None


@dataclass
class Count:
    """Endings of the tests of one group, against how many were collected."""

    collected: int = 0
    correct: int = 0
    wrong: int = 0
    unparseable: int = 0
    error: int = 0
    skipped: int = 0

    @property
    def answered(self) -> int:
        return self.correct + self.wrong + self.unparseable

    @property
    def missing(self) -> int:
        """Collected but never ended: the run was killed, interrupted or stopped (``-x``)."""
        return max(0, self.collected - self.answered - self.error - self.skipped)

    @property
    def coverage(self) -> float | None:
        """answered / collected, in [0, 1]; ``None`` when nothing was collected."""
        return self.answered / self.collected if self.collected else None

    @property
    def accuracy(self) -> float | None:
        """correct / answered, in [0, 1]."""
        return self.correct / self.answered if self.answered else None

    @property
    def error_rate(self) -> float | None:
        return self.error / self.collected if self.collected else None


@dataclass(frozen=True)
class CoverageRow:
    level: int
    modality: str
    task: str
    count: Count


def count_coverage(collected: Mapping[str, CaseKey], endings: Mapping[str, str]) -> list[CoverageRow]:
    """Rows per level × modality (task ``"all"``) and per task inside it, for the collected tests.

    ``endings`` maps test ids to one of :data:`ENDINGS`; ids that were not collected are
    ignored (they are not benchmark items of this run).
    """
    buckets: dict[tuple[int, str, str], Count] = {}
    tasks: dict[tuple[int, str], set[str]] = {}
    for test_id, key in collected.items():
        groups = [(key.level, key.modality, ALL_TASKS)]
        if key.task:
            groups.append((key.level, key.modality, key.task))
            tasks.setdefault((key.level, key.modality), set()).add(key.task)
        ending = endings.get(test_id)
        for group in groups:
            count = buckets.setdefault(group, Count())
            count.collected += 1
            if ending is not None:
                setattr(count, ending, getattr(count, ending) + 1)
    for (level, modality), names in tasks.items():
        if len(names) == 1:  # one task would only repeat "all"
            buckets.pop((level, modality, next(iter(names))), None)
    order = sorted(buckets, key=lambda k: (k[0], MODALITY_ORDER.get(k[1], 9), k[1], k[2] != ALL_TASKS, k[2]))
    return [
        CoverageRow(level, modality, task, buckets[(level, modality, task)])
        for level, modality, task in order
    ]


def total(rows: Iterable[CoverageRow]) -> Count:
    """The whole run: the sum of the level × modality rows."""
    out = Count()
    for row in rows:
        if row.task == ALL_TASKS:
            for name in ("collected", *ENDINGS):
                setattr(out, name, getattr(out, name) + getattr(row.count, name))
    return out


@dataclass(frozen=True)
class Thresholds:
    """The gate settings of a run."""

    min_coverage: float = 0.98
    """Fraction in [0, 1]."""
    max_error_rate: float = 0.02
    """Fraction in [0, 1]."""
    fail_under: float | None = None
    """Percent, as ``--fail-under`` is given."""


@dataclass(frozen=True)
class GateFailure:
    status: GateStatus
    message: str


@dataclass(frozen=True)
class Verdict:
    failures: tuple[GateFailure, ...] = ()
    notes: tuple[str, ...] = field(default=())
    """Why a gate was not checked (e.g. a comparison refused for low coverage)."""

    @property
    def status(self) -> int:
        return min((f.status for f in self.failures), default=0)

    @property
    def coverage_ok(self) -> bool:
        return not any(f.status is GateStatus.LOW_COVERAGE for f in self.failures)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def check_gates(
    rows: Sequence[CoverageRow],
    thresholds: Thresholds,
    regressions: Sequence[str] | None = None,
    baseline_coverage: float | None = None,
) -> Verdict:
    """Every failing gate with a message that says why.

    ``regressions`` are the messages of significant drops (``None`` when no regression
    gate was asked for); they are refused, with a note, when coverage is too low:
    comparing a partial run with a complete one compares different items. A baseline
    that was itself partial (``baseline_coverage``, a fraction, when its file says) cannot
    be gated against either: the regression gate then fails as a coverage failure.
    """
    failures: list[GateFailure] = []
    notes: list[str] = []
    whole = total(rows)
    if whole.error_rate is not None and whole.error_rate > thresholds.max_error_rate:
        failures.append(
            GateFailure(
                GateStatus.ERROR_BUDGET,
                f"INFRA: {whole.error} of {whole.collected} collected items ended in infrastructure errors "
                f"({_pct(whole.error_rate)} > --max-error-rate {_pct(thresholds.max_error_rate)}); "
                "the model or its endpoint failed, not the answers",
            )
        )
    for row in rows:
        cov = row.count.coverage
        if row.task == ALL_TASKS and cov is not None and cov < thresholds.min_coverage:
            c = row.count
            failures.append(
                GateFailure(
                    GateStatus.LOW_COVERAGE,
                    f"COVERAGE: level {row.level} {row.modality}: {c.answered} of {c.collected} collected items "
                    f"answered ({_pct(cov)} < --min-coverage {_pct(thresholds.min_coverage)}; "
                    f"{c.error} errors, {c.skipped} skipped, {c.missing} never ran): the run is partial",
                )
            )
    if (
        regressions is not None
        and baseline_coverage is not None
        and baseline_coverage < thresholds.min_coverage
    ):
        failures.append(
            GateFailure(
                GateStatus.LOW_COVERAGE,
                f"COVERAGE: the baseline answered {_pct(baseline_coverage)} of its collected items "
                f"(< --min-coverage {_pct(thresholds.min_coverage)}): no regression gate against a partial run",
            )
        )
    covered = not any(f.status is GateStatus.LOW_COVERAGE for f in failures)
    if regressions is not None and not covered:
        notes.append(
            "regression gate refused: coverage is below --min-coverage, so the runs are not comparable"
        )
    elif regressions:
        failures.extend(GateFailure(GateStatus.REGRESSION, m) for m in regressions)
    if thresholds.fail_under is not None:
        for row in rows:
            acc = row.count.accuracy
            if row.task == ALL_TASKS and acc is not None and 100 * acc < thresholds.fail_under:
                failures.append(
                    GateFailure(
                        GateStatus.BELOW_THRESHOLD,
                        f"FAIL-UNDER: level {row.level} {row.modality}: accuracy {_pct(acc)} "
                        f"< --fail-under {thresholds.fail_under:g}%",
                    )
                )
    failures.sort(key=lambda f: f.status)
    return Verdict(tuple(failures), tuple(notes))


# pytest's exit statuses, by value (this module does not import pytest)
_OK, _TESTS_FAILED, _INTERRUPTED, _INTERNAL_ERROR, _USAGE_ERROR, _NO_TESTS = range(6)


def decide_exit_status(
    pytest_status: int, verdict: Verdict, strict: bool, other_failures: int, not_written: bool = False
) -> int:
    """The session's exit status in a benchmark run.

    Interrupts, internal and usage errors and "no tests" keep pytest's status. Output that could
    not be written (``not_written``) gives 14, before any gate. A failing gate gives its own. Otherwise the run passes, even with wrong answers, unless
    ``strict`` (``--strict-items``) asks for pytest's rule or tests that are not benchmark
    items failed (``other_failures``).
    """
    if pytest_status in (_INTERRUPTED, _INTERNAL_ERROR, _USAGE_ERROR, _NO_TESTS):
        return pytest_status
    if not_written:
        return int(GateStatus.NOT_WRITTEN)
    if verdict.failures:
        return verdict.status
    if strict or other_failures:
        return pytest_status
    return _OK


def coverage_rows_shown(rows: Sequence[CoverageRow], every_task: bool = False) -> list[CoverageRow]:
    """Per-task rows only where a task is incomplete (unless ``every_task``): the accuracy
    table already has them, and a complete run should read in three lines."""
    return [r for r in rows if every_task or r.task == ALL_TASKS or r.count.answered < r.count.collected]


def format_coverage(rows: Sequence[CoverageRow], every_task: bool = False) -> list[str]:
    """The coverage table: the denominator fixed at collection, and how each test ended."""
    rows = coverage_rows_shown(rows, every_task)
    header = ["level", "modality", "task", "collected", "answered", "accuracy", "coverage"]
    header += ["errors", "unparseable", "skipped", "never ran"]
    body = []
    for row in rows:
        c = row.count
        body.append(
            [
                str(row.level),
                row.modality,
                row.task,
                str(c.collected),
                str(c.answered),
                _pct(c.accuracy) if c.accuracy is not None else "-",
                _pct(c.coverage) if c.coverage is not None else "-",
                str(c.error),
                str(c.unparseable),
                str(c.skipped),
                str(c.missing),
            ]
        )
    out = ["coverage: the denominator is fixed when the tests are collected", *text_table(header, body)]
    out.append("coverage = answered / collected; accuracy = correct / answered (wrong and unparseable count)")
    return out


_PYTEST_MEANINGS = {
    _OK: "all gates hold (coverage, error budget, --fail-under, --fail-on-regression where given); "
    "wrong answers are results (W), not a failed run",
    _INTERRUPTED: "interrupted",
    _INTERNAL_ERROR: "internal error",
    _USAGE_ERROR: "usage error",
    _NO_TESTS: "no tests collected",
}


def exit_line(status: int, strict: bool) -> str:
    """The run's last line: its exit status and what it means."""
    if status in {int(s) for s in GateStatus}:
        why = GateStatus(status).meaning
    elif status == _TESTS_FAILED:
        why = "tests failed" + (
            " (--strict-items: every wrong answer fails the run)"
            if strict
            else " that are not benchmark items"
        )
    else:
        why = _PYTEST_MEANINGS.get(status, "pytest's status")
    return f"V-SYNC exit status {status}: {why}"
