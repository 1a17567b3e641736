"""Adapter for any OpenAI-compatible chat endpoint (GPT-4o, Gemini through a proxy, vLLM, ...).

By default API models do not hear the clip, so they see what the original release gave them:
JPEG frames sampled from the video plus the ASR transcript inside the text prompt. Unlike the
original, every frame is labelled with its timestamp, because V-SYNC asks *when* things
happen and an unlabelled frame sequence hides exactly that. With ``send_audio`` the clip's
soundtrack also goes as an ``input_audio`` part (16 kHz mono WAV), in ``avt`` and ``at`` only:
the request's media view refuses audio in ``vt``. :func:`api_audio_canary` checks before the
first item that a model sent audio answers what only the audio can tell.

Vendor exceptions stop here: everything the ``openai`` SDK raises is translated into
:mod:`vsync_models.errors` types, and the API key is scrubbed from every message we build.
Retries are ours, not the SDK's (:func:`~vsync_models.models.retry.call_with_retries`), so they
are counted, jittered, and also cover what the SDK would pass through: a truncated or non-JSON
body, no choices, no content. 400/401/403 are never retried.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai

from vsync_models.errors import ConfigError, ModelRequestError, ModelUnavailable, ServerGone
from vsync_models.models.base import ModelOutput
from vsync_models.models.common import (
    LAYOUT_VERSION,
    chat_output,
    deadline_error,
    excerpt,
    reason,
    status_kind,
    wire_refusal,
)
from vsync_models.models.retry import (
    RefusalBudget,
    RetryPolicy,
    Transient,
    call_with_retries,
    parse_retry_after,
)
from vsync_models.models.transport import (
    DEFAULT_MAX_RESPONSE_BYTES,
    BoundedClient,
    CrossOriginRedirect,
    ResponseTooLarge,
)
from vsync_models.types import Request, Sampling

if TYPE_CHECKING:
    from vsync_models.data.media import MediaPreparer
    from vsync_models.models.omni_server import AudioCanary

__all__ = ["DEFAULT_OPENAI_BASE_URL", "OpenAICompatModel", "api_audio_canary", "resolve_openai_settings"]

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

FRAME_QUALITY = 70
"""JPEG quality asked of the media layer; fixed here so the fingerprint can state it."""

IMAGE_DETAIL = "low"
"""Low detail keeps a request at a few hundred tokens per frame, as the original's small frames did."""

PREFLIGHT_TIMEOUT_S = 10.0
"""check() must fail fast; a server that cannot list models in this time will not answer items either."""

DEFAULT_REFUSED_CONNECTIONS = 5
"""Refused connections retried in a whole run, when the caller does not say."""

AUDIO_RATE = 16000
"""Sample rate of the WAV sent as ``input_audio`` (mono, 16-bit): what speech models are fed."""

_EXCERPT_CHARS = 200
_RETRY_STATUSES = (408, 409, 429)
"""Besides 5xx, what may pass (the SDK's own choice, 409 included)."""


def resolve_openai_settings(config_base_url: str | None, env: Mapping[str, str]) -> tuple[str, str | None]:
    """Pick (base_url, api_key) the way users of the original release expect.

    The environment wins over the config file so a shared config can be pointed at a
    private proxy without editing it; ``OPENAI_BASE_URL`` is the SDK's own name and
    ``OPENAI_API_BASE`` the original release's. Empty values count as unset because the
    original config ships ``base_url: ""``.
    """
    candidates = (env.get("OPENAI_BASE_URL"), env.get("OPENAI_API_BASE"), config_base_url)
    base_url = next((c.strip() for c in candidates if c and c.strip()), DEFAULT_OPENAI_BASE_URL)
    key = (env.get("OPENAI_API_KEY") or "").strip() or None
    return base_url, key


def _format_seconds(t: float) -> str:
    """``3.0``, ``2.5``, ``0.25``: short, but never rounds a sub-second interval away."""
    text = f"{t:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


