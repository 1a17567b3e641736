"""Live progress of a run: how far it is, how it is going, and how long it will take.

A run against a real model takes minutes to hours; a person watching it wants to know, long
before the end, whether the first hundred answers look right. :class:`Progress` is fed each
finished test (its modality and how it ended) as the controller learns of it, and says when a
line is due and what it says::

    vsync: 120/840 answered (14%) | avt 98.3% vt 26.7% at 24.2% | gain +71.6 | errors 0 | 40 cached | 32 in flight | 31.2 items/s | 23 s left

How often is a :class:`Cadence`: every few seconds on a terminal, every few percent in a log
(a CI log gets a bounded number of lines whatever the run's length). Accuracy is the running,
plain accuracy over every level so far (correct / answered, infrastructure errors left out);
the synchrony gain appears once all three modalities have answers. The rate is taken over the
last :data:`RATE_WINDOW_S` seconds, so answers from the cache at the start of a resumed run do
not promise an end that the model cannot keep. The clock is injected (tests never sleep).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from vsync_models.report.stats import Tally
from vsync_models.types import MODALITY_ORDER, Outcome

__all__ = [
    "DEFAULT_LOG_STEP_PCT",
    "DEFAULT_TTY_EVERY_S",
    "RATE_WINDOW_S",
    "Cadence",
    "Progress",
    "ProgressSnapshot",
    "format_progress",
    "parse_cadence",
]

DEFAULT_TTY_EVERY_S = 5.0
"""On a terminal: a line every this many seconds (at the next finished test)."""
DEFAULT_LOG_STEP_PCT = 10.0
"""Without a terminal (CI logs): a line every this many percent of the collected tests."""
RATE_WINDOW_S = 60.0
"""The rate (and so the time left) is measured over the last this many seconds."""


@dataclass(frozen=True)
class Cadence:
    """When a progress line is due: every ``every_s`` seconds, or every ``step_pct`` percent."""

    every_s: float | None = None
    step_pct: float | None = None

    def describe(self) -> str:
        if self.every_s is not None:
            return f"every {self.every_s:g} s"
        return f"every {self.step_pct:g}%"


def parse_cadence(text: str, tty: bool) -> Cadence | None:
    """``auto`` (every 5 s on a terminal, every 10 % otherwise), ``off``, ``Ns`` or ``N%``.

    ``None`` means no progress lines. A bad value raises :class:`ValueError` saying what is allowed.
    """
    value = text.strip().lower()
    if value == "off":
        return None
    if value == "auto":
        return Cadence(every_s=DEFAULT_TTY_EVERY_S) if tty else Cadence(step_pct=DEFAULT_LOG_STEP_PCT)
    unit = value[-1:] if value[-1:] in ("s", "%") else ""
    try:
        number = float(value[: -len(unit)] if unit else "nan")
    except ValueError:
        number = math.nan
    if not unit or not math.isfinite(number) or number <= 0 or (unit == "%" and number > 100):
        raise ValueError(
            f"progress cadence {text!r}: use auto, off, seconds (e.g. 10s) or percent (e.g. 5%, at most 100%)"
        )
    return Cadence(every_s=number) if unit == "s" else Cadence(step_pct=number)


@dataclass(frozen=True)
class ProgressSnapshot:
    """What one progress line shows."""

    done: int
    """Tests finished (answered, or ended in an error)."""
    total: int
    """Tests collected."""
    accuracy: dict[str, float]
    """Running plain accuracy per modality that has scored answers, in avt, vt, at order."""
    errors: int
    cached: int
    in_flight: int
    rate: float | None
    """Finished tests per second over the recent window; ``None`` before there is one."""
    eta_s: float | None
    """Seconds left at :attr:`rate`; ``None`` when unknown."""

    @property
    def gain(self) -> float | None:
        """acc(avt) - max(acc(vt), acc(at)), once all three have answers."""
        acc = self.accuracy
        if not all(m in acc for m in ("avt", "vt", "at")):
            return None
        return acc["avt"] - max(acc["vt"], acc["at"])


@dataclass
class Progress:
    """The running state of a run, as the controller sees it (see the module docstring)."""

    cadence: Cadence | None
    clock: Callable[[], float] = time.monotonic
    total: int = 0
    done: int = 0
    in_flight: int = 0
    _tallies: dict[str, Tally] = field(default_factory=dict)
    """Outcomes per modality: running accuracy, and (summed) errors and cached answers."""
    _finished_at: deque[float] = field(default_factory=deque)
    _start: float | None = None
    _last_line_at: float | None = None
    _last_step: int = 0
    _done_at_last_line: int = 0
    _begun: bool = False

    def __post_init__(self) -> None:
        self._start = self.clock()
        self._last_line_at = self._start

    def begin(self) -> None:
        """The first test started: the rate is measured from here, not from the start-up before it."""
        if not self._begun:
            self._begun = True
            self._start = self._last_line_at = self.clock()

    def finished(self, modality: str, outcome: Outcome, cached: bool = False) -> None:
        """One test ended: its modality, and how (``ERROR`` for infrastructure trouble)."""
        self.done += 1
        self._tallies.setdefault(modality, Tally()).add(outcome, cached)
        now = self.clock()
        self._finished_at.append(now)
        while self._finished_at and self._finished_at[0] < now - RATE_WINDOW_S:
            self._finished_at.popleft()

    @property
    def errors(self) -> int:
        return sum(t.error for t in self._tallies.values())

    @property
    def cached(self) -> int:
        return sum(t.cached for t in self._tallies.values())

    def skipped(self) -> None:
        """One test ended without an answer to score (skipped): it counts towards the total only."""
        self.done += 1

    def rate(self) -> float | None:
        """Finished tests per second over the last :data:`RATE_WINDOW_S` (or since the start)."""
        if not self._finished_at or self._start is None:
            return None
        now = self.clock()
        span = min(RATE_WINDOW_S, now - self._start)
        recent = sum(1 for t in self._finished_at if t >= now - RATE_WINDOW_S)
        return recent / span if span > 0 and recent else None

    def due(self) -> bool:
        """Whether a line is due now; when it is, the next one is counted from here."""
        cadence = self.cadence
        if cadence is None or self.done == self._done_at_last_line:
            return False
        if cadence.every_s is not None:
            now = self.clock()
            if self._last_line_at is not None and now - self._last_line_at < cadence.every_s:
                return False
            self._last_line_at = now
        else:
            assert cadence.step_pct is not None
            if not self.total:
                return False
            step = math.floor(100 * min(self.done, self.total) / self.total / cadence.step_pct)
            if step <= self._last_step:
                return False
            self._last_step = step
        self._done_at_last_line = self.done
        return True

    def snapshot(self) -> ProgressSnapshot:
        rate = self.rate()
        left = max(self.total - self.done, 0)
        accuracy = {
            m: t.correct / t.scored  # a fraction (Tally.accuracy is in percent)
            for m, t in sorted(self._tallies.items(), key=lambda p: MODALITY_ORDER.get(p[0], 9))
            if t.scored
        }
        return ProgressSnapshot(
            done=self.done,
            total=self.total,
            accuracy=accuracy,
            errors=self.errors,
            cached=self.cached,
            in_flight=self.in_flight,
            rate=rate,
            eta_s=left / rate if rate else None,
        )


def _duration(seconds: float) -> str:
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def format_progress(snap: ProgressSnapshot) -> str:
    """One line, e.g. ``vsync: 120/840 answered (14%) | avt 98.3% vt 26.7% at 24.2% | gain +71.6 | ...``."""
    pct = f" ({100 * snap.done / snap.total:.0f}%)" if snap.total else ""
    parts = [f"vsync: {snap.done}/{snap.total or '?'} answered{pct}"]
    if snap.accuracy:
        parts.append(" ".join(f"{m} {100 * a:.1f}%" for m, a in snap.accuracy.items()))
    if (gain := snap.gain) is not None:
        parts.append(f"gain {100 * gain:+.1f}")
    parts.append(f"errors {snap.errors}")
    parts.append(f"{snap.cached} cached")
    parts.append(f"{snap.in_flight} in flight")
    if snap.rate is not None:
        parts.append(f"{snap.rate:.1f} items/s")
    if snap.eta_s is not None and snap.done < snap.total:
        parts.append(f"{_duration(snap.eta_s)} left")
    return " | ".join(parts)
