"""Read a multiple-choice letter out of a model's raw text, or refuse to guess.

The original release took the first character of the response, so "As the video
shows ... C" scored as A. This module instead applies a fixed list of rules and
reports which one decided, so every score can be traced back to a rule.

Preparation (before any rule):

- The text is normalised with NFKC, so full-width letters and punctuation
  (``（Ｂ）``, ``答案：Ｂ``) read as their ASCII forms; curly quotes become straight
  ones and zero-width characters are dropped.
- Reasoning is removed: complete ``<think>…</think>`` blocks are cut out, text
  before a stray ``</think>`` is dropped (templates that open the block in the
  prompt), and an unclosed ``<think>`` drops everything after it. Letters the
  model considered while thinking are never its answer.
- Every occurrence of an option's text is masked out before letters are looked
  for, so an option such as ``"C. speaker B"`` echoed by the model does not count
  as a mention of letter B.

A *letter token* is a single letter that stands alone: not part of a word
(``Based``), a hyphenated word (``X-ray``), a contraction (``I'm``) or an
abbreviation (``U.S.``). The English words "A"/"a" and "I" followed by an
ordinary lower-case word ("A man speaks", "I think") are words, not choices.
A letter preceded by a negation ("not A", "isn't B") is never the chosen one.
Only letters of the given options are answers.

Rules, in precedence order (the first that decides wins; ``rule`` names it):

1. ``answer_marker`` — an explicit answer marker followed by a letter:
   "Answer: B", "the answer is **b**", "the correct option is (B)", "I choose B",
   ``\\boxed{B}``, "答案：B", "答案是B", "选择B". All markers must agree; two letters
   ("the answer is A or B") refuse as ``ambiguous``; markers naming only letters
   outside the options refuse as ``invalid_letter``. Markers come first because
   they are the model's own statement of its answer, even after long prose.
2. ``bare_letter`` — the whole response is one letter with optional markup:
   "B", "b.", "(B)", "[B]", "**B**", "Option B", "选项B". A lone letter outside the
   options refuses as ``invalid_letter``.
3. ``leading_letter`` — the response starts with a delimited letter, the usual
   "letter then text" answer format: "B: the dog", "b) the dog", "(B) the dog". It applies
   only when no other option letter appears later, so a response that walks
   through the options one by one is not read as choosing the first.
4. ``option_text`` — the whole response equals one option's text after
   normalising case, whitespace, markup and trailing punctuation. It sits before
   the refusal check so an option such as "None of the above" can be chosen.
5. refusal — "I cannot tell", "I don't know", "not sure", "none of the above",
   "neither", "不确定"... refuse as ``refusal``. Only the rules above, where the
   model states an answer plainly, outrank a hedge.
6. ``letter_token`` — exactly one distinct option letter occurs as a letter token
   (including "Option b", "(b)" and "**b**" in any case; a bare token must be a
   capital). Two or more distinct letters refuse as ``ambiguous``.
7. ``option_text_contained`` — the response contains the full text of exactly one
   option (ignoring an option whose text only occurs inside a longer matching
   option's text, and occurrences after a negation). More than one refuses as
   ``ambiguous``.
8. Otherwise refuse as ``no_option``.

Refusal reasons: ``empty`` (nothing but whitespace), ``unfinished_think`` (only
an unclosed reasoning block), ``refusal``, ``ambiguous``, ``invalid_letter``,
``no_option``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vsync_models.types import Answer

__all__ = ["extract_choice"]


# ---------------------------------------------------------------------------
# Building blocks shared by the rules
# ---------------------------------------------------------------------------

_LEFT_BOUNDARY = r"(?<![A-Za-z0-9])(?<![A-Za-z]['.\-])"
"""Not glued to a preceding word, contraction, hyphenated word or abbreviation ("U.S")."""

_RIGHT_BOUNDARY = r"(?![A-Za-z0-9])(?!['\-][A-Za-z])(?!\.[A-Za-z]\.)"
"""Not glued to a following word ("Based"), contraction ("I'm"), hyphen ("X-ray") or "e.g."."""

_GAP = r"[\s*_`\"'(\[{<【「『〔:=\-–—]*"
"""Whitespace, markdown and opening brackets allowed between a marker and its letter."""

_NEXT_WORD = re.compile(r"[ \t]+([a-z][a-z']*)")

_A_CONTINUATIONS = re.compile(
    r"is|was|seems|appears|matches|fits|describes|corresponds|because|since|as|and|or|nor"
    r"|with|which|the|this|that|it|would|should|could|must|will"
)
"""Words that may follow the *letter* A ("A is correct"); after the article a noun follows."""

_I_CONTINUATIONS = re.compile(r"is|or|nor|and")
"""Words that may follow the letter I; nearly everything else follows the pronoun."""

_NEGATION = re.compile(
    r"(?i:\bnot|n't|\bnor|\bneither|\bexcept|\bexcluding|\bnever)"
    r"\s+(?i:(?:option|choice)\s+)?[\s*_`\"'(\[{<]*$"
)
_NEGATION_WINDOW = 40


def _is_word_use(text: str, end: int, letter: str) -> bool:
    """Whether the letter just before ``end`` is the English word "a"/"I", not a choice.

    "A man speaks" and "I think" are words; "A is correct" and "A, because" are choices.
    """
    if letter not in "aAiI":
        return False
    nxt = _NEXT_WORD.match(text, end)
    if nxt is None:
        return False
    allowed = _A_CONTINUATIONS if letter in "aA" else _I_CONTINUATIONS
    return allowed.fullmatch(nxt.group(1)) is None


def _is_negated(text: str, start: int) -> bool:
    """Whether the mention at ``start`` is preceded by a negation ("not A", "isn't the dog")."""
    return _NEGATION.search(text[max(0, start - _NEGATION_WINDOW) : start]) is not None


# ---------------------------------------------------------------------------
# Preparation
# ---------------------------------------------------------------------------

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"'})
_THINK_TAG = re.compile(r"<(?P<close>/?)(?P<kind>thinking|think)\s*>", re.I)
"""An opening or closing reasoning tag; ``<think>`` closes only with ``</think>``, ``<thinking>``
only with ``</thinking>``."""
_THINK_CLOSE = re.compile(r"</think(?:ing)?\s*>", re.I)
_THINK_OPEN = re.compile(r"<think(?:ing)?\s*>", re.I)


def _normalise(text: str) -> str:
    """NFKC (full-width → ASCII), straight quotes, no zero-width characters."""
    text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", text).translate(_QUOTES)


def _strip_thinking(text: str) -> tuple[str, bool]:
    """Remove reasoning blocks; also report whether an unclosed ``<think>`` was cut off.

    One pass over the tags, so the work is linear in the length of the text however the tags
    nest or fail to close (a pattern such as ``<think>.*?</think>`` rescans the rest of the text
    from every unclosed opening tag: quadratic). Left to right, an opening tag starts a block
    that ends at the first closing tag of its kind after it; the block becomes one space and
    the scan goes on after it; an opening tag with no such closing tag is left in place. Then
    the text before the last stray closing tag is dropped (the opening tag was part of the prompt
    template), and everything from the first opening tag still in place (an unclosed block).
    """
    tags = [
        (m.start(), m.end(), m.group("kind").lower(), m.group("close") == "/")
        for m in _THINK_TAG.finditer(text)
    ]
    # next_close[i]: kind → index of the first closing tag of that kind at or after tag i.
    next_close: list[dict[str, int]] = [{}] * (len(tags) + 1)
    for i in range(len(tags) - 1, -1, -1):
        kind, closing = tags[i][2], tags[i][3]
        next_close[i] = {**next_close[i + 1], kind: i} if closing else next_close[i + 1]
    pieces: list[str] = []
    done = 0  # text[:done] is handled
    i = 0
    while i < len(tags):
        start, _, kind, closing = tags[i]
        match = None if closing else next_close[i + 1].get(kind)
        if match is None:
            i += 1
            continue
        pieces += [text[done:start], " "]
        done = tags[match][1]
        i = match + 1
    pieces.append(text[done:])
    text = "".join(pieces)
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:  # the opening tag was part of the prompt template
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened is None:
        return text, False
    return text[: opened.start()], True


def _parse_options(options: Sequence[str]) -> dict[str, str]:
    """Letter → option text. Malformed options are a programming error, so they raise."""
    parsed: dict[str, str] = {}
    for opt in options:
        head = unicodedata.normalize("NFKC", opt[:1]).upper()
        if len(head) != 1 or not "A" <= head <= "Z":
            raise ValueError(f"option {opt!r} does not start with a letter A-Z")
        if head in parsed:
            raise ValueError(f"option letter {head} appears twice in {list(options)!r}")
        parsed[head] = _normalise(opt[2:]).strip()
    return parsed


# ---------------------------------------------------------------------------
# Option texts
# ---------------------------------------------------------------------------

_EDGE_JUNK = " \t\r\n.,;:!?*_`\"'。，；：！？、"


def _canonical(text: str) -> str:
    """Lower case, single spaces, no surrounding markup or trailing punctuation."""
    return re.sub(r"\s+", " ", text.casefold()).strip(_EDGE_JUNK)


def _text_pattern(option_text: str) -> re.Pattern[str] | None:
    """A case-insensitive, whitespace-tolerant, word-bounded pattern for one option's text."""
    words = _canonical(option_text).split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<![A-Za-z0-9]){body}(?![A-Za-z0-9])", re.I)


