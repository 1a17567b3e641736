"""The shared retry arithmetic: Retry-After in both forms, caps, doubling."""

from __future__ import annotations

from datetime import datetime, timezone

from vsync_models.models.retry import backoff_s, parse_retry_after

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_retry_after_seconds_date_and_junk():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=NOW) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=NOW) == 0.0  # in the past
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None and parse_retry_after(None) is None


def test_backoff_prefers_the_servers_wish_within_a_ceiling():
    assert backoff_s(0, 7.0, cap_s=30, max_wait_s=120) == 7.0
    assert backoff_s(0, 1000.0, cap_s=30, max_wait_s=120) == 120
    assert [backoff_s(a, None, cap_s=30, max_wait_s=120) for a in range(7)] == [1, 2, 4, 8, 16, 30, 30]
