"""Extraction stays linear in the answer's length, however ``<think>`` tags nest or fail to close.

The reference below is the regex reading of the rules in ``answers.py``'s docstring (remove every
complete block left to right, drop the text before the last stray closing tag, cut at the first
opening tag still there); it rescans the rest of the text from each unclosed opening tag, so it is
quadratic, and is used here on short texts only. Timings are in ``bench/extraction.py``.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vsync_models.scoring.answers import _strip_thinking, extract_choice
from vsync_models.scoring.time_answers import extract_interval, extract_time, extract_yes_no

_BLOCK = re.compile(r"<(think|thinking)\s*>.*?</\1\s*>", re.I | re.S)
_CLOSE = re.compile(r"</think(?:ing)?\s*>", re.I)
_OPEN = re.compile(r"<think(?:ing)?\s*>", re.I)


def reference_strip(text: str) -> tuple[str, bool]:
    text = _BLOCK.sub(" ", text)
    closes = list(_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _OPEN.search(text)
    return (text, False) if opened is None else (text[: opened.start()], True)


FRAGMENTS = [
    "<think>",
    "</think>",
    "<thinking>",
    "</thinking>",
    "<THINK >",
    "</Thinking\n>",
    "<think",
    "</think",
    ">",
    " ",
    "Answer: B",
    "A",
    "C",
    "x",
    "3.2 s to 4.0 s",
    "yes",
]
texts = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)
OPTIONS = ["A. the dog", "B. the cat", "C. nobody"]


@given(texts)
@example("</think<think>x</think>>B")  # a block removed between "</think" and ">" leaves a tag
@example("<think><thinking></think>A</thinking>C")
@example("<THINK>A</think>B")
@settings(max_examples=400, deadline=None)
def test_strip_thinking_matches_the_reference(text: str) -> None:
    assert _strip_thinking(text) == reference_strip(text)


@given(texts)
@settings(max_examples=200, deadline=None)
def test_extractors_read_what_remains_after_thinking(text: str) -> None:
    """Every extractor gives what it gives for the text with the reference's stripping applied."""
    body, unfinished = reference_strip(text)
    stripped = body if body.strip() else ("<think>" if unfinished else "")
    assert extract_choice(text, OPTIONS) == extract_choice(stripped, OPTIONS)
    assert extract_interval(text) == extract_interval(stripped)
    assert extract_time(text) == extract_time(stripped)
    assert extract_time(text, signed=True) == extract_time(stripped, signed=True)
    assert extract_yes_no(text) == extract_yes_no(stripped)


@contextmanager
def guard(seconds: int) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the body runs longer than ``seconds``: a guard only."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s: the work is not linear")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


N = 100_000  # 700 kB of "<think>": the quadratic reading needs over ten minutes for this


@pytest.mark.parametrize(
    "text, letter, reason",
    [
        ("<think>" * N, None, "unfinished_think"),
        ("<think>" * N + "</think>B", "B", "bare_letter"),
        ("<thinking>" * N + "</think>" * N + "the answer is C", "C", "answer_marker"),
        ("B " + "<think>x" * N, "B", "bare_letter"),
        ("<think>" * N + "</thinking> answer: A", "A", "answer_marker"),
    ],
    ids=["unclosed", "closed once", "mismatched kinds", "answer first", "closed by the other kind"],
)
def test_adversarial_nesting_is_read_in_bounded_time(text: str, letter: str | None, reason: str) -> None:
    with guard(30):
        answer = extract_choice(text, OPTIONS)
        assert (answer.letter, answer.rule) == (letter, reason)


def test_time_extractors_on_adversarial_nesting_in_bounded_time() -> None:
    with guard(30):
        assert extract_interval("<think>" * N).rule == "unfinished_think"
        assert extract_time("<think>" * N + "</think> at 4.2 s").value == 4.2
        assert extract_yes_no("<thinking>" * N + "</thinking>yes").value == "yes"
