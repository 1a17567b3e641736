"""Reading times, intervals and yes/no: the formats models use, and refusals that are never guesses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsync_models.time_answers import extract_interval, extract_time, extract_yes_no

PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 3.2s to 4.0s", (3.2, 4.0)),
        ("00:03.2-00:04", (3.2, 4.0)),
        ("3.2–4.0 seconds", (3.2, 4.0)),
        ("[3.2, 4.0]", (3.2, 4.0)),
        ("between 3.2 and 4.0 s", (3.2, 4.0)),
        ("It starts at 3.2 s and ends at 4.0 s.", (3.2, 4.0)),
        ("The clip is 10.2 s long. Answer: 3.2 - 4.0", (3.2, 4.0)),
        ("<think>maybe 1 to 2</think>From 3200 ms to 4000 ms", (3.2, 4.0)),
        ("０３.２〜", None),
    ],
)
def test_reads_intervals(text: str, expected: tuple[float, float] | None) -> None:
    assert extract_interval(text).value == (pytest.approx(expected) if expected else None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("I cannot tell.", "no_time"),
        ("4.0 to 3.2", "reversed"),
        ("either 1-2 s or 5-6 s", "ambiguous"),
        ("at 1 s, 2 s or 3 s", "ambiguous"),
        ("<think>1 to 2 s", "unfinished_think"),
    ],
)
def test_interval_refusals_name_their_reason(text: str, reason: str) -> None:
    answer = extract_interval(text)
    assert answer.value is None and answer.rule == reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4.2 s", 4.2),
        ("At 4.2 seconds.", 4.2),
        ("00:04.2", 4.2),
        ("1:02.5", 62.5),
        ("Answer: 4200 ms", 4.2),
        ("The clip is 10 s long; the answer is 4.2 s", 4.2),
    ],
)
def test_reads_instants(text: str, expected: float) -> None:
    assert extract_time(text).value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("3 to 4 s", "range_not_instant"), ("at 3 s or 4 s", "ambiguous"), ("soon", "no_time")],
)
def test_instant_refusals(text: str, reason: str) -> None:
    assert extract_time(text).rule == reason and extract_time(text).value is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.", "yes"),
        ("no", "no"),
        ("NO, wait.", "no"),
        ("Answer: yes", "yes"),
        ("I would not interrupt, so: no.", "no"),
        ("yes or no?", None),
        ("maybe", None),
        ("", None),
    ],
)
def test_reads_yes_no(text: str, expected: str | None) -> None:
    assert extract_yes_no(text).value == expected


_seconds = st.integers(min_value=0, max_value=5999).map(lambda x: x / 10)


def _plain(x: float) -> str:
    return f"{x:g}"


def _clock(x: float) -> str:
    minutes, secs = divmod(x, 60)
    return f"{int(minutes):02d}:{secs:04.1f}"


INTERVAL_FORMS = [
    lambda a, b: f"from {_plain(a)}s to {_plain(b)}s",
    lambda a, b: f"{_clock(a)}-{_clock(b)}",
    lambda a, b: f"{_plain(a)}–{_plain(b)} seconds",
    lambda a, b: f"[{_plain(a)}, {_plain(b)}]",
    lambda a, b: f"The voice is heard between {_plain(a)} and {_plain(b)} s.",
    lambda a, b: f"Answer: {_plain(a)} s - {_plain(b)} s",
]


@PROPERTY_SETTINGS
@given(a=_seconds, b=_seconds, form=st.sampled_from(INTERVAL_FORMS), noise=st.sampled_from(["", "\n", "  "]))
def test_every_interval_form_round_trips(a: float, b: float, form, noise: str) -> None:
    start, end = sorted((a, b))
    answer = extract_interval(noise + form(start, end) + noise)
    if start == end:
        assert answer.value is None  # a zero-length interval is not an answer
    else:
        assert answer.value == (pytest.approx(start), pytest.approx(end))


TIME_FORMS = [
    lambda t: f"{_plain(t)} s",
    lambda t: f"At {_plain(t)} seconds.",
    lambda t: _clock(t),
    lambda t: f"Answer: {round(t * 1000)} ms",
    lambda t: f"The answer is {_plain(t)}s",
]


@PROPERTY_SETTINGS
@given(t=_seconds, form=st.sampled_from(TIME_FORMS))
def test_every_time_form_round_trips(t: float, form) -> None:
    assert extract_time(form(t)).value == pytest.approx(t)


@PROPERTY_SETTINGS
@given(text=st.text(max_size=80))
def test_never_raises_and_returns_well_formed_answers(text: str) -> None:
    interval, instant, yes_no = extract_interval(text), extract_time(text), extract_yes_no(text)
    assert interval.value is None or interval.value[0] < interval.value[1]
    assert instant.value is None or instant.value >= 0
    assert yes_no.value in (None, "yes", "no")
    for answer in (interval, instant, yes_no):
        assert answer.letter is None and answer.rule
