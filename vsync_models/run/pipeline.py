"""Many requests in flight from one sequential caller: jobs run ahead of time, results are taken in order.

pytest runs one test at a time per process, but a served model reaches its throughput only with
many concurrent requests. :class:`Pipeline` bridges the two: the caller *plans* the keys it will
ask for next (the items this process is about to run), up to ``lookahead`` of them are queued, and
``concurrency`` daemon threads work the queue. ``result(key)`` then waits for that key's own job,
so pass/fail stays per item and in the caller's order while the model sees ``concurrency``
requests at a time::

    pipe = Pipeline(run=evaluate_one, concurrency=32)
    for i, key in enumerate(keys):
        pipe.plan(keys[i:])          # this key and what comes next; replaces the previous plan
        outcome = pipe.result(key)   # waits for this key only

``cancel()`` drops every queued job and refuses new ones (``-x``, ``--maxfail``, Ctrl-C); jobs
already running finish on their own but nobody waits for them, because the threads are daemons.

:class:`RateLimiter` keeps requests/min and tokens/min of one model under a budget; tokens are
charged after the fact (a request's size is known only from its answer), so the budget may be
overdrawn by one request's tokens and is then paid back before the next request starts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from vsync_models.models.base import Model, ModelOutput
from vsync_models.types import Request

__all__ = ["Cancelled", "Pipeline", "PipelineStats", "RateLimitedModel", "RateLimiter"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

LOOKAHEAD_FACTOR = 4
"""Queue this many jobs per thread: a slow item must not leave the threads idle while later,
already answered items wait to be consumed in order."""


class Cancelled(RuntimeError):
    """This key's job never started: the pipeline was cancelled, or the job declined to start."""


def _refused(future: Future[Any] | None) -> bool:
    """A finished job that ended in :class:`Cancelled`, i.e. never ran."""
    return future is not None and future.done() and isinstance(future.exception(), Cancelled)


@dataclass
class PipelineStats:
    """Counts a test or a benchmark can check: how much really ran, and how much at once."""

    submitted: int = 0
    started: int = 0
    completed: int = 0
    cancelled: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0


