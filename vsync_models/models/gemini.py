"""Gemini through Google's native client (``google-genai``): the clip itself, so Gemini hears it.

The OpenAI-compatible path (the original's) gives Gemini JPEG frames and the transcript, so it
never hears who speaks when. Here the request carries the media file the
:class:`~vsync_models.data.media.MediaView` hands out:

    avt  the clip with its audio track      (video/mp4)
    vt   the copy without any audio stream  (video/mp4)
    at   the audio track alone, as 16 kHz mono WAV (audio/wav: a type Gemini documents)

followed by one text part (prompt and question, as for every model). Files up to
``inline_max_bytes`` travel inline; larger ones go through the Files API: uploaded once under a
name derived from their sha256 (``files/vsync-<hash>``), so the same bytes are never uploaded
twice, not by two workers and not by the next run while the file lives (48 h), and used once
their state is ``ACTIVE``.

Retries are ours, not the SDK's: 408, 429 and 5xx answers and transport errors are retried
``max_retries`` times with exponential backoff, waiting what the server asks for when it says
(``Retry-After`` header, or the ``RetryInfo.retryDelay`` Gemini puts in 429 bodies). What still
fails becomes :class:`~vsync_models.errors.ModelUnavailable` (no connection, timeout) or
:class:`~vsync_models.errors.ModelRequestError` (an HTTP error, a blocked prompt, no text), so an
outage is an error outcome and never a wrong answer. ``google-genai`` is imported lazily; it is
the ``[gemini]`` extra.
"""

from __future__ import annotations

import hashlib
import io
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from vsync_models.data.media import audio_wav_bytes
from vsync_models.errors import ConfigError, MediaError, ModelError, ModelRequestError, ModelUnavailable
from vsync_models.models.base import ModelOutput
from vsync_models.models.common import (
    LAYOUT_VERSION,
    RETRY_STATUSES,
    reason,
    status_kind,
    usage_counts,
    wire_refusal,
)
from vsync_models.models.retry import RetryPolicy, Transient, call_with_retries, parse_retry_after
from vsync_models.models.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BoundedClient,
    CrossOriginRedirect,
    ResponseTooLarge,
)
from vsync_models.types import Request, Sampling

__all__ = ["GEMINI_KEY_ENVS", "GeminiModel", "resolve_gemini_settings"]

GEMINI_KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
"""Where the key is read from, in the SDK's own order of preference."""

MAX_WAIT_S = 300.0
"""Longest single wait we accept from Retry-After / retryDelay before retrying."""

AUDIO_RATE = 16000
GEMINI_DEFAULT_FPS = 1.0
"""Frames per second Gemini samples from a video when ``video_fps`` is not set."""
_T = TypeVar("_T")


def resolve_gemini_settings(
    config_base_url: str | None, env: Mapping[str, str]
) -> tuple[str | None, str | None, str]:
    """``(base_url, api_key, key_env)``: ``GOOGLE_GEMINI_BASE_URL`` (the SDK's name) or the config's
    ``server_url`` for the endpoint, ``GOOGLE_API_KEY`` or ``GEMINI_API_KEY`` for the key."""
    base_url = next(
        (c.strip() for c in (env.get("GOOGLE_GEMINI_BASE_URL"), config_base_url) if c and c.strip()), None
    )
    for name in GEMINI_KEY_ENVS:
        key = (env.get(name) or "").strip()
        if key:
            return base_url, key, name
    return base_url, None, GEMINI_KEY_ENVS[1]