class OpenAICompatModel:
    """One model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    def __init__(
        self,
        name: str,
        model_name: str,
        base_url: str | None,
        api_key: str | None,
        *,
        temperature: float = 0.0,
        top_p: float | None = None,
        max_tokens: int = 64,
        frame_interval_s: float = 1.0,
        max_frames: int = 8,
        frame_max_side: int = 448,
        timeout_s: float = 120.0,
        send_audio: bool = False,
        max_retries: int = 5,
        api_key_env: str = "OPENAI_API_KEY",
        http_client: object | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        refusals: RefusalBudget | None = None,
    ) -> None:
        self.name = name
        self.model_name = model_name
        self.base_url = (base_url or DEFAULT_OPENAI_BASE_URL).rstrip("/")
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.frame_interval_s = frame_interval_s
        self.max_frames = max_frames
        self.frame_max_side = frame_max_side
        self.timeout_s = timeout_s
        self.send_audio = send_audio
        """``models.<name>.send_audio``: the soundtrack as an ``input_audio`` part in ``avt`` and ``at``."""
        self.max_retries = max_retries
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self._sleep = sleep
        self._rng = rng
        self.api_key_env = api_key_env
        # The key lives only inside the SDK client and in a closure used for redaction, so
        # vars(model), repr(model) and the fingerprint cannot leak it by accident.
        key = api_key or None
        self._redact = _make_redactor(key)
        self._http_client = http_client
        self.max_response_bytes = max_response_bytes
        self.refusals = refusals or RefusalBudget(DEFAULT_REFUSED_CONNECTIONS)
        """Refused connections the whole run may retry (``runtime.max_refused_connections``)."""
        self.gone: str | None = None
        """Why no request is worth sending any more (the budget above is spent), else ``None``."""
        self._client: openai.OpenAI | None = None
        self._client_lock = threading.Lock()
        self._key_source = (lambda: key) if key else None

    def __repr__(self) -> str:
        return (
            f"OpenAICompatModel(name={self.name!r}, model_name={self.model_name!r}, "
            f"base_url={self.base_url!r})"
        )

    @property
    def sampling(self) -> Sampling:
        """What :meth:`build_messages` sends of the picture: a frame every ``frame_interval_s``, at most
        ``max_frames`` (spread evenly over a longer clip): 1 fps, at most 8 frames by default."""
        return Sampling(fps=1.0 / self.frame_interval_s, max_frames=self.max_frames)

    @property
    def audio_feed(self) -> str:
        """How the soundtrack reaches the model in ``avt`` and ``at``, in words; empty when it does not."""
        return f"an input_audio part ({AUDIO_RATE // 1000} kHz mono WAV)" if self.send_audio else ""

    # -- Model protocol -------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        fp = {
            "adapter": "openai_compat",
            "layout": LAYOUT_VERSION,
            "model_name": self.model_name,
            "base_url": self.base_url,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "frame_interval_s": self.frame_interval_s,
            "max_frames": self.max_frames,
            "frame_max_side": self.frame_max_side,
            "frame_quality": FRAME_QUALITY,
            "image_detail": IMAGE_DETAIL,
        }
        if self.send_audio:  # absent when off: the cache keys of runs without audio stay valid
            fp["send_audio"] = f"wav {AUDIO_RATE} Hz mono"
        return fp

    def check(self) -> None:
        """Preflight ``GET /models``: only a missing/rejected key or a dead server stops the run.

        Many compatible servers have no ``/models`` route, so any other HTTP status counts as
        "reachable and not refusing us".
        """
        client = self._sdk_client().with_options(
            timeout=min(PREFLIGHT_TIMEOUT_S, self.timeout_s), max_retries=0
        )
        try:
            client.models.with_raw_response.list()
        except openai.APIConnectionError as exc:  # includes APITimeoutError
            raise ConfigError(
                f"model {self.name!r}: cannot reach {self.base_url} ({self._reason(exc)})"
            ) from None
        except openai.APIStatusError as exc:
            if exc.status_code in (401, 403):
                raise ConfigError(
                    f"model {self.name!r}: API key rejected by {self.base_url} "
                    f"(HTTP {exc.status_code}; check {self.api_key_env})"
                ) from None
        except openai.OpenAIError:
            # Anything else means the server answered; whether its /models body parses is irrelevant.
            pass

    def generate(self, request: Request) -> ModelOutput:
        return self.complete(request, self.max_tokens)

    def complete(self, request: Request, max_tokens: int) -> ModelOutput:
        """:meth:`generate` with its own answer budget (the audio canary asks for a transcript)."""
        client = self._sdk_client()
        kwargs: dict[str, Any] = {
            "model": self.model_name,
            "messages": self.build_messages(request),
            "temperature": self.temperature,
            "max_tokens": max_tokens,
        }
        if self.top_p is not None:
            kwargs["top_p"] = self.top_p
        self._stop_if_gone()
        out, retries = call_with_retries(
            lambda: self._attempt(client, kwargs), self.retry, sleep=self._sleep, rng=self._rng
        )
        self.refusals.refill()
        return ModelOutput(text=out.text, usage=out.usage, retries=retries)

    def _stop_if_gone(self) -> None:
        """Once the run's refused connections are spent (here or in another worker), send nothing."""
        if self.gone is None and self.refusals.spent:
            self.gone = self._gone_message()
        if self.gone is not None:
            raise ServerGone(self.gone, kind="connection")

    def _gone_message(self) -> str:
        return (
            f"model {self.name!r}: {self.base_url} refused {self.refusals.limit + 1} connections in a "
            "row in this run (runtime.max_refused_connections retries them across all items); "
            "the endpoint is down"
        )

    def _attempt(self, client: openai.OpenAI, kwargs: dict[str, Any]) -> ModelOutput:
        """One call; what may pass (429, 5xx, reset, timeout, a broken or empty body) is :class:`Transient`."""
        where = self.base_url
        try:
            # The same POST as ``client.chat.completions.create`` (errors, status codes; retries are
            # ours), without the SDK's type-driven walk over the body (for eight base64 frames about
            # 4 ms of CPU per request) and without building its pydantic ChatCompletion from the
            # answer (about 0.3 ms): ``cast_to=object`` hands back the decoded JSON as it is.
            completion = client.post("/chat/completions", body=kwargs, cast_to=object)
        except openai.APITimeoutError:
            raise deadline_error(name=self.name, where=where, timeout=self.timeout_s) from None
        except (ResponseTooLarge, CrossOriginRedirect) as exc:  # our transport's; the SDK lets them through
            raise self._redacted(wire_refusal(exc, name=self.name)) from None
        except openai.APIConnectionError as exc:
            error = ModelUnavailable(
                f"model {self.name!r}: cannot reach {where} ({self._reason(exc)})", kind="connection"
            )
            if _refused(exc) and not self.refusals.spend():
                self.gone = self.gone or self._gone_message()
                raise ServerGone(self.gone, kind="connection") from None
            raise Transient(error) from None
        except openai.APIStatusError as exc:
            raise self._status_error(exc) from None
        except (openai.OpenAIError, ValueError) as exc:  # a JSON body that does not parse
            raise Transient(self._malformed(self._reason(exc))) from None
        if isinstance(completion, str):  # a body not labelled JSON comes back as text
            try:  # parsed when it is JSON all the same, as the SDK does for a typed answer
                completion = json.loads(completion)
            except ValueError:
                raise Transient(self._malformed(self._excerpt(completion))) from None
        return chat_output(completion, name=self.name, where=where, details=())

    def _status_error(self, exc: openai.APIStatusError) -> Exception:
        """429/408/409/5xx may pass (:class:`Transient`); 401/403 and other 4xx will not, so they say why."""
        code = exc.status_code
        body = self._excerpt(exc.response.text)
        kind = status_kind(code, _RETRY_STATUSES)
        if kind == "auth":
            return ModelRequestError(
                f"model {self.name!r}: API key rejected by {self.base_url} (HTTP {code}; check "
                f"{self.api_key_env}): {body}",
                kind="auth",
            )
        if kind in ("rate_limited", "server_error"):
            error = ModelRequestError(
                f"model {self.name!r}: {self.base_url} answered HTTP {code}: {body}", kind=kind
            )
            return Transient(error, _retry_after(exc.response.headers))
        return ModelRequestError(
            f"model {self.name!r}: bad request: {self.base_url} answered HTTP {code}: {body}",
            kind="bad_request",
        )

    def _malformed(self, detail: str) -> ModelRequestError:
        return ModelRequestError(
            f"model {self.name!r}: malformed answer from {self.base_url}: {detail}", kind="malformed"
        )

    # -- message layout -------------------------------------------------------------------

    def build_messages(self, request: Request) -> list[dict[str, Any]]:
        """Chat messages for one request (public so the layout can be inspected offline).

        Order follows the original: one text part with the assembled prompt and then the
        question, followed by the frames; the system prompt travels inside that text as the
        ``[SYSTEM]`` part, as in the original (no separate system message, so scores stay
        comparable). Added here: a timestamp label before each frame, and ``detail: low``. ASR text is never added separately: ``request.prompt`` already
        carries it exactly when the modality allows audio, and adding it again (as the
        original did) would risk leaking it into the video-only ablation. With
        :attr:`send_audio`, an ``input_audio`` part (WAV) follows wherever the modality hears audio;
        the media view hands out no audio for ``vt``.
        """
        text = "\n\n".join(part for part in (request.prompt.strip(), request.question.strip()) if part)
        content: list[dict[str, Any]] = [{"type": "text", "text": text}]
        if request.modality.sees_video:
            frames = request.media.frames(
                interval_s=self.frame_interval_s,
                max_frames=self.max_frames,
                max_side=self.frame_max_side,
                quality=FRAME_QUALITY,
            )
            for frame in frames:
                content.append({"type": "text", "text": f"Frame at {_format_seconds(frame.t)}s:"})
                content.append(
                    {"type": "image_url", "image_url": {"url": _data_url(frame.jpeg), "detail": IMAGE_DETAIL}}
                )
        if self.send_audio and request.modality.sees_audio:
            wav = request.media.audio_wav(AUDIO_RATE)
            audio = {"data": base64.b64encode(wav).decode("ascii"), "format": "wav"}
            content.append({"type": "input_audio", "input_audio": audio})
        return [{"role": "user", "content": content}]

    # -- helpers --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the SDK client's connections; an ``http_client`` given to the constructor is the caller's."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None and self._http_client is None:
            client.close()

    def _sdk_client(self) -> openai.OpenAI:
        """Built lazily so constructing a model (e.g. to list or fingerprint it) needs no key."""
        if self._key_source is None:
            raise ConfigError(f"model {self.name!r} needs an API key: set {self.api_key_env}")
        with self._client_lock:
            if self._client is None:
                self._client = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=self._key_source(),
                    timeout=self.timeout_s,
                    max_retries=0,  # retries are ours (call_with_retries): counted, jittered, all kinds
                    # ours bounds each exchange: the deadline, the answer's size, same-origin redirects
                    http_client=self._http_client  # type: ignore[arg-type]
                    or BoundedClient(max_response_bytes=self.max_response_bytes, follow_redirects=True),
                )
            return self._client

    def _reason(self, exc: BaseException) -> str:
        """The innermost cause (e.g. "Connection refused"), which says more than the SDK's wrapper."""
        return self._redact(reason(exc, _EXCERPT_CHARS))

    def _redacted(self, error: ModelRequestError) -> ModelRequestError:
        error.args = (self._redact(str(error)),)
        return error

    def _excerpt(self, body: str) -> str:
        return self._redact(excerpt(body, _EXCERPT_CHARS))


