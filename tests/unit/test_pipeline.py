"""vsync_models.run.pipeline: planned jobs run ahead on N threads, results are taken per key, cancel stops
what has not started, and rate limits space real calls (fake clock, no sleeping)."""

from __future__ import annotations

import threading

import pytest

from vsync_models.models.base import ModelOutput
from vsync_models.run.pipeline import Cancelled, Pipeline, RateLimitedModel, RateLimiter

WAIT_S = 10.0  # only a bound against a hang; nothing asserts on time


class Gate:
    """A job that blocks until released and records which keys started."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[int] = []
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def __call__(self, key: int) -> str:
        with self.changed:
            self.started.append(key)
            self.changed.notify_all()
        assert self.release.wait(WAIT_S)
        return f"result {key}"

    def wait_started(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.started) >= n, WAIT_S)


def test_planned_keys_run_concurrency_at_a_time_and_results_belong_to_their_key() -> None:
    gate = Gate()
    pipe = Pipeline(gate, concurrency=4, lookahead=8)
    keys = list(range(20))
    pipe.plan(keys)
    gate.wait_started(4)
    assert pipe.stats.in_flight == 4 and pipe.stats.submitted == 8  # 4 running, 4 queued, rest planned
    assert sorted(gate.started) == [0, 1, 2, 3]
    gate.release.set()
    for i, key in enumerate(keys):
        pipe.plan(keys[i:])
        assert pipe.result(key) == f"result {key}"
    assert pipe.stats.peak_in_flight == 4
    assert pipe.stats.started == 20 and sorted(gate.started) == keys  # each key ran exactly once


def test_result_of_an_unplanned_key_runs_it_first() -> None:
    seen: list[str] = []
    pipe = Pipeline(lambda k: seen.append(k) or k.upper(), concurrency=2)
    assert pipe.result("x") == "X"
    with pytest.raises(KeyError):
        pipe.result("x")  # taken once; never run twice
    assert seen == ["x"]


def test_a_job_error_reaches_only_its_own_key() -> None:
    def job(key: int) -> int:
        if key == 2:
            raise ValueError("boom 2")
        return key

    pipe = Pipeline(job, concurrency=3)
    pipe.plan(range(5))
    assert [pipe.result(k) for k in (0, 1)] == [0, 1]
    with pytest.raises(ValueError, match="boom 2"):
        pipe.result(2)
    assert [pipe.result(k) for k in (3, 4)] == [3, 4]


def test_cancel_drops_queued_jobs_and_refuses_new_ones() -> None:
    gate = Gate()
    pipe = Pipeline(gate, concurrency=2, lookahead=6)
    pipe.plan(range(10))
    gate.wait_started(2)
    pipe.cancel()
    gate.release.set()
    assert pipe.result(0) == "result 0"  # already running: finishes
    for key in (2, 3, 9):
        with pytest.raises(Cancelled):
            pipe.result(key)
    assert pipe.stats.cancelled == 4 and sorted(gate.started) == [0, 1]


def test_a_key_dropped_from_the_plan_is_not_started() -> None:
    gate = Gate()
    pipe = Pipeline(gate, concurrency=1, lookahead=4)
    pipe.plan([0, 1, 2, 3])
    gate.wait_started(1)
    pipe.plan([0, 1, 3])  # 2 was stolen by another worker
    gate.release.set()
    assert [pipe.result(k) for k in (0, 1, 3)] == ["result 0", "result 1", "result 3"]
    assert 2 not in gate.started


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(round(s, 6))
        self.now += s


def test_requests_per_minute_space_requests_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(requests_per_min=120, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    assert clock.slept == [0.5, 0.5] and clock.now == pytest.approx(1.0)


def test_tokens_per_minute_are_paid_back_before_the_next_request() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tokens_per_min=600, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.charge(900)  # 300 over budget: 30 s at 10 tokens/s
    limiter.acquire()
    assert clock.slept == [pytest.approx(30.0)]


def test_rate_limited_model_charges_reported_usage() -> None:
    class Model:
        name = "m"

        def fingerprint(self) -> dict:
            return {"id": "m"}

        def check(self) -> None:
            pass

        def generate(self, request: object) -> ModelOutput:
            return ModelOutput(text="A", usage={"total_tokens": 1200})

    clock = FakeClock()
    wrapped = RateLimitedModel(Model(), RateLimiter(tokens_per_min=600, clock=clock, sleep=clock.sleep))
    assert wrapped.fingerprint() == {"id": "m"} and wrapped.name == "m"
    wrapped.generate(None)  # type: ignore[arg-type]
    wrapped.generate(None)  # type: ignore[arg-type]
    assert clock.slept == [pytest.approx(60.0)]


@pytest.mark.parametrize("bad", [{"requests_per_min": 0}, {"tokens_per_min": -1}])
def test_rate_limits_must_be_positive(bad: dict) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**bad)


def test_a_key_whose_job_declined_to_start_runs_anew_when_planned_again() -> None:
    """An item given away while planned here (its job refuses to start) and handed back before the
    next plan: the stale refusal is not its result; its job runs again."""
    calls: list[str] = []

    def job(key: str) -> str:
        calls.append(key)
        if len(calls) == 1:
            raise Cancelled(f"{key!r} went to another worker before its request started")
        return key.upper()

    pipe = Pipeline(job, concurrency=1, lookahead=4)
    try:
        pipe.plan(["a"])
        for _ in range(1000):  # until the refusal is the job's recorded outcome
            if pipe.stats.completed:
                break
            threading.Event().wait(0.01)
        assert pipe.stats.completed == 1
        pipe.plan(["a"])  # handed back: this worker runs it after all
        assert pipe.result("a") == "A"
        assert calls == ["a", "a"]
    finally:
        pipe.cancel()
