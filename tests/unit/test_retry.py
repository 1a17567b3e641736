"""The shared retry policy: Retry-After in both forms, caps, doubling with jitter, and the loop."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from vsync_models.errors import ModelRequestError, ModelUnavailable
from vsync_models.models.retry import RetryPolicy, Transient, backoff_s, call_with_retries, parse_retry_after

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
    top = [backoff_s(a, None, cap_s=30, max_wait_s=120, rng=lambda: 1.0) for a in range(7)]
    assert top == [1, 2, 4, 8, 16, 30, 30]


def test_jitter_spreads_waits_between_half_and_the_nominal_wait():
    bottom = [backoff_s(a, None, cap_s=30, max_wait_s=120, rng=lambda: 0.0) for a in range(7)]
    assert bottom == [0.5, 1, 2, 4, 8, 15, 15]
    draws = iter([0.25, 0.75])
    assert backoff_s(3, None, cap_s=30, max_wait_s=120, base_s=0.1, rng=lambda: next(draws)) == pytest.approx(
        0.5
    )
    assert backoff_s(3, None, cap_s=30, max_wait_s=120, base_s=0.1, rng=lambda: next(draws)) == pytest.approx(
        0.7
    )
    # the server's own wish is not jittered: it knows when it will be ready
    assert backoff_s(2, 3.0, cap_s=30, max_wait_s=120, rng=lambda: 0.0) == 3.0


def scripted(outcomes):
    """An attempt function that raises or returns the scripted outcomes in order, counting calls."""
    calls = []

    def attempt():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return attempt, calls


def test_loop_retries_transient_failures_and_counts_them():
    attempt, calls = scripted(
        [
            Transient(ModelRequestError("429", kind="rate_limited"), retry_after=2.0),
            Transient(ModelUnavailable("reset", kind="connection")),
            "B",
        ]
    )
    sleeps: list[float] = []
    result = call_with_retries(attempt, RetryPolicy(max_retries=5), sleep=sleeps.append, rng=lambda: 0.0)
    assert result == ("B", 2) and len(calls) == 3
    assert sleeps == [2.0, 1.0]  # Retry-After honoured, then backoff 2 ** 1 halved by the jitter draw


def test_loop_gives_up_after_max_retries_with_the_cause_and_the_count():
    attempt, calls = scripted([Transient(ModelRequestError("HTTP 503", kind="server_error"))] * 4)
    sleeps: list[float] = []
    with pytest.raises(ModelRequestError) as info:
        call_with_retries(
            attempt, RetryPolicy(max_retries=3, base_s=0.5), sleep=sleeps.append, rng=lambda: 1.0
        )
    assert len(calls) == 4 and sleeps == [0.5, 1.0, 2.0]
    assert info.value.kind == "server_error" and info.value.retries == 3
    assert "HTTP 503" in str(info.value) and "after 4 attempts" in str(info.value)


def test_loop_never_retries_a_permanent_error():
    attempt, calls = scripted([ModelRequestError("HTTP 401", kind="auth"), "never"])
    with pytest.raises(ModelRequestError) as info:
        call_with_retries(attempt, RetryPolicy(max_retries=5), sleep=lambda s: None)
    assert len(calls) == 1 and info.value.kind == "auth" and info.value.retries == 0
