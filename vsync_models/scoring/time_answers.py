"""Read a time, a time interval or a yes/no out of a model's raw text, or refuse to guess.

The level-2/3 counterpart of :mod:`vsync_models.scoring.answers` (letters), with the same preparation
(NFKC, ``<think>`` blocks removed) and the same principle: every result names the rule that
decided, and text that does not state one answer is ``None``, scored *unparseable*, never wrong.

A *time* is ``4.2``, ``4.2s``, ``4.2 sec``, ``4.2 seconds``, ``4200 ms``, or a clock
``00:04.2`` / ``0:04`` / ``00:00:04.2`` (minutes and seconds, optionally hours first).
An *interval* is two times joined by ``-``, ``–``, ``—``, ``~``, ``to``, ``until``, ``through``
or ``and``, or a bracketed pair: "from 3.2s to 4.0s", "00:03.2-00:04", "3.2–4.0 seconds",
"[3.2, 4.0]", "between 3.2 and 4.0 s" (a bare comma lists times, it does not join them).

Rules (the first that decides wins):

1. ``answer_marker`` — the text after the last "answer:" / "answer is" holds the answer.
2. ``range`` — exactly one distinct interval (for intervals), or ``single_time`` — exactly one
   distinct time (for instants).
3. ``two_times`` (intervals only) — no joined pair, but exactly two distinct times in the text
   ("starts at 3.2 s and ends at 4.0 s").

Refusals: ``empty``, ``unfinished_think``, ``no_time``, ``ambiguous`` (several different
answers), ``reversed`` (an interval whose end is not after its start), ``range_not_instant``
(an interval where one time was asked for), and for yes/no ``no_yes_no``.

A *signed* instant (``extract_time(text, signed=True)``: the offset between two moments, which may
be negative) also reads a sign written against the number (``-1.2 s``, ``−1.2 s``, ``+0.8 s``) or
a word after it (``1.2 s before`` / ``earlier`` is negative, ``after`` / ``later`` positive); a sign
and a word that disagree refuse as ``ambiguous``. A minus sign needs no space after it (``- 1.2``
could be a list bullet); as a separator between two times it still joins an interval, which an
instant refuses. Unsigned instants (times in the clip) read the number alone, as before.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass

from vsync_models.scoring.answers import _normalise, _strip_thinking
from vsync_models.types import Answer

__all__ = ["extract_interval", "extract_time", "extract_yes_no"]

_UNIT = r"(?:\s*(?P<unit>ms|milliseconds?|s|secs?|seconds?)\b)?"
_TIME = re.compile(
    r"(?<![\w.:])(?:(?:(?P<h>\d{1,2}):)?(?P<m>\d{1,2}):(?P<cs>\d{1,2}(?:\.\d+)?)|(?P<num>\d+(?:\.\d+)?|\.\d+))"
    + _UNIT
    + r"(?![\w:])",
    re.I,
)
_JOIN = re.compile(r"^\s*(?:-|–|—|~|to|until|till|through|and)\s*$", re.I)
_COMMA = re.compile(r"^\s*,\s*$")
_MARKER = re.compile(r"\banswer\s*(?:is|:|=|-)?\s*[:：]?", re.I)
_SIGNED_MARKER = re.compile(r"\banswer\s*(?:is|:|=)?\s*[:：]?", re.I)
"""Without the dash separator, which would swallow the sign of "Answer -1.2 s"."""
_SIGNS = {"-": -1.0, "−": -1.0, "+": 1.0}
_SIGN_WORD = re.compile(r"\s*(before|earlier|after|later)\b", re.I)
_YES_NO = re.compile(r"(?<![\w'])(yes|no)(?![\w'])", re.I)
_LEADING_YES_NO = re.compile(r"^\W*(yes|no)(?![\w'])(?!\s*(?:or|/)\s*(?:yes|no)\b)", re.I)


@dataclass(frozen=True)
class _Time:
    seconds: float
    start: int
    end: int


def _times(text: str) -> list[_Time]:
    out = []
    for m in _TIME.finditer(text):
        if m.group("num") is not None:
            value = float(m.group("num"))
        else:
            value = int(m.group("h") or 0) * 3600 + int(m.group("m")) * 60 + float(m.group("cs"))
        unit = (m.group("unit") or "").lower()
        if unit.startswith("m") and unit != "m":
            value /= 1000.0
        out.append(_Time(value, m.start(), m.end()))
    return out


def _ranges(text: str, times: list[_Time]) -> list[tuple[float, float]]:
    return [
        (a.seconds, b.seconds) for a, b in itertools.pairwise(times) if _JOIN.match(text[a.end : b.start])
    ]


def _prepare(text: str) -> tuple[str | None, str]:
    """The body to read, or ``None`` and the refusal reason."""
    if not text or text.isspace():
        return None, "empty"
    body, unfinished = _strip_thinking(_normalise(text))
    body = body.strip()
    if not body:
        return None, "unfinished_think" if unfinished else "empty"
    return body, ""


def _after_marker(body: str, marker: re.Pattern[str] = _MARKER) -> str | None:
    markers = list(marker.finditer(body))
    return body[markers[-1].end() :] if markers else None


def _interval_in(text: str) -> Answer:
    times = _times(text)
    ranges = list(dict.fromkeys(_ranges(text, times)))
    if len(ranges) > 1:
        return Answer(None, "ambiguous")
    if len(ranges) == 1:
        pair, rule = ranges[0], "range"
    else:
        distinct = list(dict.fromkeys(t.seconds for t in times))
        if len(distinct) != 2:
            return Answer(None, "no_time" if not distinct else "ambiguous")
        pair, rule = (distinct[0], distinct[1]), "two_times"
    if not pair[0] < pair[1]:
        return Answer(None, "reversed")
    return Answer(None, rule, value=pair)


def _sign_of(text: str, t: _Time) -> float | None:
    """+1 or -1 for a signed time (see the module doc), ``None`` when its sign and word disagree."""
    before = text[t.start - 1] if t.start else ""
    prev = text[t.start - 2] if t.start > 1 else " "
    mark = _SIGNS.get(before) if not (prev.isalnum() or prev in ".:") else None
    m = _SIGN_WORD.match(text, t.end)
    word = None if m is None else (-1.0 if m.group(1).lower() in ("before", "earlier") else 1.0)
    if mark is not None and word is not None and mark != word:
        return None
    return mark or word or 1.0


def _time_in(text: str, signed: bool = False) -> Answer:
    times = _times(text)
    if _ranges(text, times):
        return Answer(None, "range_not_instant")
    if signed:
        signs = [_sign_of(text, t) for t in times]
        if None in signs:
            return Answer(None, "ambiguous")
        times = [
            _Time(t.seconds * (sign or 1.0), t.start, t.end) for t, sign in zip(times, signs, strict=True)
        ]
    distinct = list(dict.fromkeys(t.seconds for t in times))
    if len(distinct) != 1:
        return Answer(None, "no_time" if not distinct else "ambiguous")
    return Answer(None, "single_time", value=distinct[0])


def _with_marker(text: str, read: Callable[[str], Answer], marker: re.Pattern[str] = _MARKER) -> Answer:
    body, why = _prepare(text)
    if body is None:
        return Answer(None, why)
    tail = _after_marker(body, marker)
    if tail is not None:
        marked = read(tail)
        if marked.value is not None:
            return Answer(None, "answer_marker", value=marked.value)
    return read(body)


def extract_interval(text: str) -> Answer:
    """``Answer(value=(start, end))`` in seconds, or ``Answer(None, reason)``; see the module doc."""
    return _with_marker(text, _interval_in)


def extract_time(text: str, signed: bool = False) -> Answer:
    """``Answer(value=seconds)``, or ``Answer(None, reason)``; ``signed`` reads a sign or a
    before/after word too (an offset between two moments); see the module doc."""
    if signed:
        return _with_marker(text, lambda part: _time_in(part, signed=True), _SIGNED_MARKER)
    return _with_marker(text, _time_in)


def extract_yes_no(text: str) -> Answer:
    """``Answer(value="yes" | "no")``: after an answer marker, as the first word, or as the only one
    of the two words in the text; both words without such a cue refuse as ``ambiguous``."""
    body, why = _prepare(text)
    if body is None:
        return Answer(None, why)
    for rule, part in (("answer_marker", _after_marker(body)), ("leading", body)):
        if part is not None and (m := _LEADING_YES_NO.match(part)):
            return Answer(None, rule, value=m.group(1).lower())
    found = {m.group(1).lower() for m in _YES_NO.finditer(body)}
    if len(found) == 1:
        return Answer(None, "yes_no_word", value=found.pop())
    return Answer(None, "ambiguous" if found else "no_yes_no")