@functools.lru_cache(maxsize=256)
def _data_url(jpeg: bytes) -> str:
    """A frame as a data URL, encoded once for the items and modalities that send the same frames
    (avt and vt of an item, items of one clip): the media layer hands out the same bytes objects,
    whose hash Python keeps, so a lookup costs less than encoding again. 256 frames: 32 clips."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _refused(exc: BaseException) -> bool:
    """Whether ``exc`` (an SDK connection error) was a refused connection: nothing listens there."""
    inner: BaseException | None = exc
    for _ in range(20):  # chains are short; a cycle must not hang us
        if inner is None:
            return False
        if isinstance(inner, ConnectionRefusedError):
            return True
        inner = inner.__cause__ or inner.__context__
    return False


def _make_redactor(key: str | None) -> Callable[[str], str]:
    """Servers sometimes echo the key they rejected; scrub it before it reaches logs or results."""

    def redact(text: str) -> str:
        return text.replace(key, "***") if key else text

    return redact


def _retry_after(headers: Any) -> float | None:
    """``Retry-After`` (seconds or date), or the ``retry-after-ms`` OpenAI's own servers send."""
    millis = headers.get("retry-after-ms")
    try:
        if millis is not None:
            return max(float(millis) / 1000.0, 0.0)
    except ValueError:
        pass
    return parse_retry_after(headers.get("retry-after"))


