"""Adapter for local omni models behind an OpenAI-compatible server (ours, or vLLM's).

The harness never loads a model in its own process: ``qwen2_5_omni``, ``qwen3_omni`` and
``qwen3_omni_thinking`` are served by ``python -m vsync_models.serve`` (or by vLLM) and asked
over HTTP. Each request carries exactly the files the :class:`~vsync_models.data.media.MediaView`
hands out, so the ablation holds on the wire:

    avt  video_url(clip with its audio)  + text, use_audio_in_video=true   (audio_mode "in_video")
         video_url(clip) + audio_url(audio track) + text                   (audio_mode "separate")
    vt   video_url(copy without any audio stream) + text
    at   audio_url(audio track alone) + text

plus ``"modality"``, which our server enforces as well (vLLM ignores it). Media are uploaded
as base64 ``data:`` URLs by default (works across hosts); ``media_transport: path`` sends
``file://`` URLs instead, for a server on the same host started with
``--allowed-local-media-path``. ``audio_format: wav`` sends audio as 16 kHz WAV (always
uploaded), which is what vLLM's audio loader reads; the m4a track is sent as it is otherwise.

When a request cannot connect and ``/health`` does not answer either, the server is gone: the
client latches that (:attr:`OmniServerModel.gone`) and every later request fails at once with
the same :class:`~vsync_models.errors.ServerGone`, sending nothing.

The fingerprint (part of every cache key) includes what the server reports about itself at
``/v1/models``: checkpoint, ``config_hash`` and ``weights_id``, so answers from another
checkpoint or another preprocessing never come out of the cache. :func:`audio_canary` checks
that audio really reaches the model: the same clip with and without its audio must cost more
prompt tokens with it.
"""

from __future__ import annotations

import base64
import mimetypes
import shlex
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx2

from vsync_models.data.media import MediaPreparer, audio_wav_bytes, content_hash
from vsync_models.errors import (
    ConfigError,
    MediaError,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    ServerGone,
)
from vsync_models.models.base import ModelOutput
from vsync_models.models.common import LAYOUT_VERSION, TRANSPORT_ERRORS, chat_output, exchange, reason
from vsync_models.models.retry import RetryPolicy, call_with_retries
from vsync_models.models.transport import DEFAULT_MAX_RESPONSE_BYTES, BoundedClient
from vsync_models.serve.launch import DEFAULT_STARTUP_TIMEOUT_S
from vsync_models.serve.vllm_engine import VllmSettings, vllm_command
from vsync_models.types import Item, Modality, Request, Sampling

__all__ = [
    "LAYOUT_VERSION",
    "AudioCanary",
    "OmniServerModel",
    "ServerLaunch",
    "audio_canary",
    "canary_request",
]

PREFLIGHT_TIMEOUT_S = 10.0
_T = TypeVar("_T")
_MIME_FALLBACK = {"video": "video/mp4", "audio": "audio/mp4"}
_MIME_BY_SUFFIX = {".m4a": "audio/mp4", ".mp4": "video/mp4", ".wav": "audio/wav", ".mov": "video/quicktime"}


@dataclass(frozen=True)
class ServerLaunch:
    """How to start the server for a registered local model (used by the session fixture)."""

    backend: str
    model_path: str
    host: str = "127.0.0.1"
    port: int | None = None
    gpu_ids: tuple[int, ...] = ()
    extra_args: tuple[str, ...] = ()
    tiny: bool = False
    """The checkpoint is a tiny random one that :mod:`vsync_models.serve.tiny` builds at ``model_path``."""
    engine: str = "transformers"
    """``transformers`` (our server) or ``vllm`` (``vllm serve``, settings in ``vllm``)."""
    vllm: VllmSettings | None = None
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    """How long a start may take before it counts as failed (``models.<name>.startup_timeout``)."""

    def command(self) -> str:
        """The shell command that starts this server, for error messages."""
        prefix = f"CUDA_VISIBLE_DEVICES={','.join(map(str, self.gpu_ids))} " if self.gpu_ids else ""
        if self.engine == "vllm":
            cmd = vllm_command(
                self.model_path, self.vllm or VllmSettings(), host=self.host, port=self.port or 8000
            )
            return prefix + " ".join(shlex.quote(c) for c in cmd)
        args = [
            "python -m vsync_models.serve",
            f"--backend {self.backend}",
            f"--model-path {self.model_path}",
            f"--port {self.port or 8000}",
            *self.extra_args,
        ]
        if self.tiny:
            prefix = f"python -m vsync_models.serve.tiny {self.backend} {self.model_path} && " + prefix
        return prefix + " ".join(args)


