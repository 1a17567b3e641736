"""The chat-completions request body: pydantic models that FastAPI validates, and what they yield.

Accepted (the OpenAI chat format with the parts vLLM takes for omni models)::

    {"model": "...",                                   # optional; must name the served model
     "messages": [{"role": "user", "content": [
         {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,..." | "file:///abs/clip.mp4"}},
         {"type": "audio_url", "audio_url": {"url": "data:audio/mp4;base64,..." | "file:///abs/a.m4a"}},
         {"type": "input_audio", "input_audio": {"data": "<base64>", "format": "wav"}},
         {"type": "text", "text": "..."}]}],
     "max_tokens": 64, "temperature": 0, "top_p": 1, "seed": 0,
     "use_audio_in_video": true,                       # or inside mm_processor_kwargs, as vLLM takes it
     "mm_processor_kwargs": {"fps": 2, "max_frames": 32, "min_pixels": 3136, "max_pixels": 401408},
     "modality": "avt"}                                # V-SYNC extension: the server enforces it

``modality`` makes the ablation checkable on the server too: ``vt`` refuses audio parts and
``use_audio_in_video``, ``at`` refuses video, ``avt`` turns ``use_audio_in_video`` on unless an
audio part is sent separately. FastAPI validates a body against :func:`chat_body_model`'s model
(strict types: no strings for numbers, no floats for integers, no booleans for either); every
problem becomes a :class:`RequestError` with an HTTP status and an OpenAI-style error body
(:func:`validation_error`, naming the first problem by its JSON path). Nothing here touches the
file system.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vsync_models.serve.backend import VideoSampling
from vsync_models.types import Modality

__all__ = [
    "MAX_MEDIA_PARTS",
    "ChatCompletionBody",
    "ChatRequest",
    "MediaSource",
    "ParsedMessage",
    "RequestError",
    "chat_body_model",
    "parse_chat_request",
    "validation_error",
]

MAX_MEDIA_PARTS = {"video": 1, "audio": 1}
"""One video and one audio per request: the processors align one clip's audio with its frames."""

_MM_KEYS = ("use_audio_in_video", "fps", "max_frames", "min_pixels", "max_pixels")
_MAX_MESSAGES = 64
_PART_TYPES = ("text", "video_url", "audio_url", "input_audio")
_CODES = ("unsupported", "unsupported_part", "too_many_media", "modality_violation", "no_audio")
"""Error codes a validator may give (the pydantic error type); other problems have no code."""


class RequestError(Exception):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class MediaSource:
    """Where one media part comes from, before the server materialises it."""

    kind: Literal["video", "audio"]
    where: str
    """JSON path of the part, for error messages (``messages[0].content[1]``)."""
    url: str | None = None
    """``data:`` or ``file://`` URL."""
    data: str | None = None
    """Base64 payload of an ``input_audio`` part."""
    format: str | None = None
    """``input_audio`` format (wav, mp3, ...)."""


@dataclass(frozen=True)
class ParsedMessage:
    role: str
    parts: tuple[str | MediaSource, ...]


@dataclass(frozen=True)
class ChatRequest:
    model: str | None
    messages: tuple[ParsedMessage, ...]
    max_tokens: int | None
    temperature: float
    top_p: float | None
    seed: int | None
    use_audio_in_video: bool
    modality: Modality | None
    video: VideoSampling

    def media(self) -> list[MediaSource]:
        return [p for m in self.messages for p in m.parts if isinstance(p, MediaSource)]


def _bad(message: str, param: str | None = None, code: str | None = None) -> PydanticCustomError:
    """A validation problem with our own message (and ``param`` when the location does not say it)."""
    return PydanticCustomError(code or "invalid_request", "{message}", {"message": message, "param": param})


# -- the body, as pydantic models ---------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class UrlRef(_Strict):
    url: Annotated[str, Field(min_length=1)]


def _url_ref(value: Any) -> Any:
    """``{"url": ...}``, or the URL itself as vLLM also takes it."""
    return {"url": value} if isinstance(value, str) else value


_Url = Annotated[UrlRef, BeforeValidator(_url_ref)]


class TextContent(_Strict):
    type: Literal["text"]
    text: str


class VideoUrlContent(_Strict):
    type: Literal["video_url"]
    video_url: _Url


class AudioUrlContent(_Strict):
    type: Literal["audio_url"]
    audio_url: _Url


class InputAudio(_Strict):
    data: str
    format: str


class InputAudioContent(_Strict):
    type: Literal["input_audio"]
    input_audio: InputAudio