class Pipeline(Generic[K, T]):
    """Runs ``run(key)`` for planned keys on ``concurrency`` threads; see the module docstring."""

    def __init__(
        self,
        run: Callable[[K], T],
        concurrency: int,
        lookahead: int | None = None,
        name: str = "vsync-pipeline",
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self._run = run
        self.concurrency = concurrency
        self.lookahead = max(
            concurrency, lookahead if lookahead is not None else LOOKAHEAD_FACTOR * concurrency
        )
        self.stats = PipelineStats()
        self._cond = threading.Condition()
        self._futures: dict[K, Future[T]] = {}
        """Submitted and not yet taken by ``result``."""
        self._queue: deque[K] = deque()
        """Submitted and not yet started."""
        self._plan: deque[K] = deque()
        self._done: set[K] = set()
        """Taken by ``result``: never run again, even if a later plan names them."""
        self._cancelled = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(concurrency)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def plan(self, keys: Iterable[K]) -> None:
        """The keys the caller will ask for next, in order, starting with the very next one.

        Replaces the previous plan. A submitted key the new plan no longer names (xdist's work
        stealing moved it to another worker) is forgotten: dropped if it has not started, left to
        finish unobserved if it has (its answer still lands in the response cache).
        """
        with self._cond:
            wanted = [k for k in keys if k not in self._done]
            named = set(wanted)
            for key in [k for k in wanted if _refused(self._futures.get(k))]:
                # its job declined to start (the item had been given away); named again, it is
                # this caller's once more and runs anew
                del self._futures[key]
            for key in [k for k in self._futures if k not in named]:
                future = self._futures.pop(key)
                if key in self._queue:
                    self._queue.remove(key)
                    self.stats.cancelled += 1
                    future.set_exception(Cancelled(f"{key!r} is no longer planned"))
            self._plan = deque(k for k in wanted if k not in self._futures)
            self._top_up()

    def result(self, key: K) -> T:
        """This key's result (running it now, ahead of the queue, if it was not planned)."""
        with self._cond:
            if key in self._done:
                raise KeyError(f"result for {key!r} was already taken")
            future = self._futures.get(key)
            if future is None:
                if self._cancelled:
                    raise Cancelled(f"pipeline cancelled before {key!r} started")
                future = self._submit(key, front=True)
            elif key in self._queue:  # planned but waiting behind others: the caller needs it now
                self._queue.remove(key)
                self._queue.appendleft(key)
        try:
            return future.result()
        finally:
            with self._cond:
                self._futures.pop(key, None)
                self._done.add(key)
                self._top_up()

    def cancel(self) -> None:
        """Drop queued jobs and refuse new ones; running jobs finish unobserved."""
        with self._cond:
            self._cancelled = True
            self._plan.clear()
            while self._queue:
                key = self._queue.popleft()
                self.stats.cancelled += 1
                self._futures[key].set_exception(Cancelled(f"pipeline cancelled before {key!r} started"))
            self._cond.notify_all()

    close = cancel

    def drain(self, timeout_s: float) -> int:
        """Wait up to ``timeout_s`` for the jobs already running (after :meth:`cancel`, nothing new
        starts): a request on the wire then lands in the response cache instead of dying with the
        process. Returns how many were still running when the wait ended."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self.stats.in_flight and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            return self.stats.in_flight

    # -- internals ---------------------------------------------------------------------------

    def _submit(self, key: K, front: bool = False) -> Future[T]:
        future: Future[T] = Future()
        self._futures[key] = future
        (self._queue.appendleft if front else self._queue.append)(key)
        self.stats.submitted += 1
        self._cond.notify()
        return future

    def _top_up(self) -> None:
        while not self._cancelled and self._plan and len(self._futures) < self.lookahead:
            key = self._plan.popleft()
            if key not in self._futures and key not in self._done:
                self._submit(key)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._cancelled:
                    self._cond.wait()
                if not self._queue:
                    return
                key = self._queue.popleft()
                future = self._futures[key]
                self.stats.started += 1
                self.stats.in_flight += 1
                self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
            try:
                value = self._run(key)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(value)
            with self._cond:
                self.stats.in_flight -= 1
                self.stats.completed += 1
                self._cond.notify_all()  # drain() waits for the last job


class RateLimiter:
    """Requests/min and tokens/min budgets as token buckets refilled continuously; thread-safe."""

    def __init__(
        self,
        requests_per_min: float | None = None,
        tokens_per_min: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        for label, value in (("requests_per_min", requests_per_min), ("tokens_per_min", tokens_per_min)):
            if value is not None and value <= 0:
                raise ValueError(f"{label} must be positive, got {value}")
        self.requests_per_min = requests_per_min
        self.tokens_per_min = tokens_per_min
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._stamp = now
        self._requests = 1.0  # a burst of one: the first request never waits
        self._tokens = float(tokens_per_min or 0)

    @property
    def active(self) -> bool:
        return self.requests_per_min is not None or self.tokens_per_min is not None

    def acquire(self) -> None:
        """Block until one more request fits both budgets, then take it."""
        while True:
            with self._lock:
                self._refill()
                wait = 0.0
                if self.requests_per_min is not None and self._requests < 1.0:
                    wait = (1.0 - self._requests) * 60.0 / self.requests_per_min
                if self.tokens_per_min is not None and self._tokens < 0.0:
                    wait = max(wait, -self._tokens * 60.0 / self.tokens_per_min)
                if wait <= 0.0:
                    if self.requests_per_min is not None:
                        self._requests -= 1.0
                    return
            self._sleep(wait)

    def charge(self, tokens: int) -> None:
        """Spend what a finished request cost (its ``total_tokens``)."""
        if self.tokens_per_min is None or tokens <= 0:
            return
        with self._lock:
            self._refill()
            self._tokens -= tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        if self.requests_per_min is not None:
            self._requests = min(1.0, self._requests + elapsed * self.requests_per_min / 60.0)
        if self.tokens_per_min is not None:
            self._tokens = min(
                float(self.tokens_per_min), self._tokens + elapsed * self.tokens_per_min / 60.0
            )


class RateLimitedModel:
    """A model whose real calls go through a :class:`RateLimiter` (cache hits never reach it)."""

    def __init__(self, model: Model, limiter: RateLimiter) -> None:
        self.inner = model
        self.name = model.name
        self.limiter = limiter

    def __getattr__(self, attr: str) -> Any:  # launch, base_url, ...: whatever the wrapped model has
        return getattr(self.inner, attr)

    def fingerprint(self) -> dict[str, Any]:
        return self.inner.fingerprint()

    def check(self) -> None:
        self.inner.check()

    def generate(self, request: Request) -> ModelOutput:
        self.limiter.acquire()
        out = self.inner.generate(request)
        usage = out.usage or {}
        self.limiter.charge(int(usage.get("total_tokens") or 0))
        return out
