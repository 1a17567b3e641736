"""The chat-completions request, parsed and checked without any web framework.

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
audio part is sent separately. Every problem is a :class:`RequestError` with an HTTP status and
an OpenAI-style error body; nothing here touches the file system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from vsync_models.serve.backend import VideoSampling
from vsync_models.types import Modality

__all__ = [
    "MAX_MEDIA_PARTS",
    "ChatRequest",
    "MediaSource",
    "ParsedMessage",
    "RequestError",
    "parse_chat_request",
]

MAX_MEDIA_PARTS = {"video": 1, "audio": 1}
"""One video and one audio per request: the processors align one clip's audio with its frames."""

_ROLES = ("system", "user", "assistant")
_MM_KEYS = ("use_audio_in_video", "fps", "max_frames", "min_pixels", "max_pixels")
_MAX_MESSAGES = 64


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


def _bad(message: str, param: str | None = None, code: str | None = None) -> RequestError:
    return RequestError(400, message, param=param, code=code)


def _number(body: dict[str, Any], key: str, lo: float, hi: float, default: float | None) -> float | None:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(f"'{key}' must be a number", key)
    if not lo <= value <= hi:
        raise _bad(f"'{key}' must be between {lo:g} and {hi:g}, got {value}", key)
    return float(value)


def _int(body: dict[str, Any], key: str, lo: int, hi: int, where: str | None = None) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    param = where or key
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"'{param}' must be an integer", param)
    if not lo <= value <= hi:
        raise _bad(f"'{param}' must be between {lo} and {hi}, got {value}", param)
    return value


