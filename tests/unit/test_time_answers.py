"""Reading times, intervals and yes/no: the formats models use, and refusals that are never guesses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsync_models.scoring.time_answers import extract_interval, extract_time, extract_yes_no

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


# --- signed instants (an offset between two moments: level 2's event_offset) -----------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-1.2 s", -1.2),
        ("+0.8 s", 0.8),
        ("0.8 s", 0.8),
        ("Answer: -1.20 s", -1.2),
        ("Answer -1.2 s", -1.2),  # the marker's dash separator does not swallow the sign
        ("the answer is −0.5 seconds", -0.5),  # U+2212 MINUS SIGN
        ("(a guess: no audio)\nAnswer: -2.00 s", -2.0),
        ("It turns on 1.2 s before the sentence starts.", -1.2),
        ("2 seconds earlier", -2.0),
        ("1.2 s after it starts", 1.2),
        ("-1.2 s before", -1.2),  # sign and word agree
        ("-00:01.5", -1.5),
        ("-1500 ms", -1.5),
    ],
)
def test_reads_signed_instants(text: str, expected: float) -> None:
    assert extract_time(text, signed=True).value == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("-1.2 s after", "ambiguous"),  # the sign and the word disagree
        ("either -1.2 s or +1.2 s", "ambiguous"),
        ("from -1.2 to 0.5 s", "range_not_instant"),
        ("3.2-4.0", "range_not_instant"),  # a dash between two times still joins them
        ("before it", "no_time"),
    ],
)
def test_signed_instant_refusals(text: str, reason: str) -> None:
    answer = extract_time(text, signed=True)
    assert answer.value is None and answer.rule == reason


def test_a_sign_is_read_only_where_an_offset_is_asked_and_only_against_the_number() -> None:
    assert extract_time("-1.2 s").value == pytest.approx(1.2)  # unsigned instants: as before
    assert extract_time("1.2 s before").value == pytest.approx(1.2)
    assert extract_time("- 1.2 s", signed=True).value == pytest.approx(1.2)  # a list bullet, not a sign
    assert extract_time("x-1.2 s", signed=True).value == pytest.approx(1.2)  # a hyphen inside a word


_offsets = st.floats(min_value=-600, max_value=600, allow_nan=False).map(lambda x: round(x, 2))

SIGNED_FORMS = [
    lambda t: f"{t:+.2f} s",
    lambda t: f"Answer: {t:.2f} s",
    lambda t: f"Answer {t:.2f}",
    lambda t: f"{t:.2f}".replace("-", "−") + " seconds",
    lambda t: f"The lamp turns on {abs(t):.2f} s {'before' if t < 0 else 'after'} the sentence starts.",
    lambda t: f"It happens {round(abs(t) * 1000)} ms {'earlier' if t < 0 else 'later'}.",
]


@PROPERTY_SETTINGS
@given(t=_offsets, form=st.sampled_from(SIGNED_FORMS), noise=st.sampled_from(["", "\n", "  "]))
def test_every_signed_form_round_trips(t: float, form, noise: str) -> None:
    assert extract_time(noise + form(t) + noise, signed=True).value == pytest.approx(t)


@PROPERTY_SETTINGS
@given(text=st.text(alphabet=st.sampled_from("0123456789.:-−+ sbeforaftAnswer:\n"), max_size=40))
def test_a_signed_reading_only_adds_a_sign_to_the_unsigned_one(text: str) -> None:
    signed, unsigned = extract_time(text, signed=True), extract_time(text)
    if signed.value is not None and unsigned.value is not None:
        assert abs(signed.value) == pytest.approx(unsigned.value)
    assert signed.value is None or signed.rule in ("single_time", "answer_marker")