def _option_spans(body: str, texts: dict[str, str]) -> dict[str, list[tuple[int, int]]]:
    """Where each option's text occurs in the response."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for letter, option_text in texts.items():
        pattern = _text_pattern(option_text)
        if pattern is not None:
            found = [m.span() for m in pattern.finditer(body)]
            if found:
                spans[letter] = found
    return spans


def _mask(body: str, spans: dict[str, list[tuple[int, int]]]) -> str:
    """Blank out option texts (keeping offsets) so letters inside them are not read as choices."""
    chars = list(body)
    for found in spans.values():
        for start, end in found:
            chars[start:end] = " " * (end - start)
    return "".join(chars)


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    """One response, prepared once and shared by every rule."""

    body: str
    """Normalised response without reasoning."""
    masked: str
    """``body`` with every option text blanked out."""
    texts: dict[str, str]
    """Letter → option text."""
    spans: dict[str, list[tuple[int, int]]]
    """Letter → where its option text occurs in ``body``."""

    def decide(self, letters: set[str], rule: str) -> Answer | None:
        """One distinct valid letter decides; several are ambiguous; none lets later rules try."""
        valid = {c.upper() for c in letters} & self.texts.keys()
        if len(valid) == 1:
            return Answer(valid.pop(), rule)
        if len(valid) > 1:
            return Answer(None, "ambiguous")
        return None


_MARKER = re.compile(
    r"(?:"
    r"(?i:\b(?:(?:final|correct|right|best|my)\s+)?answer\b"
    r"(?:\s+to\s+(?:this|the)\s+question)?"
    r"(?:\s+(?:is|would\s+be|should\s+be|will\s+be|must\s+be|seems\s+to\s+be))?)"
    r"|(?i:\b(?:correct|right|best|final)\s+(?:option|choice)\s+"
    r"(?:is|would\s+be|should\s+be|will\s+be|must\s+be))"
    r"|(?i:\b(?:option|choice)\s*[:=])"
    r"|(?i:\bI\s*(?:would|will|'d|'ll)?\s*(?:choose|select|pick|go\s+with))"
    r"|\\boxed\{(?:\\text(?:bf)?\{)?"
    r"|答案\s*(?:是|为|应为|应该是|选)?"
    r"|(?:我|应|应该)?选择?"
    r")"
    r"(?i:\s+(?:therefore|thus|probably|likely|most\s+likely|clearly|definitely|either))?"
    rf"{_GAP}(?i:(?:option|choice|letter|选项)\s*{_GAP})?"
    rf"(?P<letter>[A-Za-z]){_RIGHT_BOUNDARY}"
)
"""An explicit answer marker and the letter it introduces."""

_ALTERNATIVE = re.compile(
    r"[\s,;]*(?i:or|/)(?i:\s+(?:maybe|perhaps|possibly|option|choice))?"
    rf"{_GAP}(?P<letter>[A-Za-z]){_RIGHT_BOUNDARY}"
)
"""A second letter offered right after a marked one: "the answer is A or B", "A/B"."""


def _rule_answer_marker(ctx: _Context) -> Answer | None:
    """Rule 1: explicit markers ("Answer: B", "答案是B") name the answer."""
    named: set[str] = set()
    for m in _MARKER.finditer(ctx.masked):
        letter = m.group("letter")
        if _is_word_use(ctx.masked, m.end(), letter):
            continue
        named.add(letter.upper())
        alt = _ALTERNATIVE.match(ctx.masked, m.end())
        if alt and not _is_word_use(ctx.masked, alt.end(), alt.group("letter")):
            named.add(alt.group("letter").upper())
    if not named:
        return None
    if len(named) > 1:
        return Answer(None, "ambiguous")
    return ctx.decide(named, "answer_marker") or Answer(None, "invalid_letter")


_WHOLE_LETTER = re.compile(
    r"[\s*_`\"'(\[{<【「『〔#]*"
    r"(?i:(?:answer|option|choice|选项|答案)\s*[:=]?[\s*_`\"'(\[{<【「『〔]*)?"
    r"(?P<letter>[A-Za-z])"
    r"[\s*_`\"')\]}>】」』〕.,:;!。]*"
)
"""The whole response is one letter wrapped in markup."""


def _rule_bare_letter(ctx: _Context) -> Answer | None:
    """Rule 2: the response is nothing but a letter ("B", "(b)", "**B**", "Option B")."""
    m = _WHOLE_LETTER.fullmatch(ctx.body)
    if m is None:
        return None
    return ctx.decide({m.group("letter")}, "bare_letter") or Answer(None, "invalid_letter")


_LEADING_LETTER = re.compile(
    r"[\s*_`\"'(\[{<【「『〔#]*"
    rf"(?P<letter>[A-Za-z]){_RIGHT_BOUNDARY}"
    r"(?:[)\]}>】」』〕]|\*\*|\s*[.:)]|\s+[-–—]\s)"
)
"""A response that opens with a delimited letter, as in "B: the dog" or "b) the dog"."""


def _rule_leading_letter(ctx: _Context) -> Answer | None:
    """Rule 3: the answer format "B: <text>", unless other option letters follow."""
    m = _LEADING_LETTER.match(ctx.masked)
    if m is None:
        return None
    letter = m.group("letter").upper()
    if letter not in ctx.texts or not _letter_tokens(ctx.masked) <= {letter}:
        return None
    return Answer(letter, "leading_letter")


def _rule_option_text(ctx: _Context) -> Answer | None:
    """Rule 4: the response is exactly one option's text, without its letter."""
    said = _canonical(ctx.body)
    matching = {letter for letter, text in ctx.texts.items() if said and _canonical(text) == said}
    return ctx.decide(matching, "option_text")


