"""A dataset's task becomes a pytest marker: a name pytest (or a plugin, or V-SYNC itself) already
obeys is refused before any item runs, so no task can skip, xfail, abort or widen a selection."""

from __future__ import annotations

import pytest

from tests.support import choice_items, write_dataset


def dataset_with_task(bench: pytest.Pytester, task: str) -> None:
    items = choice_items(6, answers="BC")  # the constant model answers A: every item is wrong
    for i, item in enumerate(items):
        item["task"] = task if i % 2 == 0 else "who_said"
    write_dataset(bench.path / "data" / "level_1", items)


@pytest.mark.parametrize(
    "task",
    [
        "skip",
        "skipif",
        "xfail",
        "usefixtures",
        "parametrize",
        "filterwarnings",
        "vt",
        "level2",
        "benchmark",
        "not",
    ],
)
def test_a_task_named_like_a_marker_pytest_obeys_is_a_usage_error(bench, task):
    dataset_with_task(bench, task)
    res = bench.runpytest("--model", "constant", "--strict-items")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    text = res.stderr.str()
    assert f"task {task!r} (items q000, q002, q004)" in text
    assert "dataset.json" in text and "rename the task" in text
    assert "passed" not in res.stdout.str() and "xfail" not in res.stdout.str()


def test_a_refused_task_stops_an_xdist_run_before_any_worker(bench):
    dataset_with_task(bench, "xfail")
    res = bench.runpytest("--model", "constant", "--strict-items", "-n", "2")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "task 'xfail'" in res.stderr.str()


def test_an_ordinary_task_still_selects_with_m(bench):
    items = choice_items(6, answers="A")
    for i, item in enumerate(items):
        item["task"] = "in_sync" if i % 2 == 0 else "who_said"
    write_dataset(bench.path / "data" / "level_1", items)
    res = bench.runpytest("--model", "constant", "-m", "in_sync and vt", "--strict-items")
    res.assert_outcomes(passed=3, deselected=15)


def test_task_markers_are_listed(bench):
    res = bench.runpytest("--markers")
    res.stdout.fnmatch_lines(["@pytest.mark.who_said: V-SYNC task type"])