@dataclass(frozen=True)
class _ServerInfo:
    model_id: str
    root: str | None
    vsync: dict[str, Any] | None


class OmniServerModel:
    """One model behind an OpenAI-compatible server that takes video and audio parts."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        model_name: str | None = None,
        expected_backend: str | None = None,
        max_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int | None = None,
        audio_mode: str = "in_video",
        video_fps: float | None = None,
        max_frames: int | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        media_transport: str = "upload",
        audio_format: str = "original",
        engine: str = "transformers",
        timeout_s: float = 600.0,
        max_retries: int = 3,
        launch: ServerLaunch | None = None,
        http_client: httpx2.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        rng: Callable[[], float] | None = None,
        token: str | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        default_fps: float | None = None,
    ) -> None:
        if audio_mode not in ("in_video", "separate"):
            raise ConfigError(
                f"model {name!r}: audio_mode must be 'in_video' or 'separate', got {audio_mode!r}"
            )
        if media_transport not in ("upload", "path"):
            raise ConfigError(
                f"model {name!r}: media_transport must be 'upload' or 'path', got {media_transport!r}"
            )
        if audio_format not in ("original", "wav"):
            raise ConfigError(
                f"model {name!r}: audio_format must be 'original' or 'wav', got {audio_format!r}"
            )
        self.name = name
        self.base_url = self.root_url = ""
        self.connect(base_url)
        self.model_name = model_name
        self.expected_backend = expected_backend
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.audio_mode = audio_mode
        self.video = {
            "fps": video_fps,
            "max_frames": max_frames,
            "min_pixels": min_pixels,
            "max_pixels": max_pixels,
        }
        self.default_fps = default_fps
        """The frame rate the server samples at when ``video_fps`` is not sent, where it is known."""
        self.media_transport = media_transport
        self.audio_format = audio_format
        self.engine = engine
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.launch = launch
        # One client for every thread (httpx2's is thread-safe), built here, in the thread that builds
        # the model: it reads proxy and CA settings from the environment now, never per request.
        # VSYNC_SERVER_TOKEN lives in its headers only, never in the fingerprint, repr or attributes.
        self._given_client = http_client
        if http_client is not None and token:
            http_client.headers.update(_auth_headers(token))
        self.max_response_bytes = max_response_bytes
        self._clients = [
            http_client or BoundedClient(headers=_auth_headers(token), max_response_bytes=max_response_bytes)
        ]
        if http_client is None:
            weakref.finalize(self, _close_first, self._clients)
        self._sleep = sleep
        self.retry = retry or RetryPolicy(max_retries=max_retries)
        self._rng = rng
        self._info_lock = threading.Lock()
        self._info: _ServerInfo | None = None
        self._fingerprint_without_server = False

    def __repr__(self) -> str:
        return f"OmniServerModel(name={self.name!r}, base_url={self.base_url!r})"

    @property
    def _client(self) -> httpx2.Client:
        """The HTTP client every thread asks through."""
        return self._clients[0]

    def close(self) -> None:
        """Close the connections; a later request opens new ones. A client given to the constructor
        is the caller's to close. The next client is built here, not in a request thread."""
        if self._given_client is not None:
            return
        old = self._clients[0]
        self._clients[0] = BoundedClient(headers=old.headers, max_response_bytes=self.max_response_bytes)
        old.close()

    def connect(self, url: str) -> None:
        """Point the client at a server (``http://host:port`` or ``.../v1``), e.g. one a fixture just started."""
        root = url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else f"{root}/v1"
        self.root_url = self.base_url[: -len("/v1")]
        self._info = None
        self._fingerprint_without_server = False
        self.gone: str | None = None
        """Set once the server is known to be gone: the message every later request fails with."""

    @property
    def audio_feed(self) -> str:
        """How the soundtrack of an ``avt`` clip reaches the model, in words for the report."""
        if self.audio_mode == "in_video":
            return "the video's own soundtrack, interleaved with its frames (use_audio_in_video)"
        return (
            f"a separate {'WAV ' if self.audio_format == 'wav' else ''}audio_url stream beside the "
            "video_url (not interleaved with the frames: use_audio_in_video is off)"
        )

    @property
    def sampling(self) -> Sampling | None:
        """What the server samples of the picture: ``video_fps`` (else the server's known default) and
        ``num_video_frames``; ``None`` where the rate is not known (a server's own unstated default)."""
        fps = self.video["fps"] or self.default_fps
        return None if fps is None else Sampling(fps=fps, max_frames=self.video["max_frames"])

    # -- Model protocol -------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        fp: dict[str, Any] = {
            "adapter": "omni_server",
            "layout": LAYOUT_VERSION,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
            "audio_mode": self.audio_mode,
            "video": dict(self.video),
        }
        if self.audio_format != "original":  # absent by default: existing cache keys stay valid
            fp["audio_format"] = self.audio_format
        if self.engine != "transformers":
            fp["engine"] = self.engine
        try:
            info = self._server_info()
        except ModelError:
            # Not cacheable as this model: generate() refuses to answer under this key (see there).
            self._fingerprint_without_server = True
            fp["server"] = {"unreachable": self.base_url}
            return fp
        self._fingerprint_without_server = False
        vs = info.vsync or {}
        fp["server"] = {
            "model": info.model_id,
            "checkpoint": vs.get("checkpoint") or info.root,
            "backend": vs.get("backend"),
            "config_hash": vs.get("config_hash"),
            "weights_id": vs.get("weights_id"),
        }
        return fp

    def check(self) -> None:
        """Fail fast, naming the URL and how to start a server, when none answers at ``base_url``."""
        try:
            response = self._client.get(f"{self.root_url}/health", timeout=PREFLIGHT_TIMEOUT_S)
        except TRANSPORT_ERRORS as exc:
            raise ConfigError(self._not_running(reason(exc))) from None
        if response.status_code == 404:  # not our server; vLLM answers /health too, others may not
            pass
        elif response.status_code != 200:
            raise ConfigError(self._not_running(f"/health answered HTTP {response.status_code}"))
        try:
            info = self._server_info(refresh=True)
        except ModelError as exc:
            raise ConfigError(
                f"model {self.name!r}: the server at {self.base_url} is not usable: {exc}"
            ) from None
        backend = (info.vsync or {}).get("backend")
        if self.expected_backend and backend and backend != self.expected_backend:
            raise ConfigError(
                f"model {self.name!r}: the server at {self.base_url} serves backend {backend!r} "
                f"({(info.vsync or {}).get('checkpoint')}), not {self.expected_backend!r}"
            )

    def generate(self, request: Request) -> ModelOutput:
        return self._complete(request, self.max_tokens)

    # -- request layout -------------------------------------------------------------------

    def build_body(self, request: Request, max_tokens: int | None = None) -> dict[str, Any]:
        """The JSON body for one request (public so the layout can be inspected offline).

        Media come only from ``request.media`` (the MediaView), never from the item's clip path:
        ``vt`` gets the audio-less copy, ``at`` the audio track alone.
        """
        info = self._server_info()
        modality = request.modality
        content: list[dict[str, Any]] = []
        mm: dict[str, Any] = {k: v for k, v in self.video.items() if v is not None}
        limit = (info.vsync or {}).get("max_request_bytes")
        if modality.sees_video:
            url = self._media_url(request.media.video_file(), "video", limit)
            content.append({"type": "video_url", "video_url": {"url": url}})
        if modality.sees_audio and (not modality.sees_video or self.audio_mode == "separate"):
            url = self._media_url(request.media.audio_file(), "audio", limit)
            content.append({"type": "audio_url", "audio_url": {"url": url}})
        if modality is Modality.AVT and self.audio_mode == "in_video":
            mm["use_audio_in_video"] = True
        text = "\n\n".join(part for part in (request.prompt.strip(), request.question.strip()) if part)
        content.append({"type": "text", "text": text})
        body: dict[str, Any] = {
            "model": info.model_id,
            "messages": [{"role": "user", "content": content}],
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
        }
        if self.engine == "vllm":
            # vLLM samples frames in its video loader (media_io_kwargs: num_frames, fps); its Qwen
            # processors take only the pixel limits, and max_frames there is an error. It ignores
            # our "modality" field, so it is not sent.
            sampling = {"num_frames": mm.pop("max_frames", None), "fps": mm.pop("fps", None)}
            sampling = {k: v for k, v in sampling.items() if v is not None}
            if sampling and modality.sees_video:
                body["media_io_kwargs"] = {"video": sampling}
        else:
            body["modality"] = modality.value
        if mm:
            body["mm_processor_kwargs"] = mm
        if self.top_p is not None:
            body["top_p"] = self.top_p
        if self.seed is not None:
            body["seed"] = self.seed
        return body

    def _media_url(self, path: Path, kind: str, limit: int | None) -> str:
        wav = kind == "audio" and self.audio_format == "wav"
        if self.media_transport == "path" and not wav:
            return "file://" + quote(str(Path(path).resolve()))
        try:
            data = audio_wav_bytes(path) if wav else Path(path).read_bytes()
        except OSError as exc:
            raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from None
        encoded_size = 4 * ((len(data) + 2) // 3)
        if limit is not None and encoded_size + 4096 > limit:
            raise ModelRequestError(
                f"model {self.name!r}: {Path(path).name} is {len(data) / 2**20:.1f} MiB, too large to upload to "
                f"{self.base_url} (limit {limit / 2**20:.0f} MiB); raise the server's --max-request-mb or use "
                "media_transport: path"
            )
        mime = "audio/wav" if wav else _MIME_BY_SUFFIX.get(Path(path).suffix.lower())
        mime = mime or mimetypes.guess_type(str(path))[0]
        if not mime or not mime.startswith(kind + "/"):
            mime = _MIME_FALLBACK[kind]
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"

    # -- HTTP -----------------------------------------------------------------------------

    def _complete(self, request: Request, max_tokens: int) -> ModelOutput:
        body = self.build_body(request, max_tokens)
        if self._fingerprint_without_server:
            # This item's cache key was computed while the server was unreachable; an answer stored
            # under it would not name the checkpoint. The next item gets a proper key.
            self._fingerprint_without_server = False
            raise ModelUnavailable(
                f"model {self.name!r}: {self.base_url} was unreachable when this item started"
            )
        out, retries = self._with_retries(lambda: self._answer(body))
        return ModelOutput(text=out.text, usage=out.usage, retries=retries)

    def _answer(self, body: dict[str, Any]) -> ModelOutput:
        payload = self._once("POST", "/chat/completions", body, self.timeout_s)
        return chat_output(payload, name=self.name, where=self.base_url)

    def _server_info(self, refresh: bool = False) -> _ServerInfo:
        with self._info_lock:
            if self._info is not None and not refresh:
                return self._info
            payload = self._get("/models")
            entries = payload.get("data") if isinstance(payload, dict) else None
            if not isinstance(entries, list) or not entries:
                raise ModelRequestError(f"model {self.name!r}: {self.base_url}/models lists no model")
            ids = [e.get("id") for e in entries if isinstance(e, dict)]
            if self.model_name is not None:
                matches = [e for e in entries if isinstance(e, dict) and e.get("id") == self.model_name]
                if not matches:
                    raise ModelRequestError(
                        f"model {self.name!r}: {self.base_url} serves {ids}, not {self.model_name!r} "
                        f"(models.{self.name}.model_name)"
                    )
                entry = matches[0]
            elif len(entries) == 1 and isinstance(entries[0], dict):
                entry = entries[0]
            else:
                raise ModelRequestError(
                    f"model {self.name!r}: {self.base_url} serves several models {ids}; "
                    f"set models.{self.name}.model_name"
                )
            vsync = entry.get("vsync")
            self._info = _ServerInfo(
                model_id=str(entry.get("id")),
                root=entry.get("root"),
                vsync=vsync if isinstance(vsync, dict) else None,
            )
            return self._info

    def _get(self, path: str) -> Any:
        return self._request("GET", path, None, PREFLIGHT_TIMEOUT_S)

    def _request(self, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> Any:
        payload, _ = self._with_retries(lambda: self._once(method, path, body, timeout))
        return payload

    def _with_retries(self, attempt: Callable[[], _T]) -> tuple[_T, int]:
        """The shared retry loop, plus the latch for a dead server: when the connection still fails
        after every retry and ``/health`` does not answer either, the server is gone, and every
        later call says so at once instead of retrying again."""
        if self.gone is not None:
            raise ServerGone(self.gone)
        try:
            return call_with_retries(attempt, self.retry, sleep=self._sleep, rng=self._rng)
        except ModelUnavailable as exc:
            if exc.kind != "connection" or self._answers_health():
                raise
            self.gone = (
                f"model {self.name!r}: the model server at {self.root_url} is gone ({getattr(exc, 'reason', 'no connection')}; "
                "/health does not answer either)"
            )
            raise ServerGone(self.gone, kind="connection", retries=exc.retries) from None

    def _once(self, method: str, path: str, body: dict[str, Any] | None, timeout: float) -> Any:
        """One HTTP exchange; what may pass (429, 5xx, reset, timeout, a broken body) is :class:`Transient`."""
        return exchange(
            self._client,
            method,
            f"{self.base_url}{path}",
            name=self.name,
            where=self.base_url,
            timeout=timeout,
            json=body,
        )

    def _answers_health(self) -> bool:
        """Whether anything still answers at the server's root (any HTTP status counts as alive)."""
        try:
            self._client.get(f"{self.root_url}/health", timeout=PREFLIGHT_TIMEOUT_S)
        except TRANSPORT_ERRORS:
            return False
        return True

    def _not_running(self, reason: str) -> str:
        how = (
            f"start one with: {self.launch.command()}"
            if self.launch
            else "start one with: python -m vsync_models.serve --backend BACKEND --model-path DIR --port PORT"
        )
        return (
            f"model {self.name!r}: no model server answers at {self.root_url} ({reason}); {how} "
            f"(or point models.{self.name}.server_url at a running one)"
        )


def _auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _close_first(clients: list[httpx2.Client]) -> None:
    clients[0].close()


# -- audio canary -------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioCanary:
    """Did audio reach the model? One record for the run's report.

    ``method`` says how it was decided: ``prompt_tokens`` (a local or omni server: the clip costs more
    prompt tokens with its audio, :func:`audio_canary`) or ``transcript`` (an API model: its answer
    names the clip's words, which only the audio tells;
    :func:`~vsync_models.models.openai_compat.api_audio_canary`).
    """

    model: str
    clip: str
    clip_sha256: str
    status: str
    """``passed`` (audio costs prompt tokens), ``failed`` (it does not: audio is dropped), ``error``."""
    prompt_tokens_with_audio: int | None = None
    prompt_tokens_without_audio: int | None = None
    audio_tokens: int | None = None
    """Audio placeholder tokens the server reports for the clip with audio (None if it does not say)."""
    transcript: str | None = None
    """The model's answer to "what is said?" when expected words were given."""
    heard_expected: bool | None = None
    detail: str = ""
    audio_feed: str = ""
    """How the soundtrack was sent (interleaved in the video, or as a separate stream)."""
    engine: str | None = None
    """``transformers`` (our server), ``vllm``, or ``None`` for a server the run did not configure."""
    method: str = "prompt_tokens"
    words_heard: int | None = None
    """``transcript`` method: how many of the clip's words the answer named, of ``words_expected``."""
    words_expected: int | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_record(self) -> dict[str, Any]:
        """JSON-ready, for ``audio_canary_<model>.json`` in the run's folder."""
        return asdict(self)

    def describe(self) -> str:
        """One line for the terminal, the HTML report and Allure: did audio reach the model, and how."""
        if self.method == "transcript":
            line = f"{self.status} ({self.detail})"
        else:
            line = (
                f"{self.status} (prompt tokens with audio {self.prompt_tokens_with_audio}, "
                f"without {self.prompt_tokens_without_audio}, audio tokens {self.audio_tokens})"
            )
        if self.audio_feed:
            line += f"; audio sent as {self.audio_feed}"
        return line


CANARY_QUESTION = "Transcribe exactly what is said in this clip."


def canary_request(clip: Path, question: str, modality: Modality, preparer: MediaPreparer) -> Request:
    """A canary's request: ``clip`` under ``modality`` with ``question`` alone (no system prompt, no
    options, no transcript), built by the harness like every item's, so the modality gate holds."""
    from vsync_models.data.prompts import PromptSettings, build_request

    item = Item(
        id="audio-canary",
        video_path=clip.name,
        question=question,
        options=(),
        correct_answer="",
        video_file=clip,
    )
    return build_request(
        item, modality, PromptSettings(system_prompt="", user_prompt="", answer_format=""), preparer
    )


def audio_canary(
    model: OmniServerModel,
    clip: Path,
    preparer: MediaPreparer,
    *,
    expected_words: Sequence[str] = (),
    transcript_tokens: int = 48,
) -> AudioCanary:
    """Ask for ``clip`` once with its audio (``avt``) and once without (``vt``), one token each.

    The audio canary passes when the prompt with audio is longer (and, where the server reports
    it, holds audio tokens): a server or harness that drops the soundtrack makes both equal. With
    ``expected_words`` (words the clip is known to say) the model is also asked to transcribe the
    clip; whether any expected word appears is recorded (``heard_expected``) but does not decide
    the status, since a small or random model may hear and still not say it.
    """
    clip = Path(clip)
    base = {
        "model": model.name,
        "clip": str(clip),
        "audio_feed": model.audio_feed,
        "engine": model.launch.engine if model.launch else None,
    }
    try:
        sha = content_hash(clip)
    except MediaError as exc:
        return AudioCanary(**base, clip_sha256="", status="error", detail=str(exc))
    try:
        with_audio = model._complete(canary_request(clip, CANARY_QUESTION, Modality.AVT, preparer), 1)
        without = model._complete(canary_request(clip, CANARY_QUESTION, Modality.VT, preparer), 1)
    except (ModelError, MediaError) as exc:
        return AudioCanary(**base, clip_sha256=sha, status="error", detail=f"{type(exc).__name__}: {exc}")
    n_with = (with_audio.usage or {}).get("prompt_tokens")
    n_without = (without.usage or {}).get("prompt_tokens")
    audio_tokens = (with_audio.usage or {}).get("audio_tokens")
    if n_with is None or n_without is None:
        status, detail = "error", "the server reports no prompt token counts"
    elif n_with > n_without and (audio_tokens is None or audio_tokens > 0):
        status = "passed"
        detail = f"audio adds {n_with - n_without} prompt tokens"
    else:
        status = "failed"
        detail = (
            f"the prompt with audio has {n_with} tokens, without {n_without}"
            + (f", audio tokens {audio_tokens}" if audio_tokens is not None else "")
            + ": the soundtrack does not reach the model"
        )
    transcript = heard = None
    if expected_words and status != "error":
        try:
            request = canary_request(clip, CANARY_QUESTION, Modality.AVT, preparer)
            out = model._complete(request, transcript_tokens)
        except (ModelError, MediaError) as exc:
            detail += f"; transcript request failed: {exc}"
        else:
            transcript = out.text
            lowered = out.text.lower()
            heard = any(word.lower() in lowered for word in expected_words)
    return AudioCanary(
        **base,
        clip_sha256=sha,
        status=status,
        prompt_tokens_with_audio=n_with,
        prompt_tokens_without_audio=n_without,
        audio_tokens=audio_tokens,
        transcript=transcript,
        heard_expected=heard,
        detail=detail,
    )
