"""Live progress (vsync_models.report.progress), --limit's choice (Dataset.limited), the cache line,
and Pipeline.drain: what the terminal of a run is computed from, with an injected clock."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from vsync_models.data.dataset import Dataset
from vsync_models.record import Record
from vsync_models.report.progress import (
    Cadence,
    Progress,
    format_progress,
    parse_cadence,
)
from vsync_models.report.reliability import format_cache_use, reliability
from vsync_models.run.pipeline import Pipeline
from vsync_models.types import Item, Outcome

C, W, U, E = Outcome.CORRECT, Outcome.WRONG, Outcome.UNPARSEABLE, Outcome.ERROR


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def running(total: int, cadence: Cadence = Cadence(step_pct=10.0)) -> tuple[Clock, Progress]:  # noqa: B008
    """A progress of ``total`` tests whose first test has just started, on a clock the test moves."""
    clock = Clock()
    progress = Progress(cadence, clock)
    progress.total = total
    progress.begin()
    return clock, progress


@pytest.mark.parametrize(
    ("text", "tty", "expected"),
    [
        ("auto", True, Cadence(every_s=5.0)),
        ("auto", False, Cadence(step_pct=10.0)),
        ("off", True, None),
        ("2.5s", False, Cadence(every_s=2.5)),
        ("5%", True, Cadence(step_pct=5.0)),
        (" 100% ", True, Cadence(step_pct=100.0)),
    ],
)
def test_cadence_values(text, tty, expected):
    assert parse_cadence(text, tty) == expected


@pytest.mark.parametrize("text", ["often", "5", "0s", "-1%", "101%", "nan%", "s", "inf s"])
def test_bad_cadence_says_what_is_allowed(text):
    with pytest.raises(ValueError, match=r"auto, off, seconds \(e\.g\. 10s\) or percent"):
        parse_cadence(text, tty=True)


def test_a_line_every_n_percent_once_per_step():
    progress = Progress(Cadence(step_pct=25.0), Clock())
    progress.total = 8
    due = []
    for _ in range(8):
        progress.finished("avt", C)
        due.append(progress.due())
    assert due == [False, True, False, True, False, True, False, True]


def test_a_line_every_n_seconds_and_only_when_something_finished():
    clock, progress = running(100, Cadence(every_s=5.0))
    clock.now += 6
    assert not progress.due(), "nothing finished yet"
    progress.finished("avt", C)
    assert progress.due()
    progress.finished("avt", C)
    clock.now += 4.9
    assert not progress.due()
    clock.now += 0.2
    assert progress.due()
    clock.now += 10
    assert not progress.due(), "no new answer since the last line"


def test_running_accuracy_gain_errors_cached_and_time_left():
    clock, progress = running(20)
    for modality, outcome, cached in [
        ("at", C, True),
        ("avt", C, True),
        ("avt", W, False),
        ("vt", U, False),
        ("vt", C, False),
        ("avt", C, False),
        ("vt", E, False),
        ("at", W, False),
    ]:
        clock.now += 0.5
        progress.finished(modality, outcome, cached)
    progress.in_flight = 7
    snap = progress.snapshot()
    assert snap.accuracy == {"avt": 2 / 3, "vt": 1 / 2, "at": 1 / 2}  # errors are not scored
    assert list(snap.accuracy) == ["avt", "vt", "at"]
    assert snap.gain == pytest.approx(2 / 3 - 1 / 2)
    assert (snap.done, snap.errors, snap.cached, snap.in_flight) == (8, 1, 2, 7)
    assert snap.rate == pytest.approx(8 / 4.0)
    assert snap.eta_s == pytest.approx(12 / 2.0)
    assert format_progress(snap) == (
        "vsync: 8/20 answered (40%) | avt 66.7% vt 50.0% at 50.0% | gain +16.7 | errors 1 | 2 cached"
        " | 7 in flight | 2.0 items/s | 6 s left"
    )


def test_no_gain_before_all_three_modalities_answered_and_no_rate_before_answers():
    progress = Progress(Cadence(step_pct=10.0), Clock())
    assert progress.snapshot().rate is None and progress.snapshot().eta_s is None
    progress.total = 3
    progress.finished("avt", C)
    progress.finished("vt", W)
    snap = progress.snapshot()
    assert snap.gain is None
    assert "gain" not in format_progress(snap)


def test_the_rate_forgets_answers_older_than_its_window():
    """A resumed run answers its first items from the cache at once; the time left must follow the
    model's pace, not those."""
    clock, progress = running(1000)
    for _ in range(500):  # cache hits, all at once
        progress.finished("avt", C, cached=True)
    clock.now += 1.0
    for _ in range(30):  # then one answer every 2 s for a minute
        clock.now += 2.0
        progress.finished("avt", C)
    assert progress.rate() == pytest.approx(30 / 60.0)
    assert progress.snapshot().eta_s == pytest.approx(470 / 0.5)


def test_time_left_reads_in_minutes_and_hours():
    clock, progress = running(10_000)
    clock.now += 60
    progress.finished("avt", C)
    assert format_progress(progress.snapshot()).endswith("0.0 items/s | 166 h 39 min left")


