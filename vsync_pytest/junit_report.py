"""JUnit XML (``--junitxml``): flat properties a CI dashboard can show, per test and per run.

Each benchmark ``<testcase>`` carries ``level``, ``modality``, ``task``, ``outcome``, ``extracted``,
``expected`` and ``error_kind`` (empty when it does not apply), as user properties set where the
test ran (they travel to the controller with the report, under xdist too). The ``<testsuite>``
carries the run's ``model``, ``config_hash``, ``dataset_hash``, the accuracy per level × modality
and the synchrony gain per level, added on the controller just before pytest writes the file.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from vsync_models.record import Record
from vsync_models.report.compare import RunInfo
from vsync_models.report.stats import RunSummary
from vsync_models.report.tidy import answer_text, expected_text

__all__ = ["JunitSuite", "testcase_properties"]


def testcase_properties(record: Record) -> list[tuple[str, str]]:
    """The flat properties of one test (the verdict over rotations and repeats as ``outcome``)."""
    values = {
        "level": str(record.level),
        "modality": record.modality,
        "task": record.task,
        "outcome": record.verdict.value,
        "extracted": answer_text(record.prediction),
        "expected": expected_text(record),
        "error_kind": record.error_kind,
    }
    return [(name, value or "") for name, value in values.items()]


def suite_properties(info: RunInfo, summary: RunSummary) -> list[tuple[str, str]]:
    """The run's facts and headline numbers."""
    return [
        ("model", info.model),
        ("config_hash", info.config_hash),
        ("dataset_hash", info.dataset_hash),
        *summary.headline(),
    ]


class JunitSuite:
    """Registered on the controller only, with ``--junitxml``."""

    def __init__(self, info: Callable[[], RunInfo], summary: Callable[[], RunSummary | None]) -> None:
        self._info, self._summary = info, summary

    @pytest.hookimpl(tryfirst=True)  # before pytest's junitxml writes the file in its own sessionfinish
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # pytest keeps its JUnit writer under this stash key; record_testsuite_property, the public
        # way, is a fixture and does nothing on xdist workers, so the controller adds them here.
        from _pytest.junitxml import xml_key

        xml = session.config.stash.get(xml_key, None)
        summary = self._summary()
        if xml is None or summary is None:
            return
        for name, value in suite_properties(self._info(), summary):
            xml.add_global_property(name, value)
