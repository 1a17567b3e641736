"""The small value types that flow through one benchmark item.

    Item ──(modality)──▶ Request ──model──▶ Response ──extract──▶ Answer ──score──▶ ItemResult

They are frozen dataclasses so they can be hashed, cached and sent between
xdist processes without surprises.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "ANSWER_TYPES",
    "Answer",
    "Frame",
    "Item",
    "ItemResult",
    "Media",
    "Modality",
    "Outcome",
    "Provenance",
    "Request",
    "Response",
    "Sampling",
]

ANSWER_TYPES = ("choice", "interval", "instant", "yesno")
"""What an item asks for: an option letter, a ``[start, end]`` in seconds, one time, or yes/no."""


class Modality(str, enum.Enum):
    """Which streams of a clip a model may perceive (the original's ablation switch)."""

    AVT = "avt"
    VT = "vt"
    AT = "at"

    @property
    def sees_audio(self) -> bool:
        return self is not Modality.VT

    @property
    def sees_video(self) -> bool:
        return self is not Modality.AT

    @classmethod
    def parse(cls, text: str) -> Modality:
        """Accept the canonical names and the original release's synonyms."""
        key = text.strip().lower().replace(" ", "")
        try:
            return _MODALITY_SYNONYMS[key]
        except KeyError:
            known = ", ".join(sorted(_MODALITY_SYNONYMS))
            raise ValueError(f"unknown modality {text!r}; use one of: {known}") from None


MODALITY_ORDER = {"avt": 0, "vt": 1, "at": 2}
"""How tables and files list modalities: the headline (synchronised) condition first."""

_MODALITY_SYNONYMS = {
    "avt": Modality.AVT,
    "av": Modality.AVT,
    "audio+video": Modality.AVT,
    "audio+video+text": Modality.AVT,
    "vt": Modality.VT,
    "v": Modality.VT,
    "vision": Modality.VT,
    "video": Modality.VT,
    "video+text": Modality.VT,
    "at": Modality.AT,
    "a": Modality.AT,
    "audio": Modality.AT,
    "audio+text": Modality.AT,
}


@dataclass(frozen=True)
class Frame:
    """One sampled video frame, ready to send to an API that takes images."""

    t: float
    """Seconds from the first video frame."""
    jpeg: bytes
    width: int
    height: int


class Media(Protocol):
    """What a request may see of its clip; :class:`vsync_models.data.media.MediaView` is the one the
    harness builds. A method whose stream the modality withholds raises ``ModalityViolation``,
    so an adapter cannot leak audio into ``vt`` or frames into ``at`` by mistake."""

    modality: Modality

    @property
    def content_hash(self) -> str:
        """sha256 of the source clip (cache keys, result records)."""
        ...

    def video_file(self) -> Path:
        """A playable video: with its audio in ``avt``, without any audio in ``vt``."""
        ...

    def audio_file(self) -> Path:
        """The clip's audio alone (``avt``, ``at``)."""
        ...

    def audio_wav(self, rate: int = 16000) -> bytes:
        """The clip's audio alone as mono 16-bit WAV bytes (``avt``, ``at``)."""
        ...

    def frames(
        self, interval_s: float, max_frames: int, max_side: int = 448, quality: int = 70
    ) -> list[Frame]:
        """Sampled JPEG frames (``avt``, ``vt``)."""
        ...


class Outcome(str, enum.Enum):
    """How one item ended. Only the first three are the model's; ``error`` is infrastructure."""

    CORRECT = "correct"
    WRONG = "wrong"
    UNPARSEABLE = "unparseable"
    ERROR = "error"

    @property
    def scored(self) -> bool:
        """Whether the outcome enters the accuracy denominator."""
        return self is not Outcome.ERROR


@dataclass(frozen=True)
class Sampling:
    """What a model sees of a clip's picture: frames at ``fps`` per second, at most ``max_frames``.

    ``fps=None`` means every decoded frame; ``max_frames=None`` means no cap. Adapters that know how
    their provider samples video declare it (the OpenAI-compatible path: 1 fps, at most 8 frames);
    ``av_sync`` takes it as configuration so its ceiling can be measured at a model's sampling.
    """

    fps: float | None = None
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"sampling fps must be > 0, got {self.fps!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"sampling max_frames must be >= 1, got {self.max_frames!r}")

    @property
    def label(self) -> str:
        """``"1 fps, <= 8 frames"``, ``"every frame"``: how reports name it."""
        rate = "every frame" if self.fps is None else f"{self.fps:g} fps"
        return rate if self.max_frames is None else f"{rate}, <= {self.max_frames} frames"


@dataclass(frozen=True)
class Item:
    """One validated level-1 question about one clip, as read from the dataset file."""

    id: str | int
    video_path: str
    """Path as written in the dataset, relative to the video directory."""
    question: str
    options: tuple[str, ...]
    """Lettered options, e.g. ``"A. the woman in red"``."""
    correct_answer: str
    video_file: Path
    """Resolved, checked absolute path of the clip."""
    asr_content: str = ""
    task: str | None = None
    """Task type (e.g. ``who_said``) when the dataset carries one; becomes a pytest marker."""
    level: int = 1
    source: str = ""
    """Dataset file the item came from, for error messages."""
    index: int = 0
    """Position in that file, for error messages."""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Fields of the dataset entry that V-SYNC does not interpret, kept for round trips."""
    answer_type: str = "choice"
    """One of :data:`ANSWER_TYPES`; level 1 is all ``choice``."""
    answer: Any = None
    """The truth of a non-choice item: ``(start, end)`` seconds, seconds, or ``"yes"``/``"no"``."""
    duration: float | None = None
    """Clip length in seconds, told to the model so that times are answerable."""
    signed: bool = False
    """An ``instant`` that is a signed offset between two moments (may be negative), not a time in the clip."""

    @property
    def key(self) -> str:
        """The id as text; ids are unique as text (``1`` and ``"1"`` collide)."""
        return str(self.id)

    @property
    def letters(self) -> tuple[str, ...]:
        return tuple(opt[0] for opt in self.options)

    def option_texts(self) -> dict[str, str]:
        """Letter → option text without its ``"A. "`` prefix."""
        return {opt[0]: opt[2:].strip() for opt in self.options}


@dataclass(frozen=True)
class Request:
    """Everything one model call may see. Built only by :func:`vsync_models.data.prompts.build_request`,
    which is the single place that enforces what each modality withholds."""

    item_id: str
    level: int
    modality: Modality
    prompt: str
    """The assembled context ([SYSTEM], [ASR], Options, user prompt, answer format)."""
    question: str
    """Sent as a separate field, as in the original."""
    options: tuple[str, ...]
    system_prompt: str
    user_prompt: str
    answer_format: str
    asr_text: str | None
    """Transcript; ``None`` whenever the modality has no audio."""
    media: Media
    repeat: int = 0
    """``--repeat``: which asking of the same request this is; a separate cache entry when > 0."""
    rotation: int = 0
    """``--circular``: which rotation of the options this is (0 = as in the dataset). Not part of the
    cache key (the options already differ); a stand-in that samples draws anew per rotation."""
    answer_type: str = "choice"
    """What kind of answer the prompt asks for (``choice``, ``interval``, ``instant``, ``yesno``):
    the answer format says it in words; this says it to code (the baselines)."""
    duration_s: float | None = None
    """The clip's length, as the prompt's ``[CLIP]`` line states it (levels 2 and 3)."""


@dataclass(frozen=True)
class Response:
    """What came back from one call (or from the cache)."""

    text: str
    latency_s: float
    usage: dict[str, int] | None = None
    """Token counts when the provider reports them."""
    error: str | None = None
    """Set when the call failed for infrastructure reasons; ``text`` is then empty."""
    cached: bool = False
    retries: int = 0
    """How many times the call was retried (429, 5xx, reset...) before it answered or gave up."""
    error_kind: str | None = None
    """Why it failed, one of :data:`vsync_models.errors.ERROR_KINDS`; ``None`` when it answered."""
    replica: str | None = None
    """The replica that answered, when ``server_url`` names several."""


@dataclass(frozen=True)
class Answer:
    """An extracted choice. ``letter`` is ``None`` when the text cannot be read as one option."""

    letter: str | None
    rule: str
    """Which extraction rule decided (or why extraction refused)."""
    value: Any = None
    """A non-choice answer: ``(start, end)``, seconds or ``"yes"``/``"no"``; ``None`` when unreadable."""


@dataclass(frozen=True)
class Provenance:
    """What was asked, as hashes, and which asking it was: kept in the run records."""

    prompt_sha256: str
    """Prompt, question and options (the media are hashed apart)."""
    media_sha256: str | None
    """The source clip; ``None`` when it could not be read."""
    repeat: int = 0
    """``--repeat``: which asking of the same request (0 for the first or only one)."""


@dataclass(frozen=True)
class ItemResult:
    """The scored end of one item × modality: what the reports and results files are built from."""

    item: Item
    modality: Modality
    outcome: Outcome
    answer: Answer | None
    response: Response
    measure: float | None = None
    """IoU (interval) or absolute error in seconds (instant) of a parsed time answer."""
    provenance: Provenance | None = field(default=None, compare=False, hash=False)
    """What was asked (:func:`vsync_models.run.records.with_provenance`); ``None`` when not known."""