class GeminiModel:
    """One Gemini model through ``google-genai`` with native video and audio."""

    def __init__(
        self,
        name: str,
        model_name: str,
        api_key: str | None,
        *,
        api_key_env: str = "GEMINI_API_KEY",
        base_url: str | None = None,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int = 64,
        thinking_budget: int | None = None,
        video_fps: float | None = None,
        inline_max_bytes: int = 8 * 1024 * 1024,
        timeout_s: float = 300.0,
        max_retries: int = 5,
        active_timeout_s: float = 600.0,
        poll_interval_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.name = name
        self.model_name = model_name
        self.api_key_env = api_key_env
        self.base_url = base_url.rstrip("/") if base_url else None
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.thinking_budget = thinking_budget
        self.video_fps = video_fps
        self.inline_max_bytes = inline_max_bytes
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.active_timeout_s = active_timeout_s
        self.poll_interval_s = poll_interval_s
        self._sleep = sleep
        self._rng = rng
        self.retry = retry or RetryPolicy(max_retries=max_retries, cap_s=60.0, max_wait_s=MAX_WAIT_S)
        self._local = threading.local()
        self._clock = clock
        key = api_key or None
        self._key_source = (lambda: key) if key else None
        self._redact: Callable[[str], str] = (lambda t: t.replace(key, "***")) if key else (lambda t: t)
        self.max_response_bytes = max_response_bytes
        self._client: Any = None
        self._http: BoundedClient | None = None
        """Ours, handed to the SDK (which leaves closing it to us): deadline, size limit, origin."""
        self._lock = threading.Lock()
        self._uploaded: dict[str, str] = {}
        self._wav: dict[str, bytes] = {}

    def __repr__(self) -> str:
        return f"GeminiModel(name={self.name!r}, model_name={self.model_name!r})"

    @property
    def sampling(self) -> Sampling:
        """Gemini samples the video it is sent at 1 fps (Google's documented default) unless ``video_fps`` says."""
        return Sampling(fps=self.video_fps or GEMINI_DEFAULT_FPS)

    @property
    def audio_feed(self) -> str:
        """How the soundtrack reaches Gemini, in words for the reports."""
        return f"the mp4's own soundtrack (at: {AUDIO_RATE // 1000} kHz mono WAV)"

    # -- Model protocol -------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        return {
            "adapter": "gemini_native",
            "layout": LAYOUT_VERSION,
            "model_name": self.model_name,
            "base_url": self.base_url,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "thinking_budget": self.thinking_budget,
            "video_fps": self.video_fps,
            "audio": f"wav {AUDIO_RATE} Hz mono",
        }

    def check(self) -> None:
        """Fail fast on a missing or rejected key, an unknown model or an unreachable endpoint."""
        client = self._sdk()
        errors = _genai_errors()
        try:
            client.models.get(model=self.model_name)
        except errors.APIError as exc:
            code = getattr(exc, "code", None)
            if code in (401, 403) or (code == 400 and "API key" in str(exc)):
                raise ConfigError(
                    f"model {self.name!r}: API key rejected by {self._where()} (HTTP {code}; check {self.api_key_env})"
                ) from None
            if code == 404:
                raise ConfigError(
                    f"model {self.name!r}: {self._where()} has no model {self.model_name!r}"
                ) from None
        except Exception as exc:
            if _transport_kind(exc) is None:
                raise
            raise ConfigError(
                f"model {self.name!r}: cannot reach {self._where()} ({self._reason(exc)})"
            ) from None

    def generate(self, request: Request) -> ModelOutput:
        self._local.retries = 0
        types = _genai_types()
        parts: list[Any] = []
        modality = request.modality
        if modality.sees_video:
            video = request.media.video_file()
            mime = mimetypes.guess_type(str(video))[0] or "video/mp4"
            if not mime.startswith("video/"):
                mime = "video/mp4"
            parts.append(self._media_part(_read(video), mime, video=True))
        elif modality.sees_audio:
            parts.append(
                self._media_part(self._audio_wav(request.media.audio_file()), "audio/wav", video=False)
            )
        text = "\n\n".join(p for p in (request.prompt.strip(), request.question.strip()) if p)
        parts.append(types.Part(text=text))
        config: dict[str, Any] = {"temperature": self.temperature, "max_output_tokens": self._output_budget()}
        if self.top_p is not None:
            config["top_p"] = self.top_p
        if self.thinking_budget is not None:
            config["thinking_config"] = types.ThinkingConfig(thinking_budget=self.thinking_budget)
        contents = [types.Content(role="user", parts=parts)]
        response = self._call(
            "generateContent",
            lambda: self._sdk().models.generate_content(
                model=self.model_name, contents=contents, config=types.GenerateContentConfig(**config)
            ),
        )
        return ModelOutput(text=self._text(response), usage=_usage(response), retries=self._local.retries)

    # -- media ----------------------------------------------------------------------------

    def _media_part(self, data: bytes, mime: str, *, video: bool) -> Any:
        types = _genai_types()
        metadata = types.VideoMetadata(fps=self.video_fps) if video and self.video_fps else None
        if len(data) <= self.inline_max_bytes:
            return types.Part(inline_data=types.Blob(data=data, mime_type=mime), video_metadata=metadata)
        uri = self._upload(data, mime)
        return types.Part(file_data=types.FileData(file_uri=uri, mime_type=mime), video_metadata=metadata)

    def _upload(self, data: bytes, mime: str) -> str:
        """The ACTIVE file holding ``data``: reused when these bytes were uploaded before."""
        digest = hashlib.sha256(data).hexdigest()
        name = f"files/vsync-{digest[:34]}"
        with self._lock:
            known = self._uploaded.get(name)
        if known:
            return known
        types = _genai_types()
        client = self._sdk()
        file = self._existing(name)
        if file is not None and _state(file) == "FAILED":
            self._call("files.delete", lambda: client.files.delete(name=name))
            file = None
        if file is None:
            upload_config = types.UploadFileConfig(
                name=name, mime_type=mime, display_name=f"vsync {digest[:16]}"
            )
            try:
                file = self._call(
                    "files.upload",
                    lambda: client.files.upload(file=io.BytesIO(data), config=upload_config),
                    expect=(409,),
                )
            except _Status:
                file = self._existing(name)  # another worker uploaded the same bytes first
                if file is None:
                    raise ModelRequestError(
                        f"model {self.name!r}: {name} already exists but cannot be read"
                    ) from None
        file = self._wait_active(file, name)
        uri = str(file.uri)
        with self._lock:
            self._uploaded[name] = uri
        return uri

    def _existing(self, name: str) -> Any | None:
        try:
            return self._call("files.get", lambda: self._sdk().files.get(name=name), expect=(404,))
        except _Status:
            return None

    def _wait_active(self, file: Any, name: str) -> Any:
        deadline = self._clock() + self.active_timeout_s
        delay = self.poll_interval_s
        while True:
            state = _state(file)
            if state == "ACTIVE":
                return file
            if state == "FAILED":
                reason = getattr(getattr(file, "error", None), "message", None) or "no reason given"
                raise ModelRequestError(f"model {self.name!r}: Gemini could not process {name}: {reason}")
            if self._clock() >= deadline:
                raise ModelUnavailable(
                    f"model {self.name!r}: {name} was still {state or 'not ready'} after {self.active_timeout_s:g}s"
                )
            self._sleep(delay)
            delay = min(delay * 1.5, 10.0)
            file = self._call("files.get", lambda: self._sdk().files.get(name=name))

    def _audio_wav(self, path: Path) -> bytes:
        """The audio track as 16 kHz mono 16-bit WAV (memoised per file content)."""
        from vsync_models.data.media import content_hash

        key = content_hash(path)
        with self._lock:
            cached = self._wav.get(key)
        if cached is not None:
            return cached
        data = audio_wav_bytes(path, AUDIO_RATE)
        with self._lock:
            self._wav[key] = data
        return data

    # -- calls and errors -----------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], _T], *, expect: tuple[int, ...] = ()) -> _T:
        """Run one SDK call with the shared retry policy; translate everything it raises.

        An HTTP status in ``expect`` is raised as :class:`_Status` for the caller to handle. The
        retries are added to this thread's count, which :meth:`generate` reports.
        """
        value, retries = call_with_retries(
            lambda: self._once(what, fn, expect), self.retry, sleep=self._sleep, rng=self._rng
        )
        self._local.retries = getattr(self._local, "retries", 0) + retries
        return value

    def _once(self, what: str, fn: Callable[[], _T], expect: tuple[int, ...]) -> _T:
        errors = _genai_errors()
        try:
            return fn()
        except errors.APIError as exc:
            code = getattr(exc, "code", None)
            if code in expect:
                raise _Status(code) from None
            error = ModelRequestError(
                f"model {self.name!r}: {self._where()} answered HTTP {code} to {what}: {self._reason(exc)}",
                kind=status_kind(code),
            )
            if code in RETRY_STATUSES:
                raise Transient(error, _retry_after(exc)) from None
            raise error from None
        except ModelError:
            raise
        except (ResponseTooLarge, CrossOriginRedirect) as exc:
            raise wire_refusal(exc, name=self.name) from None
        except Exception as exc:
            kind = _transport_kind(exc)
            if kind is None:
                raise
            if kind == "timeout":
                error = ModelUnavailable(
                    f"model {self.name!r}: no complete answer from {self._where()} to {what} within "
                    f"{self.timeout_s:g}s (timeout_s bounds connect, send and the whole answer)",
                    kind="timeout",
                )
            else:
                error = ModelUnavailable(
                    f"model {self.name!r}: cannot reach {self._where()} ({self._reason(exc)})",
                    kind="connection",
                )
            raise Transient(error) from None

    def _text(self, response: Any) -> str:
        candidates = getattr(response, "candidates", None) or []
        if not candidates:
            feedback = getattr(response, "prompt_feedback", None)
            reason = getattr(feedback, "block_reason", None)
            raise ModelRequestError(
                f"model {self.name!r}: Gemini returned no answer"
                + (f" (prompt blocked: {getattr(reason, 'value', reason)})" if reason else ""),
                kind="empty",
            )
        content = getattr(candidates[0], "content", None)
        texts = [
            p.text
            for p in (getattr(content, "parts", None) or [])
            if getattr(p, "text", None) and not getattr(p, "thought", False)
        ]
        if texts:
            return "".join(texts)
        finish = getattr(candidates[0], "finish_reason", None)
        finish = getattr(finish, "value", finish)
        if finish == "MAX_TOKENS":
            raise ModelRequestError(
                f"model {self.name!r}: no text within max_output_tokens={self._output_budget()} "
                "(thinking used it up: raise max_tokens or set thinking_budget)"
            )
        raise ModelRequestError(
            f"model {self.name!r}: Gemini returned no text (finish reason {finish})", kind="empty"
        )

    def _output_budget(self) -> int:
        """Gemini 2.5 counts thinking tokens against max_output_tokens; leave the answer its own room."""
        return self.max_tokens + max(self.thinking_budget or 0, 0)

    def close(self) -> None:
        """Close the SDK client's connections (a later request builds a new client)."""
        with self._lock:
            client, self._client = self._client, None
            http, self._http = self._http, None
        if client is not None:
            client.close()
        if http is not None:
            http.close()

    def _sdk(self) -> Any:
        if self._key_source is None:
            raise ConfigError(f"model {self.name!r} needs an API key: set {self.api_key_env}")
        with self._lock:
            if self._client is None:
                genai = _genai()
                types = _genai_types()
                self._http = BoundedClient(max_response_bytes=self.max_response_bytes)
                options = types.HttpOptions(
                    base_url=self.base_url,
                    timeout=int(self.timeout_s * 1000),
                    retry_options=types.HttpRetryOptions(attempts=1),  # retries are ours (_call)
                    httpx_client=self._http,
                )
                self._client = genai.Client(api_key=self._key_source(), http_options=options)
            return self._client

    def _where(self) -> str:
        return self.base_url or "the Gemini API"

    def _reason(self, exc: BaseException) -> str:
        return self._redact(reason(exc))


