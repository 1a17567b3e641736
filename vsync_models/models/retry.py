"""How long to wait before retrying a model call: one policy for the adapters that retry themselves.

The server's own wish (``Retry-After``, in seconds or as an HTTP date) wins, up to a ceiling;
otherwise the wait doubles per attempt up to a cap. Each adapter keeps the decision of *what*
is retryable (it knows its vendor's errors); only the arithmetic lives here, once.
"""

from __future__ import annotations

import email.utils
from datetime import datetime, timezone

__all__ = ["backoff_s", "parse_retry_after"]


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


def backoff_s(attempt: int, asked: float | None, *, cap_s: float, max_wait_s: float) -> float:
    """The wait before retry number ``attempt + 1``: what the server asked (at most ``max_wait_s``),
    else ``2 ** attempt`` seconds (at most ``cap_s``)."""
    if asked is not None:
        return min(max(asked, 0.0), max_wait_s)
    return min(2.0**attempt, cap_s)
