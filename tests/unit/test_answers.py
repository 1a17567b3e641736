"""Answer extraction: every form real models write, every refusal, and properties over random text."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vsync_models.scoring.answers import extract_choice
from vsync_models.types import Answer

SHAPES = ["A. the red circle", "B. the blue square", "C. the green triangle", "D. the yellow star"]
ANIMALS = ["A. the cat", "B. the dog", "C. the horse"]
SPEAKERS = ["A. speaker B", "B. speaker A", "C. nobody"]
NONE_OPTION = ["A. the red circle", "B. the blue square", "C. None of the above"]

PROPERTY_SETTINGS = settings(max_examples=150, deadline=None)


def case(text: str, letter: str | None, rule: str, options: list[str] = SHAPES, id: str | None = None):
    return pytest.param(text, options, Answer(letter, rule), id=id or text[:40] or "<empty>")


# ---------------------------------------------------------------------------
# Table: forms that must be read
# ---------------------------------------------------------------------------

READ_CASES = [
    # the whole response is one letter
    case("B", "B", "bare_letter"),
    case("B.", "B", "bare_letter"),
    case("(B)", "B", "bare_letter"),
    case("[B]", "B", "bare_letter"),
    case("**B**", "B", "bare_letter"),
    case("b", "B", "bare_letter"),
    case("  c.\n", "C", "bare_letter"),
    case("Ｂ", "B", "bare_letter", id="fullwidth letter"),
    case("（Ｂ）", "B", "bare_letter", id="fullwidth parentheses"),
    case("【B】", "B", "bare_letter"),
    case("Option B", "B", "bare_letter"),
    case("option d", "D", "bare_letter"),
    case("选项B", "B", "bare_letter"),
    case("\u200bB\ufeff", "B", "bare_letter", id="zero-width characters"),
    case("A", "A", "bare_letter", id="bare A is the letter"),
    # explicit answer markers
    case("Answer: B", "B", "answer_marker"),
    case("answer is b", "B", "answer_marker"),
    case("ANSWER: c", "C", "answer_marker"),
    case("The answer is B) the dog", "B", "answer_marker", options=ANIMALS),
    case("I think the answer is **C**, because the man on the left speaks first.", "C", "answer_marker"),
    case("As the video shows, the woman speaks first. The answer is C.", "C", "answer_marker"),
    case("**Answer:** **D**", "D", "answer_marker"),
    case("Final Answer: (C)", "C", "answer_marker"),
    case("The correct option is B.", "B", "answer_marker"),
    case("The answer is option D.", "D", "answer_marker"),
    case("The answer is therefore A.", "A", "answer_marker"),
    case("The answer is A because the man speaks first.", "A", "answer_marker"),
    case("The answer to the question is C", "C", "answer_marker"),
    case("I would choose D.", "D", "answer_marker"),
    case("I'd go with B.", "B", "answer_marker"),
    case("\\boxed{D}", "D", "answer_marker"),
    case("So the result is $\\boxed{\\text{B}}$", "B", "answer_marker"),
    case("答案：B", "B", "answer_marker"),
    case("答案：Ｂ", "B", "answer_marker", id="fullwidth colon and letter"),
    case("答案是C。", "C", "answer_marker"),
    case("正确答案为 A", "A", "answer_marker"),
    case("我选择B", "B", "answer_marker"),
    case("A. the red circle\nB. the blue square\nAnswer: C", "C", "answer_marker", id="echoed options"),
    case("Answer: B\n\nFinal answer: B", "B", "answer_marker", id="markers agree"),
    case("I'm not sure, but the answer is B.", "B", "answer_marker", id="marker outranks hedge"),
    # think blocks
    case("<think>A? or maybe C. The answer is D.</think>\nB", "B", "bare_letter"),
    case("<think>Option A looks right.</think>\n\nThe answer is C.", "C", "answer_marker"),
    case("<THINKING>A</THINKING> b", "B", "bare_letter", id="thinking tag, upper case"),
    case("reasoning about A and D</think>C", "C", "bare_letter", id="orphan closing tag"),
    case("B <think>but maybe A", "B", "bare_letter", id="answer before unclosed think"),
    # answer-format lines
    case("B: the dog", "B", "leading_letter", options=ANIMALS),
    case("b) the dog", "B", "leading_letter", options=ANIMALS),
    case("(B) the dog, clearly.", "B", "leading_letter", options=ANIMALS),
    case("A. As the video shows, the cat meows first.", "A", "leading_letter", options=ANIMALS),
    case("D - it appears at the end", "D", "leading_letter"),
    # option text instead of the letter
    case("the blue square", "B", "option_text"),
    case("The Blue  Square.", "B", "option_text"),
    case("**the green triangle**", "C", "option_text"),
    case("None of the above", "C", "option_text", options=NONE_OPTION, id="'none of the above' as an option"),
    case("speaker A", "B", "option_text", options=SPEAKERS, id="option text holding a letter"),
    case("I believe it is the blue square that appears first.", "B", "option_text_contained"),
    case("The red circle, not the blue square.", "A", "option_text_contained", id="negated option"),
    case("the red circle", "A", "option_text", options=["A. the red circle", "B. red"], id="exact wins"),
    case("It was the red circle.", "A", "option_text_contained", options=["A. the red circle", "B. red"]),
    # one standalone letter in prose
    case("As the video shows, the speaker on the right is C", "C", "letter_token", id="original defect"),
    case("A man speaks first, so C.", "C", "letter_token", id="article is not A"),
    case("Based on the audio, I think C.", "C", "letter_token"),
    case("It is clearly (c).", "C", "letter_token"),
    case("B is correct.", "B", "letter_token"),
    case("The U.S. flag is visible, so D", "D", "letter_token", id="abbreviation letters"),
    case("The X-ray shot matches B", "B", "letter_token", id="hyphenated letter"),
    case("I'm sure it's D.", "D", "letter_token", id="contraction"),
    case("Answer: I think it's B", "B", "letter_token", id="pronoun after a marker"),
    case("It is not A; it is B.", "B", "letter_token", id="negated letter"),
    case("Speaker B talks first: speaker B.", "A", "option_text_contained", options=SPEAKERS),
    case("I think option b", "B", "letter_token"),
    case("The answer is I", "I", "answer_marker", options=[f"{c}. opt {c}" for c in "ABCDEFGHIJ"]),
    case("It has to be J", "J", "letter_token", options=[f"{c}. opt {c}" for c in "ABCDEFGHIJ"]),
]


@pytest.mark.parametrize(("text", "options", "expected"), READ_CASES)
def test_reads_choice(text: str, options: list[str], expected: Answer) -> None:
    assert extract_choice(text, options) == expected


# ---------------------------------------------------------------------------
# Table: texts that must be refused
# ---------------------------------------------------------------------------

REFUSE_CASES = [
    case("", None, "empty"),
    case("   \n\t", None, "empty"),
    case("<think></think>", None, "empty"),
    case("<think>", None, "unfinished_think"),
    case("<think>The answer is B, because", None, "unfinished_think"),
    case("I cannot tell", None, "refusal"),
    case("I can't tell from the video.", None, "refusal"),
    case("I don't know", None, "refusal"),
    case("I don’t know.", None, "refusal", id="curly apostrophe"),
    case("none of the above", None, "refusal"),
    case("Neither A nor B.", None, "refusal"),
    case("不确定", None, "refusal"),
    case("无法判断", None, "refusal"),
    case("It cannot be determined from the clip.", None, "refusal"),
    case("I'm not sure; maybe B?", None, "refusal", id="hedge outranks a stray letter"),
    case("A or B", None, "ambiguous"),
    case("either A or C", None, "ambiguous"),
    case("The answer is A or B.", None, "ambiguous"),
    case("The answer is either A or C", None, "ambiguous"),
    case("The answer is A, or maybe B.", None, "ambiguous"),
    case("Answer: A\nAnswer: C", None, "ambiguous", id="markers disagree"),
    case("Both A and C are plausible", None, "ambiguous"),
    case("Option A is wrong; option C is right.", None, "ambiguous"),
    case("A. the red circle is wrong. B. the blue square is right.", None, "ambiguous", id="walkthrough"),
    case("The red circle or the blue square", None, "ambiguous"),
    case("the red circle", None, "ambiguous", options=["A. the red circle", "B. the red circle"]),
    case("A man speaks", None, "no_option", id="article only"),
    case("A woman waves while I watch.", None, "no_option"),
    case("The woman speaks first.", None, "no_option"),
    case("The answer is not A.", None, "no_option"),
    case("the answer is a man", None, "no_option"),
    case("Answer:", None, "no_option"),
    case("e.g. the speaker", None, "no_option"),
    case("D", None, "invalid_letter", options=ANIMALS, id="bare letter outside options"),
    case("Answer: D", None, "invalid_letter", options=ANIMALS),
    case("It is D.", None, "no_option", options=ANIMALS, id="token outside options"),
]


@pytest.mark.parametrize(("text", "options", "expected"), REFUSE_CASES)
def test_refuses(text: str, options: list[str], expected: Answer) -> None:
    assert extract_choice(text, options) == expected


def test_accepts_parenthesised_option_prefix() -> None:
    assert extract_choice("the dog", ["A) the cat", "B) the dog"]) == Answer("B", "option_text")


@pytest.mark.parametrize("bad", [["1. one", "2. two"], ["A. one", "A. again"], [""]])
def test_malformed_options_raise(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        extract_choice("A", bad)


# ---------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------

LETTERS = string.ascii_uppercase
OPTION_WORDS = [
    "zebra", "quokka", "walrus", "ocelot", "narwhal", "axolotl", "pangolin", "tapir", "okapi",
    "lemur", "ibex", "dingo", "gecko", "heron", "koala", "llama", "marmot", "newt", "otter",
    "puffin", "quail", "raven", "sloth", "toucan", "urchin", "vole",
]  # fmt: skip
"""Option texts come from here; prose never uses these words, so it never quotes an option."""

PROSE_WORDS = [
    "the", "video", "shows", "As", "speaker", "woman", "man", "then", "first", "because", "voice",
    "Based", "on", "audio", "clip", "Clearly", "timing", "matches", "lips", "move", "after", "before",
    "Looking", "at", "frames", "In", "scene", "we", "hear", "words", "spoken", "left", "right",
    "Also", "It", "seems", "that", "this", "is", "X-ray", "U.S.", "I'm", "e.g.", "Ok", "so",
]  # fmt: skip
"""Ordinary words: capitalised ones and words with letters glued in, but no standalone letter."""

FULLWIDTH = str.maketrans(
    {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"}
)  # fmt: skip


def lettered(n: int) -> list[str]:
    return [f"{LETTERS[i]}. the {OPTION_WORDS[i]}" for i in range(n)]


prose = st.lists(st.sampled_from(PROSE_WORDS), min_size=1, max_size=12).map(" ".join)
thoughts = st.lists(
    st.tuples(
        st.sampled_from(["Maybe {}.", "Option {} looks right.", "The answer is {}?", "Not {}.", "({})"]),
        st.sampled_from(LETTERS),
    ).map(lambda pair: pair[0].format(pair[1])),
    max_size=5,
).map(" ".join)

CASE_FREE_TEMPLATES = [
    "{L}",
    "{L}.",
    "({L})",
    "[{L}]",
    "**{L}**",
    "Answer: {L}",
    "The answer is {L}.",
    "I think the answer is **{L}**, because {P}.",
    "{P}. Answer: ({L})",
    "{P}. So the final answer is {L}.",
    "<think>{T}</think>\n{L}",
    "<think>{T}</think>\n{P}. The answer is {L}.",
    "{T}</think>{L}",
    "答案：{L}",
    "选项{L}",
    "Option {L}",
    "\\boxed{{{L}}}",
    "{L}: {P}",
]
"""Templates where the letter may be written in either case."""

UPPER_TEMPLATES = ["{P}, so {L}.", "{P}. {L}", "<think>{T}</think> {P} ({L}) {P}"]
"""Templates where only a capital letter is a choice (a lone lower-case "a" is an article)."""


@st.composite
def wrapped(draw: st.DrawFn, letter: str) -> str:
    """``letter`` wrapped in harmless prose and markup, in random case and width."""
    template = draw(st.sampled_from(CASE_FREE_TEMPLATES + UPPER_TEMPLATES))
    if template in CASE_FREE_TEMPLATES and draw(st.booleans()):
        letter = letter.lower()
    width = draw(st.sampled_from(["ascii", "letter", "all"]))
    if width == "letter":
        letter = letter.translate(FULLWIDTH)
    text = template.format(L=letter, P=draw(prose), T=draw(thoughts))
    return text.translate(FULLWIDTH) if width == "all" else text


@st.composite
def option_sets(draw: st.DrawFn, min_size: int = 2, max_size: int = 26) -> list[str]:
    return lettered(draw(st.integers(min_size, max_size)))


@PROPERTY_SETTINGS
@given(data=st.data())
def test_wrapped_letter_is_recovered(data: st.DataObject) -> None:
    options = data.draw(option_sets())
    letter = data.draw(st.sampled_from([opt[0] for opt in options]))
    text = data.draw(wrapped(letter))
    answer = extract_choice(text, options)
    assert answer.letter == letter, (text, answer)


@PROPERTY_SETTINGS
@given(
    options=option_sets(),
    words=st.lists(st.tuples(st.sampled_from(PROSE_WORDS), st.sampled_from([" ", ", ", ". ", "\n", "? "]))),
)
def test_prose_without_options_yields_nothing(options: list[str], words: list[tuple[str, str]]) -> None:
    text = "".join(word + sep for word, sep in words)
    answer = extract_choice(text, options)
    assert answer.letter is None, (text, answer)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_letters_outside_options_are_never_returned(data: st.DataObject) -> None:
    options = data.draw(option_sets(max_size=25))
    outside = data.draw(st.sampled_from(LETTERS[len(options) :]))
    text = data.draw(wrapped(outside))
    answer = extract_choice(text, options)
    assert answer.letter is None, (text, answer)


TRICKY_FRAGMENTS = [*"AbCdIi ().:*\n", "answer", "<think>", "</think>", "Ｂ", "not ", "option "]


@PROPERTY_SETTINGS
@given(
    options=option_sets(),
    text=st.one_of(
        st.text(),
        st.lists(st.sampled_from(TRICKY_FRAGMENTS)).map("".join),
    ),
)
def test_never_raises_and_stays_in_range(options: list[str], text: str) -> None:
    answer = extract_choice(text, options)
    assert isinstance(answer, Answer)
    assert isinstance(answer.rule, str) and answer.rule
    assert answer.letter is None or answer.letter in {opt[0] for opt in options}
