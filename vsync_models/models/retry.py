"""When and how long to retry a model call: one policy and one loop for every adapter.

The server's own wish (``Retry-After``, in seconds or as an HTTP date) wins, up to a ceiling
(``runtime.retry_after_cap_sec``); a server asking for longer gets an error at once, with the value
it asked for, instead of a run that waits for it once per retry and per item. Otherwise the wait doubles per attempt up to a cap, with jitter: many xdist workers hit by the same
outage must not come back in lock-step and knock the endpoint over again. Each adapter keeps the
decision of *what* is retryable (it knows its vendor's errors) and says so by raising
:class:`Transient`; the arithmetic and the loop live here, once. The randomness and the sleep are
injectable, so tests check the waits without waiting.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from filelock import FileLock

from vsync_models.errors import ModelError

__all__ = [
    "RefusalBudget",
    "RetryPolicy",
    "Transient",
    "backoff_s",
    "call_with_retries",
    "parse_retry_after",
]

_T = TypeVar("_T")

Rng = Callable[[], float]
"""A source of uniform numbers in [0, 1), like ``random.random``."""


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max((when - (now or datetime.now(timezone.utc))).total_seconds(), 0.0)


def backoff_s(
    attempt: int,
    asked: float | None,
    *,
    cap_s: float,
    max_wait_s: float,
    base_s: float = 1.0,
    jitter: float = 0.5,
    rng: Rng | None = None,
) -> float:
    """The wait before retry number ``attempt + 1``.

    What the server asked, at most ``max_wait_s``, exactly (it knows when it will be ready); else
    ``base_s * 2 ** attempt`` capped at ``cap_s``, of which the last ``jitter`` fraction is random
    ("equal jitter": never less than half the nominal wait, so backing off still backs off).
    ``rng=None`` draws from :func:`random.random`; pass ``lambda: 1.0`` for the nominal wait.
    """
    if asked is not None:
        return min(max(asked, 0.0), max_wait_s)
    nominal = min(base_s * 2.0**attempt, cap_s)
    r = (rng or random.random)()
    return nominal * (1.0 - jitter + jitter * r)


class Transient(Exception):
    """Raised by one attempt to say: this failure may pass, try again (it carries the error to
    report if no retry is left, and the server's ``Retry-After`` if it sent one)."""

    def __init__(self, error: ModelError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry (``runtime.max_retries``, ``runtime.retry_base_sec``...)."""

    max_retries: int = 5
    base_s: float = 1.0
    cap_s: float = 30.0
    max_wait_s: float = 60.0
    """Ceiling on a server's ``Retry-After`` (``runtime.retry_after_cap_sec``): a server asking for
    longer gets an error at once instead of a retry."""
    jitter: float = 0.5

    def wait_s(self, attempt: int, asked: float | None, rng: Rng | None = None) -> float:
        return backoff_s(
            attempt,
            asked,
            cap_s=self.cap_s,
            max_wait_s=self.max_wait_s,
            base_s=self.base_s,
            jitter=self.jitter,
            rng=rng,
        )


def call_with_retries(
    attempt: Callable[[], _T],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: Rng | None = None,
) -> tuple[_T, int]:
    """Run ``attempt`` until it returns or raises something other than :class:`Transient`.

    Returns the result and how many retries it took. A ``Retry-After`` above the policy's
    ``max_wait_s`` ends the call at once with that error. When the retries are used up, the last
    transient error is raised with ``retries`` set and "after N attempts" in its message, so the
    report can say both why and how hard we tried.
    """
    retries = 0
    while True:
        try:
            return attempt(), retries
        except Transient as exc:
            if exc.retry_after is not None and exc.retry_after > policy.max_wait_s:
                error = exc.error
                error.args = (
                    f"{error} (the server asked to retry after {exc.retry_after:g}s, more than "
                    f"runtime.retry_after_cap_sec {policy.max_wait_s:g}s: not retried)",
                    *error.args[1:],
                )
                error.retries = retries
                raise error from None
            if retries >= policy.max_retries:
                error = exc.error
                if retries:
                    error.args = (f"{error} (gave up after {retries + 1} attempts)", *error.args[1:])
                error.retries = retries
                raise error from None
            sleep(policy.wait_s(retries, exc.retry_after, rng))
            retries += 1
        except ModelError as exc:
            exc.retries = retries
            raise


class RefusalBudget:
    """Refused connections one endpoint may cost the whole run, not each item.

    Every refused connection spends one; an answer refills it (a blip in a long run is not an
    outage). Spent, it stays spent: :meth:`spend` says ``False`` from then on, and the adapter
    stops asking (a dead server then costs ``limit`` retries in all, not ``max_retries`` per item).
    One process counts in memory; :meth:`share` moves the count into a file under a lock, so the
    xdist workers of one run spend one budget together.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._count = 0
        self._path: Path | None = None
        self._lock = threading.Lock()

    def share(self, path: Path) -> None:
        """Count in ``path`` from now on, with every process that shares it (one run's workers)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path

    def spend(self) -> bool:
        """One refused connection: ``True`` while it may be retried, ``False`` once the budget is spent."""
        with self._lock, self._file_lock():
            count = self._read() + 1
            self._write(count)
        return count <= self.limit

    def refill(self) -> None:
        """An answer came: the endpoint is up, count from zero again (unless it was declared dead)."""
        if self._read() == 0:
            return
        with self._lock, self._file_lock():
            if self._read() <= self.limit:
                self._write(0)

    @property
    def spent(self) -> bool:
        return self._read() > self.limit

    def _file_lock(self) -> contextlib.AbstractContextManager[object]:
        return FileLock(f"{self._path}.lock") if self._path is not None else contextlib.nullcontext()

    def _read(self) -> int:
        if self._path is None:
            return self._count
        try:
            return int(self._path.read_text(encoding="ascii") or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def _write(self, count: int) -> None:
        if self._path is None:
            self._count = count
        else:
            self._path.write_text(str(count), encoding="ascii")
