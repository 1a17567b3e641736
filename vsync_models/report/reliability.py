"""What the infrastructure cost a run: retries, and errors by kind.

Accuracy says how good the model is; this says how much the endpoint fought back, so a run that
needed 300 retries to finish, or lost 12 items to timeouts, says so in one line instead of
hiding it in logs. Built from the item records alone (``retries``, ``error_kind``, ``cached``,
the request hashes), so it works the same on the controller of an ``-n 4`` run and on a results
file read later.

Two items whose requests are identical (same level, modality, prompt, question, options and clip)
get one answer: the cache key names what the model is shown, not the item id, so the second is
answered from the first's cache entry. That is intended (the model cannot tell them apart, and
asking twice costs twice for the same answer); the line says how many items it concerned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vsync_models.record import Record
from vsync_models.types import Outcome

__all__ = ["Reliability", "format_cache_use", "format_reliability", "reliability"]


@dataclass(frozen=True)
class Reliability:
    answers: int = 0
    """Item records (answered, or errored)."""
    cached: int = 0
    """Of which answered from the response cache, without a call."""
    retries: int = 0
    """Retries over all calls."""
    retried: int = 0
    """Records whose call needed at least one retry."""
    errors: Mapping[str, int] = field(default_factory=dict)
    """Error outcomes by kind (see :data:`vsync_models.errors.ERROR_KINDS`)."""
    shared: int = 0
    """Answered records whose request is identical to an earlier record's (one cached answer)."""

    @property
    def error_total(self) -> int:
        return sum(self.errors.values())

    @property
    def eventful(self) -> bool:
        """Whether anything went wrong at all (the summary line is shown only then)."""
        return bool(self.retries or self.errors or self.shared)


def reliability(records: Iterable[Record]) -> Reliability:
    answers = cached = retries = retried = 0
    errors: Counter[str] = Counter()
    requests: Counter[tuple[object, ...]] = Counter()
    for rec in records:
        answers += 1
        cached += rec.cached
        retries += rec.retries
        retried += rec.retries > 0
        if rec.outcome is Outcome.ERROR:
            errors[rec.error_kind or "unknown"] += 1
        elif rec.prompt_sha256 is not None:
            requests[(rec.level, rec.modality, rec.prompt_sha256, rec.media_sha256, rec.repeat)] += 1
    shared = sum(n - 1 for n in requests.values())
    return Reliability(answers, cached, retries, retried, dict(sorted(errors.items())), shared)


def format_reliability(r: Reliability) -> str:
    """One line: ``reliability: 280 answers (12 from cache), 37 retries over 30 calls; errors: 3 (timeout 2, ...)``."""
    errors = ", ".join(f"{kind} {n}" for kind, n in r.errors.items())
    shared = f", {r.shared} identical to another item's request" if r.shared else ""
    return (
        f"reliability: {r.answers} answers ({r.cached} from cache{shared}), {r.retries} retries over "
        f"{r.retried} calls; errors: {r.error_total}" + (f" ({errors})" if errors else "")
    )


def format_cache_use(r: Reliability) -> str:
    """One line that every run prints, so that a resumed run shows what it resumed:
    ``answers: 64 from the response cache, 216 asked the model``."""
    return f"answers: {r.cached} from the response cache, {r.answers - r.cached} asked the model"