def _bool(value: Any, param: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise _bad(f"'{param}' must be true or false", param)


def _url(part: dict[str, Any], key: str, where: str) -> str:
    inner = part.get(key)
    url = inner.get("url") if isinstance(inner, dict) else inner
    if not isinstance(url, str) or not url:
        raise _bad(f"{where}: '{key}' needs a 'url' string", f"{where}.{key}")
    return url


def _part(part: Any, where: str) -> str | MediaSource:
    if not isinstance(part, dict):
        raise _bad(f"{where}: a content part must be an object", where)
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        if not isinstance(text, str):
            raise _bad(f"{where}: a text part needs a 'text' string", f"{where}.text")
        return text
    if kind == "video_url":
        return MediaSource("video", where, url=_url(part, "video_url", where))
    if kind == "audio_url":
        return MediaSource("audio", where, url=_url(part, "audio_url", where))
    if kind == "input_audio":
        inner = part.get("input_audio")
        if not isinstance(inner, dict) or not isinstance(inner.get("data"), str):
            raise _bad(f"{where}: 'input_audio' needs 'data' (base64) and 'format'", f"{where}.input_audio")
        fmt = inner.get("format")
        if not isinstance(fmt, str):
            raise _bad(f"{where}: 'input_audio' needs a 'format' string", f"{where}.input_audio.format")
        return MediaSource("audio", where, data=inner["data"], format=fmt.lower())
    if kind in ("image_url", "image", "file"):
        raise _bad(
            f"{where}: part type {kind!r} is not supported by this server",
            f"{where}.type",
            "unsupported_part",
        )
    raise _bad(
        f"{where}: unknown part type {kind!r}; use text, video_url, audio_url or input_audio",
        f"{where}.type",
        "unsupported_part",
    )


def _messages(raw: Any) -> tuple[ParsedMessage, ...]:
    if not isinstance(raw, list) or not raw:
        raise _bad("'messages' must be a non-empty list", "messages")
    if len(raw) > _MAX_MESSAGES:
        raise _bad(f"at most {_MAX_MESSAGES} messages", "messages")
    out = []
    for i, msg in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _bad(f"{where} must be an object", where)
        role = msg.get("role")
        if role not in _ROLES:
            raise _bad(f"{where}.role must be one of {', '.join(_ROLES)}", f"{where}.role")
        content = msg.get("content")
        if isinstance(content, str):
            parts: tuple[str | MediaSource, ...] = (content,)
        elif isinstance(content, list):
            parts = tuple(_part(p, f"{where}.content[{j}]") for j, p in enumerate(content))
        else:
            raise _bad(f"{where}.content must be a string or a list of parts", f"{where}.content")
        if role != "user" and any(isinstance(p, MediaSource) for p in parts):
            raise _bad(f"{where}: media parts are only accepted in user messages", f"{where}.content")
        out.append(ParsedMessage(role, parts))
    return tuple(out)


def _sampling(mm: dict[str, Any]) -> VideoSampling:
    fps = mm.get("fps")
    if fps is not None and (
        isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0.05 <= fps <= 60
    ):
        raise _bad(
            "'mm_processor_kwargs.fps' must be a number between 0.05 and 60", "mm_processor_kwargs.fps"
        )
    return VideoSampling(
        fps=None if fps is None else float(fps),
        max_frames=_int(mm, "max_frames", 2, 4096, "mm_processor_kwargs.max_frames"),
        min_pixels=_int(mm, "min_pixels", 1, 1 << 26, "mm_processor_kwargs.min_pixels"),
        max_pixels=_int(mm, "max_pixels", 1, 1 << 26, "mm_processor_kwargs.max_pixels"),
    )


def parse_chat_request(body: Any, *, max_tokens_limit: int) -> ChatRequest:
    """Validate a decoded JSON body; raise :class:`RequestError` naming the first problem."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    if body.get("stream"):
        raise _bad("streaming is not supported; send stream=false", "stream", "unsupported")
    n = body.get("n")
    if n not in (None, 1):
        raise _bad("only n=1 is supported", "n", "unsupported")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad("'model' must be a string", "model")

    messages = _messages(body.get("messages"))
    max_tokens = _int(body, "max_tokens", 1, max_tokens_limit)
    if max_tokens is None:
        max_tokens = _int(body, "max_completion_tokens", 1, max_tokens_limit)
    temperature = _number(body, "temperature", 0.0, 2.0, 0.0)
    top_p = _number(body, "top_p", 0.0, 1.0, None)
    if top_p is not None and top_p <= 0.0:
        raise _bad("'top_p' must be greater than 0", "top_p")
    seed = _int(body, "seed", -(2**63), 2**63 - 1)

    mm = body.get("mm_processor_kwargs") or {}
    if not isinstance(mm, dict):
        raise _bad("'mm_processor_kwargs' must be an object", "mm_processor_kwargs")
    unknown = sorted(set(mm) - set(_MM_KEYS))
    if unknown:
        raise _bad(
            f"unsupported mm_processor_kwargs {', '.join(unknown)}; supported: {', '.join(_MM_KEYS)}",
            "mm_processor_kwargs",
        )
    video = _sampling(mm)
    top = _bool(body.get("use_audio_in_video"), "use_audio_in_video")
    inner = _bool(mm.get("use_audio_in_video"), "mm_processor_kwargs.use_audio_in_video")
    if top is not None and inner is not None and top != inner:
        raise _bad("use_audio_in_video is given twice with different values", "use_audio_in_video")
    explicit = top if top is not None else inner

    modality = None
    if body.get("modality") is not None:
        if not isinstance(body["modality"], str):
            raise _bad("'modality' must be one of avt, vt, at", "modality")
        try:
            modality = Modality.parse(body["modality"])
        except ValueError as exc:
            raise _bad(str(exc), "modality") from None

    request = ChatRequest(
        model=model,
        messages=messages,
        max_tokens=max_tokens,
        temperature=temperature or 0.0,
        top_p=top_p,
        seed=seed,
        use_audio_in_video=False,
        modality=modality,
        video=video,
    )
    return _with_audio_policy(request, explicit)


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

    return ChatRequest(**{**request.__dict__, "use_audio_in_video": use})