_REFUSAL = re.compile(
    r"(?i:"
    r"\b(?:can(?:not|'t)|could(?:\s+not|n't)|unable\s+to|impossible\s+to|not\s+possible\s+to)"
    r"\s+(?:be\s+)?(?:tell|determined?|say|decide|know|answer|identify|judge)"
    r"|\bdo(?:n't|\s+not)\s+know\b"
    r"|\bnot\s+(?:sure|certain)\b"
    r"|\bunsure\b"
    r"|\bnone\s+of\s+(?:the|these|them|those)\b"
    r"|\bneither\b"
    r"|\bno\s+(?:correct\s+|valid\s+|matching\s+)?(?:answer|option)s?\b"
    r"|\b(?:insufficient|not\s+enough)\s+information\b"
    r")"
    r"|不确定|无法确定|无法判断|无法回答|不知道|不清楚|都不是|都不对|以上都不"
)
"""Ways models decline to choose."""


def _rule_refusal(ctx: _Context) -> Answer | None:
    """Rule 5: a hedge or refusal that no plain statement of an answer outranked."""
    return Answer(None, "refusal") if _REFUSAL.search(ctx.masked) else None


_TOKEN = re.compile(
    rf"(?i:\b(?:option|choice)\s*|选项\s*)(?P<ref>[A-Za-z]){_RIGHT_BOUNDARY}"
    r"|[(\[【「]\s*(?P<bracketed>[A-Za-z])\s*[)\]】」]"
    r"|\*\*(?P<bold>[A-Za-z])\*\*"
    rf"|{_LEFT_BOUNDARY}(?P<bare>[A-Z]){_RIGHT_BOUNDARY}"
)
"""A letter mentioned as a choice: "Option b", "(b)", "**b**" in any case, or a bare capital."""


