"""The terminal of a benchmark run: live progress lines and progress letters that tell outcomes apart.

Wiring only: what a progress line says and when it is due is :mod:`vsync_models.report.progress`;
here test reports are fed to it on the controller (the same code with and without ``-n``: xdist
hands the controller every worker's reports) and its lines are written through pytest's own
terminal reporter, between the progress letters, so nothing fights pytest's capture or xdist
for the screen. The results table and the gate line at the end are :mod:`vsync_pytest.reporting`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from vsync_models.report.progress import Progress, format_progress, parse_cadence
from vsync_models.types import Outcome
from vsync_pytest.gates import Ledger
from vsync_pytest.session import carried, carried_payload

__all__ = ["LiveProgress", "QuietAnswers", "failures_asked", "teststatus"]

_LETTERS = {
    Outcome.WRONG: ("W", ("WRONG", {"red": True})),
    Outcome.UNPARSEABLE: ("U", ("UNPARSEABLE", {"yellow": True})),
}


def teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, Any] | None:
    """``W`` for a wrong answer and ``U`` for an unparseable one (``.`` correct and ``E``
    infrastructure are pytest's own). Both stay *failed* tests for pytest (its counts, exit
    status, JUnit, ``--lf``, ``-x``); only the letter and the verbose word tell them apart."""
    if report.when != "call" or not report.failed:
        return None
    got = carried(report)
    if got is None or got[1].verdict not in _LETTERS:
        return None
    letter, word = _LETTERS[got[1].verdict]
    return "failed", letter, word


class QuietAnswers:
    """No ``FAILED`` line and no failure section per wrong or unparseable answer unless asked for
    (:func:`failures_asked`): a benchmark's wrong answers are its results, the table counts them,
    and each one's whole exchange is in the HTML report. Other failures and every error keep
    their sections and lines.

    pytest lists failures from its reporter's ``stats["failed"]`` in its terminal summary; the
    answers are left out of that list for the summary and put back after it, so pytest's last
    line (``21 failed, 9 passed``) still counts them."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> Any:
        stats = terminalreporter.stats
        failed = stats.get("failed")
        if not failed or failures_asked(config):
            return (yield)
        stats["failed"] = [r for r in failed if teststatus(r, config) is None]
        try:
            return (yield)
        finally:
            stats["failed"] = failed


def failures_asked(config: pytest.Config) -> bool:
    """``--strict-items``, or ``-r`` with ``f`` on the command line (``-rf``, ``-rfE``; not ``-ra``,
    which the project's ini settings give every run): wrong answers are then listed with their
    whole exchange, as pytest lists failures."""
    return bool(config.getoption("strict_items")) or _rf_given(config)


def _rf_given(config: pytest.Config) -> bool:
    args = list(config.invocation_params.args)
    chars = ""
    for i, arg in enumerate(args):  # the last -r wins, as in pytest
        if arg == "-r" and i + 1 < len(args):
            chars = args[i + 1]
        elif arg.startswith("-r") and not arg.startswith("--"):
            chars = arg[2:]
    chars = chars.rsplit("N", 1)[-1]
    return "f" in chars.lower() and not {"a", "A"} & set(chars)


class LiveProgress:
    """Controller only: one progress line at a time between the progress letters."""

    def __init__(
        self, ledger: Ledger, cadence_text: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ledger = ledger
        self.cadence_text = cadence_text
        self.clock = clock
        self.progress: Progress | None = None
        self._seen: set[str] = set()
        self._in_flight: dict[str, int] = {}
        self._tr: Any = None
        self._due: list[str] = []

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        tr = self._tr = session.config.pluginmanager.get_plugin("terminalreporter")
        tty = bool(tr is not None and tr.isatty())
        cadence = parse_cadence(self.cadence_text, tty)  # checked at configure; here the terminal is known
        self.progress = Progress(cadence, self.clock)

    def pytest_runtest_logstart(self) -> None:
        if self.progress is not None:
            self.progress.begin()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        progress = self.progress
        nodeid = report.nodeid
        if progress is None or nodeid in self._seen:
            return
        key = self.ledger.collected.get(nodeid)
        got = carried_payload(report)
        if got is not None:
            record = got.record
            outcome = Outcome.ERROR if record.verdict is Outcome.ERROR else record.outcome
            progress.finished(record.modality, outcome, record.cached)
            self._in_flight[str(getattr(report, "worker_id", ""))] = got.in_flight
        elif key is not None and report.failed:  # a benchmark test that broke before it recorded
            progress.finished(key.modality, Outcome.ERROR)
        elif key is not None and report.skipped:
            progress.skipped()
        else:
            return
        self._seen.add(nodeid)
        progress.total = len(self.ledger.collected)
        progress.in_flight = sum(self._in_flight.values())
        # the line says the counts at the answer that made it due: under xdist another worker's
        # answer may arrive before this test's logfinish, and it must not shift the line's numbers
        if progress.due() and self._tr is not None:
            self._due.append(format_progress(progress.snapshot()))

    def pytest_runtest_logfinish(self) -> None:
        """After the test's letter (pytest writes it with the test's last report), so a line never
        splits a file name from its letters."""
        tr = self._tr
        if not self._due:
            return
        if getattr(getattr(tr, "_tw", None), "width_of_current_line", 0):
            tr.write("\n")  # the progress letters so far keep their row; they go on below
        for line in self._due:
            tr.write(line + "\n", cyan=True)
        self._due.clear()