CANARY_QUESTION = "Transcribe exactly what is said in this audio."
CANARY_MAX_TOKENS = 128
"""Room for the transcript of a short clip (a level-1 clip says four sentences of a few words)."""
CANARY_SHARE = 0.5
"""The share of the clip's distinct words of three letters or more the answer must contain."""


def canary_words(transcript: str) -> tuple[str, ...]:
    """The words an answer to the canary is checked for: the transcript's distinct words of three
    letters or more, lower case, in order, except the question's own (a model may echo "said")."""
    asked = set(_words(CANARY_QUESTION))
    return tuple(dict.fromkeys(w for w in _words(transcript) if len(w) >= 3 and w not in asked))


def _words(text: str) -> list[str]:
    return [w.strip("'") for w in re.findall(r"[a-z0-9']+", text.lower()) if w.strip("'")]


def api_audio_canary(
    model: OpenAICompatModel, clip: Path, preparer: MediaPreparer, transcript: str
) -> AudioCanary:
    """Does audio reach an API model? Asked once, before the first item, with ``clip``'s audio alone.

    The request is the ``at`` one (the soundtrack, no frames) with no transcript in the prompt, asking
    for what is said: only the audio can answer it. It passes when the answer contains at least
    :data:`CANARY_SHARE` of :func:`canary_words` of ``transcript`` (the clip's known words); a
    server that drops the ``input_audio`` part, or a model that ignores it, cannot name them.
    """
    from vsync_models.data.media import content_hash
    from vsync_models.errors import MediaError, ModelError
    from vsync_models.models.omni_server import AudioCanary, canary_request
    from vsync_models.types import Modality

    clip = Path(clip)
    base = {"model": model.name, "clip": str(clip), "audio_feed": model.audio_feed, "method": "transcript"}
    expected = canary_words(transcript)
    try:
        sha = content_hash(clip)
    except MediaError as exc:
        return AudioCanary(**base, clip_sha256="", status="error", detail=str(exc))
    if not expected:
        return AudioCanary(
            **base,
            clip_sha256=sha,
            status="error",
            detail="the clip's item has no transcript to check against",
        )
    try:
        out = model.complete(canary_request(clip, CANARY_QUESTION, Modality.AT, preparer), CANARY_MAX_TOKENS)
    except (ModelError, MediaError) as exc:
        return AudioCanary(**base, clip_sha256=sha, status="error", detail=f"{type(exc).__name__}: {exc}")
    said = set(_words(out.text))
    heard = [w for w in expected if w in said]
    passed = len(heard) >= CANARY_SHARE * len(expected)
    return AudioCanary(
        **base,
        clip_sha256=sha,
        status="passed" if passed else "failed",
        transcript=out.text,
        heard_expected=passed,
        words_heard=len(heard),
        words_expected=len(expected),
        detail=f"the answer names {len(heard)} of the clip's {len(expected)} words"
        + ("" if passed else f" (needs {CANARY_SHARE:.0%}): the audio does not reach the model"),
    )