def _letter_tokens(text: str) -> set[str]:
    """Every letter (upper-cased) that ``text`` mentions as a choice, except negated mentions."""
    found: set[str] = set()
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "bare"
        letter = m.group(kind)
        if kind in ("ref", "bare") and _is_word_use(text, m.end(), letter):
            continue
        if _is_negated(text, m.start()):
            continue
        found.add(letter.upper())
    return found


def _rule_letter_token(ctx: _Context) -> Answer | None:
    """Rule 6: exactly one option letter stands alone somewhere in the response."""
    return ctx.decide(_letter_tokens(ctx.masked), "letter_token")


def _nested_spans(spans: dict[str, list[tuple[int, int]]]) -> set[tuple[int, int]]:
    """Spans lying inside a longer span, e.g. option "red" inside option "red circle"."""
    nested: set[tuple[int, int]] = set()
    ordered = sorted({sp for found in spans.values() for sp in found}, key=lambda sp: (sp[0], -sp[1]))
    furthest = -1
    for start, end in ordered:
        if end <= furthest:
            nested.add((start, end))
        furthest = max(furthest, end)
    return nested


def _rule_option_text_contained(ctx: _Context) -> Answer | None:
    """Rule 7: the response quotes exactly one option's full text."""
    nested = _nested_spans(ctx.spans)
    quoted = {
        letter
        for letter, found in ctx.spans.items()
        if any(span not in nested and not _is_negated(ctx.body, span[0]) for span in found)
    }
    return ctx.decide(quoted, "option_text_contained")


_RULES: tuple[Callable[[_Context], Answer | None], ...] = (
    _rule_answer_marker,
    _rule_bare_letter,
    _rule_leading_letter,
    _rule_option_text,
    _rule_refusal,
    _rule_letter_token,
    _rule_option_text_contained,
)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def extract_choice(text: str, options: Sequence[str]) -> Answer:
    """Return the option letter ``text`` chooses, or ``Answer(None, reason)`` when it chooses none.

    ``options`` are lettered as in the dataset (``"A. the red circle"``). Only their
    letters can be returned. See the module docstring for the rules and their order.
    """
    texts = _parse_options(options)
    if not text or text.isspace():
        return Answer(None, "empty")
    body, unfinished = _strip_thinking(_normalise(text))
    body = body.strip()
    if not body:
        return Answer(None, "unfinished_think" if unfinished else "empty")
    spans = _option_spans(body, texts)
    ctx = _Context(body=body, masked=_mask(body, spans), texts=texts, spans=spans)
    for rule in _RULES:
        answer = rule(ctx)
        if answer is not None:
            return answer
    return Answer(None, "no_option")
