"""Building the request for one item × modality: the original's prompt, and the modality gate.

This is the single place that decides what a model may see. A ``vt`` request
carries no transcript and a media view without the audio track; an ``at``
request carries a media view that refuses frames. Adapters only ever get the
:class:`~vsync_models.types.Request`, so none can break the ablation by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from vsync_models.config import DEFAULT_ANSWER_FORMAT, DEFAULT_SYSTEM_PROMPT, DEFAULT_USER_PROMPT, Config
from vsync_models.data.dataset import asks_times
from vsync_models.data.media import MediaPreparer, MediaView
from vsync_models.types import Item, Modality, Request

__all__ = [
    "TIMED_ANSWER_FORMATS",
    "TIMED_SYSTEM_PROMPT",
    "PromptSettings",
    "assemble_prompt",
    "build_request",
    "prompt_settings",
    "rotations",
]

TIMED_SYSTEM_PROMPT = (
    "You are a precise video-audio reasoning assistant. Times are in seconds from the start of the clip."
)
"""Levels 2/3: the level-1 system prompt demands a letter, which a time question cannot take."""
TIMED_ANSWER_FORMATS = {
    "choice": DEFAULT_ANSWER_FORMAT,
    "interval": (
        "Answer ONLY with the start and end time in seconds, in the form 'from 3.2 s to 5.0 s'. "
        "Do not include any other text."
    ),
    "instant": "Answer ONLY with one time in seconds, in the form '4.2 s'. Do not include any other text.",
    "signed_instant": (
        "Answer ONLY with one signed time in seconds, in the form '-1.2 s' or '+0.8 s'. "
        "Do not include any other text."
    ),
    "yesno": "Answer ONLY with yes or no. Do not include any other text.",
}
"""Levels 2/3: the answer format per answer type (``signed_instant``: an ``instant`` item marked
``signed``), unless ``benchmark.levelN.answer_format`` is set."""


@dataclass(frozen=True)
class PromptSettings:
    """The three configurable texts of the original prompt."""

    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    user_prompt: str = DEFAULT_USER_PROMPT
    answer_format: str = DEFAULT_ANSWER_FORMAT
    typed_formats: dict[str, str] = field(default_factory=dict)
    """Answer format per answer type (levels 2/3); ``answer_format`` where a type is missing."""

    def format_for(self, answer_type: str) -> str:
        return self.typed_formats.get(answer_type, self.answer_format)


def prompt_settings(config: Config, level: int, model_name: str) -> PromptSettings:
    """Resolve a level's prompts as the original did: ``models.<name>.user_prompt`` beats the level's.

    A level that asks for times (:func:`~vsync_models.data.dataset.asks_times`) defaults to a system
    prompt about seconds and an answer format per answer type, which its ``answer_format`` replaces;
    a multiple-choice level keeps the original's texts (``prompts.answer_format``).
    """
    lvl = config.level(level)
    model_user = config.own_settings(model_name).get("user_prompt")
    user = next((p for p in (model_user, lvl.user_prompt) if isinstance(p, str)), DEFAULT_USER_PROMPT)
    if asks_times(level):
        system, typed = TIMED_SYSTEM_PROMPT, {} if lvl.answer_format else dict(TIMED_ANSWER_FORMATS)
        answer_format = lvl.answer_format or config.answer_format or DEFAULT_ANSWER_FORMAT
    else:
        system, typed = DEFAULT_SYSTEM_PROMPT, {}
        answer_format = config.answer_format if config.answer_format is not None else DEFAULT_ANSWER_FORMAT
    return PromptSettings(
        system_prompt=lvl.system_prompt if lvl.system_prompt is not None else system,
        user_prompt=user,
        answer_format=answer_format,
        typed_formats=typed,
    )


def assemble_prompt(
    options: tuple[str, ...] | list[str],
    asr_text: str | None,
    settings: PromptSettings,
    answer_type: str = "choice",
    duration: float | None = None,
) -> str:
    """The original's context text: non-empty parts joined by a blank line, in this order.

    1. ``[SYSTEM]`` + system prompt, 2. ``[ASR]`` + transcript (absent without audio),
    3. ``Options:`` + one option per line, 4. user prompt, 5. answer format.
    The question is not part of it: it travels as its own field. Items with a ``duration``
    (levels 2/3) add ``[CLIP]`` with the clip's length after the transcript, so that a time
    is answerable; API models also get each frame's timestamp from their client.
    """
    parts = [
        f"[SYSTEM]\n{settings.system_prompt}" if settings.system_prompt else "",
        f"[ASR]\n{asr_text}" if asr_text else "",
        f"[CLIP]\nThe clip is {duration:.2f} seconds long." if duration is not None else "",
        "Options:\n" + "\n".join(options) if options else "",
        settings.user_prompt,
        settings.format_for(answer_type),
    ]
    return "\n\n".join(p for p in parts if p)


def build_request(
    item: Item,
    modality: Modality,
    settings: PromptSettings,
    preparer: MediaPreparer,
) -> Request:
    """The request a model gets for ``item`` under ``modality``; the transcript is audio, so
    it is withheld exactly when the audio track is."""
    asr = item.asr_content if modality.sees_audio and item.asr_content else None
    form = "signed_instant" if item.signed else item.answer_type
    duration = item.duration if asks_times(item.level) else None  # a letters-only level states none
    return Request(
        item_id=item.key,
        level=item.level,
        modality=modality,
        prompt=assemble_prompt(item.options, asr, settings, form, duration),
        question=item.question,
        options=item.options,
        system_prompt=settings.system_prompt,
        user_prompt=settings.user_prompt,
        answer_format=settings.format_for(form),
        asr_text=asr,
        media=MediaView(item.video_file, modality, preparer),
        answer_type=item.answer_type,
        duration_s=duration,
    )


def rotations(item: Item) -> list[Item]:
    """CircularEval: the item once per rotation of its option texts, re-lettered, answer moved along.

    Rotation 0 is the item itself. In rotation ``r`` letter ``i`` carries the text that
    letter ``i + r`` had, so every text is shown under every letter once; a model that
    favours one letter is right in at most one rotation. The id stays the item's: the
    options differ, so each rotation is its own request and cache entry.
    """
    if item.answer_type != "choice":
        return [item]  # a time or yes/no has no options to rotate
    letters = item.letters
    texts = [item.option_texts()[letter] for letter in letters]
    answer = letters.index(item.correct_answer)
    k = len(letters)
    out = [item]  # exactly the plain request, so a plain run's cached answer is reused
    for r in range(1, k):
        options = tuple(f"{letters[i]}{item.options[i][1]} {texts[(i + r) % k]}" for i in range(k))
        out.append(replace(item, options=options, correct_answer=letters[(answer - r) % k]))
    return out