class UnsupportedContent(_Strict):
    """Any other part: refused with code ``unsupported_part``."""

    @model_validator(mode="before")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise _bad("a content part must be an object")
        kind = value.get("type")
        if kind in ("image_url", "image", "file"):
            raise _bad(f"part type {kind!r} is not supported by this server", code="unsupported_part")
        raise _bad(
            f"unknown part type {kind!r}; use {', '.join(_PART_TYPES[:-1])} or {_PART_TYPES[-1]}",
            code="unsupported_part",
        )


def _part_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if kind in _PART_TYPES else "unsupported"


ContentPart = Annotated[
    Annotated[TextContent, Tag("text")]
    | Annotated[VideoUrlContent, Tag("video_url")]
    | Annotated[AudioUrlContent, Tag("audio_url")]
    | Annotated[InputAudioContent, Tag("input_audio")]
    | Annotated[UnsupportedContent, Tag("unsupported")],
    Discriminator(_part_tag),
]


def _content(value: Any) -> Any:
    """A string is one text part; anything but a list is refused."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if not isinstance(value, list):
        raise _bad("must be a string or a list of parts")
    return value


class ChatMessage(_Strict):
    role: Literal["system", "user", "assistant"]
    content: Annotated[list[ContentPart], BeforeValidator(_content)]

    @model_validator(mode="after")
    def _media_from_the_user_only(self) -> ChatMessage:
        if self.role != "user" and any(not isinstance(p, TextContent) for p in self.content):
            raise _bad("media parts are only accepted in user messages")
        return self


class MmProcessorKwargs(_Strict):
    model_config = ConfigDict(strict=True, extra="forbid")

    use_audio_in_video: bool | None = None
    fps: Annotated[float, Field(ge=0.05, le=60, allow_inf_nan=False)] | None = None
    max_frames: Annotated[int, Field(ge=2, le=4096)] | None = None
    min_pixels: Annotated[int, Field(ge=1, le=1 << 26)] | None = None
    max_pixels: Annotated[int, Field(ge=1, le=1 << 26)] | None = None


class ChatCompletionBody(_Strict):
    """The body of ``POST /v1/chat/completions``; :attr:`request` is what the server acts on.

    Fields are checked in the order they are declared; the first problem is the one reported.
    """

    max_tokens_limit: ClassVar[int] = 16384

    stream: Any = None
    n: Any = None
    model: str | None = None
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=_MAX_MESSAGES)]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0, allow_inf_nan=False)] | None = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None
    mm_processor_kwargs: MmProcessorKwargs | None = None
    use_audio_in_video: bool | None = None
    modality: Modality | None = None

    @field_validator("stream", "n", mode="before")
    @classmethod
    def _one_whole_answer(cls, value: Any, info: Any) -> Any:
        if info.field_name == "stream" and value:
            raise _bad("streaming is not supported; send stream=false", code="unsupported")
        if info.field_name == "n" and value not in (None, 1):
            raise _bad("only n=1 is supported", code="unsupported")
        return value

    @field_validator("max_tokens", "max_completion_tokens")
    @classmethod
    def _within_limit(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= cls.max_tokens_limit:
            raise _bad(f"must be between 1 and {cls.max_tokens_limit}, got {value}")
        return value

    @field_validator("modality", mode="before")
    @classmethod
    def _modality(cls, value: Any) -> Modality | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _bad("must be one of avt, vt, at")
        try:
            return Modality.parse(value)
        except ValueError as exc:
            raise _bad(str(exc)) from None

    @property
    def request(self) -> ChatRequest:
        return self._request

    @model_validator(mode="after")
    def _audio_policy(self) -> ChatCompletionBody:
        mm = self.mm_processor_kwargs or MmProcessorKwargs()
        top, inner = self.use_audio_in_video, mm.use_audio_in_video
        if top is not None and inner is not None and top != inner:
            raise _bad("use_audio_in_video is given twice with different values", "use_audio_in_video")
        request = ChatRequest(
            model=self.model,
            messages=tuple(_parsed(i, m) for i, m in enumerate(self.messages)),
            max_tokens=self.max_tokens if self.max_tokens is not None else self.max_completion_tokens,
            temperature=self.temperature or 0.0,
            top_p=self.top_p,
            seed=self.seed,
            use_audio_in_video=False,
            modality=self.modality,
            video=VideoSampling(
                fps=mm.fps, max_frames=mm.max_frames, min_pixels=mm.min_pixels, max_pixels=mm.max_pixels
            ),
        )
        self._request = _with_audio_policy(request, top if top is not None else inner)
        return self

    _request: ChatRequest


def _parsed(i: int, message: ChatMessage) -> ParsedMessage:
    parts: list[str | MediaSource] = []
    for j, part in enumerate(message.content):
        where = f"messages[{i}].content[{j}]"
        if isinstance(part, TextContent):
            parts.append(part.text)
        elif isinstance(part, VideoUrlContent):
            parts.append(MediaSource("video", where, url=part.video_url.url))
        elif isinstance(part, AudioUrlContent):
            parts.append(MediaSource("audio", where, url=part.audio_url.url))
        elif isinstance(part, InputAudioContent):
            audio = part.input_audio
            parts.append(MediaSource("audio", where, data=audio.data, format=audio.format.lower()))
    return ParsedMessage(message.role, tuple(parts))


def chat_body_model(max_tokens_limit: int) -> type[ChatCompletionBody]:
    """The body model for a server that allows at most ``max_tokens_limit`` new tokens."""
    return type("ChatCompletionBody", (ChatCompletionBody,), {"max_tokens_limit": max_tokens_limit})


# -- validation errors as our error bodies ---------------------------------------------------------


def _path(loc: Sequence[Any]) -> str:
    """``("body", "messages", 0, "content", 1, "video_url", "url")`` → ``messages[0].content[1].video_url.url``
    (the part-type tag pydantic puts after a part's index is left out)."""
    out = ""
    items = [x for x in loc if x != "body"] if loc and loc[0] == "body" else list(loc)
    for k, item in enumerate(items):
        if isinstance(item, int):
            out += f"[{item}]"
        elif k > 0 and isinstance(items[k - 1], int) and (item in _PART_TYPES or item == "unsupported"):
            continue
        else:
            out += f".{item}" if out else str(item)
    return out


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": f"is not supported; supported: {', '.join(_MM_KEYS)}",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
}