# -- --limit: a stratified, seeded choice -------------------------------------------------------------


def dataset(tasks: dict[str, int]) -> Dataset:
    items = []
    for task, count in tasks.items():
        for _ in range(count):
            i = len(items)
            items.append(
                Item(
                    id=f"q{i:03d}",
                    video_path="clip.mp4",
                    question=f"question {i}",
                    options=("A. x", "B. y"),
                    correct_answer="A",
                    video_file=Path("videos/clip.mp4"),
                    task=task,
                    index=i,
                )
            )
    return Dataset(tuple(items), Path("dataset.json"), Path("videos"))


def test_limit_spreads_over_tasks_in_file_order():
    full = dataset({"who_said": 40, "in_sync": 40, "said_when": 40, "event_when": 40})
    chosen = full.limited(10)
    assert len(chosen) == 10 and chosen.selected_from == 160
    assert sorted(Counter(it.task for it in chosen).values()) == [2, 2, 3, 3]
    assert [it.index for it in chosen] == sorted(it.index for it in chosen)
    assert chosen.items == full.limited(10).items, "seeded: the same choice in every process"
    assert chosen.items != full.limited(10, seed=1).items


def test_limit_gives_what_a_small_task_cannot_fill_to_the_others():
    chosen = dataset({"rare": 1, "common": 50}).limited(10)
    assert Counter(it.task for it in chosen) == {"rare": 1, "common": 9}


def test_a_larger_limit_keeps_what_a_smaller_one_chose():
    full = dataset({"a": 30, "b": 30})
    assert {it.index for it in full.limited(6)} <= {it.index for it in full.limited(12)}


def test_limit_counts_a_companion_sets_items_once_though_their_indices_restart():
    main, extra = dataset({"who_said": 10}), dataset({"event_when_speaking": 10})
    both = replace(main, items=main.items + extra.items)  # as load_dataset joins extra/*.json
    for n in (4, 6, 10):
        chosen = both.limited(n)
        assert len(chosen) == n
        assert {it.task for it in chosen} == {"who_said", "event_when_speaking"}


def test_limit_at_or_above_the_size_is_the_whole_dataset():
    full = dataset({"a": 3})
    assert full.limited(3) is full and full.limited(50) is full
    with pytest.raises(ValueError, match="at least 1"):
        full.limited(0)


# -- the cache line, and draining the requests on the wire ------------------------------------------------


def record(cached: bool, outcome: Outcome = C) -> Record:
    return Record(
        id="q1",
        video_path="c.mp4",
        question="?",
        options=(),
        correct_answer="A",
        prediction="A",
        raw_response="A",
        is_correct=outcome is C,
        modality="avt",
        outcome=outcome,
        cached=cached,
    )


def test_the_cache_line_says_what_came_from_the_cache_and_what_was_asked():
    records = [record(True), record(True), record(False), record(False, E)]
    assert format_cache_use(reliability(records)) == "answers: 2 from the response cache, 2 asked the model"


def test_drain_waits_for_the_running_jobs_only():
    release = threading.Event()
    started = threading.Event()

    def run(key: int) -> int:
        started.set()
        release.wait(30)
        return key

    pipeline: Pipeline[int, int] = Pipeline(run, concurrency=1, lookahead=4)
    pipeline.plan([1, 2, 3])
    assert started.wait(30)
    pipeline.cancel()  # 2 and 3 never start
    assert pipeline.drain(0.05) == 1, "still running when the wait ran out"
    release.set()
    assert pipeline.drain(30) == 0
    assert (pipeline.stats.completed, pipeline.stats.cancelled) == (1, 2)


def test_a_progress_line_says_the_counts_of_the_answer_that_made_it_due():
    """Under xdist another worker's report can arrive before this test's logfinish: the line that
    is written there still says the count at which its step was reached (6 of 24 at 25 %, not 7)."""
    from types import SimpleNamespace

    from vsync_models.report.gates import CaseKey
    from vsync_pytest.terminal import LiveProgress

    ledger = SimpleNamespace(collected={f"t{i}": CaseKey(1, "at") for i in range(24)})
    live = LiveProgress(ledger, "25%", clock=Clock())  # type: ignore[arg-type]
    written: list[str] = []
    tr = SimpleNamespace(isatty=lambda: False, write=lambda text, **_: written.append(text))
    live.pytest_sessionstart(
        SimpleNamespace(config=SimpleNamespace(pluginmanager=SimpleNamespace(get_plugin=lambda _: tr)))
    )  # type: ignore[arg-type]

    def report(i: int) -> SimpleNamespace:
        return SimpleNamespace(nodeid=f"t{i}", failed=True, skipped=False)

    for i in range(5):
        live.pytest_runtest_logreport(report(i))  # type: ignore[arg-type]
        live.pytest_runtest_logfinish()
    assert written == []
    live.pytest_runtest_logreport(report(5))  # type: ignore[arg-type]
    live.pytest_runtest_logreport(report(6))  # type: ignore[arg-type]  # the other worker's, first
    live.pytest_runtest_logfinish()
    assert [line.split(" answered")[0] for line in written] == ["vsync: 6/24"]