class _Status(Exception):
    """An HTTP status the caller of :meth:`GeminiModel._call` expects and handles itself."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _genai() -> Any:
    try:
        from google import genai
    except ImportError:
        raise ConfigError(
            "Gemini's native client needs google-genai: pip install 'vsync-bench[gemini]'"
        ) from None
    return genai


def _genai_types() -> Any:
    _genai()
    from google.genai import types

    return types


def _genai_errors() -> Any:
    _genai()
    from google.genai import errors

    return errors


def _state(file: Any) -> str | None:
    state = getattr(file, "state", None)
    return getattr(state, "value", state)


def _transport_kind(exc: BaseException) -> str | None:
    """``timeout`` / ``transport`` for the SDK's HTTP-library errors (httpx or httpx2), else ``None``."""
    names = [cls.__name__ for cls in type(exc).__mro__ if cls.__module__.split(".")[0].startswith("httpx")]
    if any("Timeout" in n for n in names):
        return "timeout"
    if names and any(
        n in ("TransportError", "NetworkError", "ConnectError", "RemoteProtocolError") for n in names
    ):
        return "transport"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError):
        return "transport"
    return None


def _retry_after(exc: Any) -> float | None:
    """Seconds the server asked us to wait: Retry-After (seconds or HTTP date), else RetryInfo."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    asked = parse_retry_after(headers.get("retry-after") if headers is not None else None)
    if asked is not None:
        return asked
    details = getattr(exc, "details", None)
    error = details.get("error", details) if isinstance(details, dict) else None
    for item in (error or {}).get("details", []) if isinstance(error, dict) else []:
        delay = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(float(delay[:-1]), 0.0)
            except ValueError:
                pass
    return None


def _usage(response: Any) -> dict[str, int] | None:
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return None
    values = {
        ours: getattr(meta, theirs, None)
        for ours, theirs in (
            ("prompt_tokens", "prompt_token_count"),
            ("completion_tokens", "candidates_token_count"),
            ("total_tokens", "total_token_count"),
            ("thinking_tokens", "thoughts_token_count"),
        )
    }
    for detail in getattr(meta, "prompt_tokens_details", None) or []:
        modality = getattr(getattr(detail, "modality", None), "value", None)
        if modality in ("AUDIO", "VIDEO", "IMAGE", "TEXT"):
            values[f"{modality.lower()}_tokens"] = getattr(detail, "token_count", None)
    return usage_counts(values)


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from None