def validation_error(errors: Sequence[Any]) -> RequestError:
    """The first of pydantic's (or FastAPI's) validation errors as a 400 :class:`RequestError`."""
    if not errors:
        return RequestError(400, "invalid request")
    error = errors[0]
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    where = _path(error.get("loc") or ())
    if kind == "json_invalid":
        return RequestError(
            400, f"request body is not valid JSON: {ctx.get('error', '')}", code="invalid_json"
        )
    if not where and kind in ("model_type", "model_attributes_type", "dict_type", "missing"):
        return RequestError(400, "the request body must be a JSON object (Content-Type: application/json)")
    if "message" in ctx:  # one of ours
        message, param = str(ctx["message"]), ctx.get("param") or where or None
        if where and not ctx.get("param"):
            message = f"{where}: {message}"
        return RequestError(400, message, param=param, code=kind if kind in _CODES else None)
    text = _MESSAGES.get(kind) or str(error.get("msg", "is not valid")).lower()
    return RequestError(400, f"{where}: {text}" if where else text, param=where or None)


def parse_chat_request(body: Any, *, max_tokens_limit: int) -> ChatRequest:
    """Validate a decoded JSON body outside FastAPI; raise :class:`RequestError` naming the first problem."""
    try:
        return chat_body_model(max_tokens_limit).model_validate(body).request
    except ValidationError as exc:
        raise validation_error(exc.errors()) from None


def _with_audio_policy(request: ChatRequest, explicit: bool | None) -> ChatRequest:
    media = request.media()
    counts = {kind: sum(1 for m in media if m.kind == kind) for kind in MAX_MEDIA_PARTS}
    for kind, limit in MAX_MEDIA_PARTS.items():
        if counts[kind] > limit:
            raise _bad(
                f"at most {limit} {kind} part per request, got {counts[kind]}", "messages", "too_many_media"
            )
    has_video, has_audio = counts["video"] > 0, counts["audio"] > 0
    modality = request.modality

    if modality is Modality.VT:
        if has_audio:
            raise _bad(
                "modality 'vt' withholds audio, but the request has an audio part",
                "modality",
                "modality_violation",
            )
        if explicit:
            raise _bad(
                "modality 'vt' withholds audio; use_audio_in_video must be false",
                "modality",
                "modality_violation",
            )
        if not has_video:
            raise _bad("modality 'vt' needs a video part", "modality")
        use = False
    elif modality is Modality.AT:
        if has_video:
            raise _bad(
                "modality 'at' withholds video, but the request has a video part",
                "modality",
                "modality_violation",
            )
        if explicit:
            raise _bad(
                "modality 'at' has no video to take audio from; use_audio_in_video must be false", "modality"
            )
        if not has_audio:
            raise _bad("modality 'at' needs an audio part", "modality")
        use = False
    elif modality is Modality.AVT:
        if not has_video:
            raise _bad("modality 'avt' needs a video part", "modality")
        use = explicit if explicit is not None else not has_audio
        if not use and not has_audio:
            raise _bad(
                "modality 'avt' needs audio: set use_audio_in_video or send an audio part",
                "modality",
                "no_audio",
            )
    else:
        use = bool(explicit)
        if use and not has_video:
            raise _bad("use_audio_in_video needs a video part", "use_audio_in_video")

    return dataclasses.replace(request, use_audio_in_video=use)
