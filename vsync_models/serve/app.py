"""The FastAPI app: OpenAI-compatible routes in front of one :class:`~vsync_models.serve.backend.Backend`.

Routes: ``GET /health``, ``GET /v1/models`` (the loaded checkpoint with its ``config_hash``),
``GET /v1/models/{id}``, ``POST /v1/chat/completions``.

Hardening, all tested: requests larger than ``max_request_bytes`` are answered 413 before the
app parses them (Content-Length or counted while streaming); every refusal and every failure is a
JSON body ``{"error": {"message", "type", "param", "code"}}`` with a 4xx/5xx status, and the
server keeps serving afterwards; uploads are written under server-chosen names and deleted after
the request (:mod:`~vsync_models.serve.media`); with a token set (``VSYNC_SERVER_TOKEN``, required
when binding a non-loopback address) every route but ``/health`` needs it. Generation runs in a worker thread, one request
at a time, so ``/health`` answers while the model is busy.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vsync_models.serve.backend import Backend, Generation, MediaPart, Message, Prompt, TextPart
from vsync_models.serve.media import MediaStore, probe_streams
from vsync_models.serve.protocol import (
    ChatCompletionBody,
    ChatRequest,
    MediaSource,
    RequestError,
    chat_body_model,
    validation_error,
)

__all__ = ["BearerToken", "BodyLimit", "ServerSettings", "create_app"]

log = logging.getLogger("vsync_models.serve")

Scope = MutableMapping[str, Any]
ASGIMessage = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_ERROR_CHARS = 500


@dataclass(frozen=True)
class ServerSettings:
    served_model_name: str
    max_request_bytes: int = 256 * 1024 * 1024
    default_max_tokens: int = 256
    max_tokens_limit: int = 16384
    allowed_local_media_paths: tuple[Path, ...] = ()
    token: str | None = field(default=None, repr=False)
    """``VSYNC_SERVER_TOKEN``: when set, every route but ``/health`` needs ``Authorization: Bearer <token>``."""


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """Pure ASGI middleware: buffer at most ``max_bytes`` of request body, else answer 413.

    A declared Content-Length over the limit is refused before a byte is read; a chunked body is
    counted as it arrives. The app then gets the buffered body, so nothing past the limit is
    ever held in memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> dict[str, Any]:
        return RequestError(
            413,
            f"request body exceeds the server's limit of {self.max_bytes} bytes (--max-request-mb)",
            code="request_too_large",
        ).body()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_json(send, 400, RequestError(400, "invalid Content-Length header").body())
                return
            if int(declared) > self.max_bytes:
                await _send_json(send, 413, self._too_large())
                return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _send_json(send, 413, self._too_large())
                return
            more = message.get("more_body", False)

        replayed = False

        async def replay() -> ASGIMessage:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class BearerToken:
    """Pure ASGI middleware: without the right ``Authorization: Bearer`` header, a JSON 401.

    ``/health`` stays open so launchers and load balancers can probe; it tells nothing but the
    model's name. The comparison is constant-time, and the token is never logged or echoed.
    """

    OPEN_PATHS = ("/health",)

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"authorization", b"")
        if not hmac.compare_digest(given, self._expected):
            error = RequestError(
                401,
                "missing or wrong bearer token: send 'Authorization: Bearer $VSYNC_SERVER_TOKEN'",
                code="invalid_token",
            )
            await _send_json(send, 401, error.body())
            return
        await self.app(scope, receive, send)


def _error(status: int, message: str, type_: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": type_, "param": None, "code": code}},
    )


def create_app(backend: Backend, settings: ServerSettings, store: MediaStore | None = None) -> FastAPI:
    """The app for one loaded backend. ``store`` defaults to a private temp dir + the allowed paths."""
    media = store or MediaStore(settings.allowed_local_media_paths)
    generate_lock = threading.Lock()
    created = int(time.time())
    described = backend.describe()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        media.close()

    app = FastAPI(
        title="V-SYNC omni model server",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        strict_content_type=False,  # a JSON body without a Content-Type header is JSON all the same
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    if settings.token:
        app.add_middleware(BearerToken, token=settings.token)  # added last: runs first
    app.state.media = media

    @app.exception_handler(RequestError)
    async def _request_error(_: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content=exc.body())

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's body parsing hit Python's stack limit
            message = "request body is not valid JSON: nested too deeply"
            return _error(400, message, "invalid_request_error", "invalid_json")
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return _error(exc.status_code, str(exc.detail), kind)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("request failed: %s: %s", type(exc).__name__, exc)
        return _error(500, f"server error: {type(exc).__name__}: {exc}"[:_ERROR_CHARS], "server_error")

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = validation_error(exc.errors())
        error.message = error.message[:_ERROR_CHARS]
        return JSONResponse(status_code=error.status, content=error.body())

    def model_card() -> dict[str, Any]:
        return {
            "id": settings.served_model_name,
            "object": "model",
            "created": created,
            "owned_by": "vsync",
            "root": described.get("checkpoint"),
            "max_model_len": described.get("max_model_len"),
            "vsync": {
                **described,
                "max_request_bytes": settings.max_request_bytes,
                "default_max_tokens": settings.default_max_tokens,
                "max_tokens_limit": settings.max_tokens_limit,
                "local_media": bool(media.allowed_roots),
            },
        }

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": settings.served_model_name, "backend": backend.kind}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str) -> dict[str, Any]:
        if model_id != settings.served_model_name:
            raise RequestError(404, f"model {model_id!r} is not served here", code="model_not_found")
        return model_card()

    def prepare(request: ChatRequest, owned: list[Path]) -> Prompt:
        messages = []
        for msg in request.messages:
            parts: list[TextPart | MediaPart] = []
            for part in msg.parts:
                if isinstance(part, str):
                    parts.append(TextPart(part))
                else:
                    parts.append(_probed(part, media.materialise(part, owned), request.use_audio_in_video))
            messages.append(Message(msg.role, tuple(parts)))
        return Prompt(
            messages=tuple(messages),
            use_audio_in_video=request.use_audio_in_video,
            max_new_tokens=request.max_tokens or settings.default_max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            video=request.video,
        )

    def run(prompt: Prompt) -> Generation:
        with generate_lock:
            return backend.generate(prompt)

    async def chat_completions(body: ChatCompletionBody) -> JSONResponse:
        parsed = body.request  # validated by FastAPI against chat_body_model (see below)
        if parsed.model is not None and parsed.model not in (
            settings.served_model_name,
            described.get("checkpoint"),
        ):
            raise RequestError(
                404,
                f"model {parsed.model!r} is not served here; this server serves {settings.served_model_name!r}",
                param="model",
                code="model_not_found",
            )
        owned: list[Path] = []
        try:
            prompt = await anyio.to_thread.run_sync(prepare, parsed, owned)
            try:
                generation = await anyio.to_thread.run_sync(run, prompt)
            except Exception as exc:
                log.exception("generation failed")
                message = f"generation failed: {type(exc).__name__}: {exc}"[:_ERROR_CHARS]
                return _error(500, message, "server_error", "generation_failed")
        finally:
            for path in owned:
                path.unlink(missing_ok=True)
        return JSONResponse(_completion(settings.served_model_name, parsed, generation, backend.kind))

    # The body model carries this server's max_tokens limit, so it is set here, not in the signature.
    chat_completions.__annotations__["body"] = chat_body_model(settings.max_tokens_limit)
    app.post("/v1/chat/completions")(chat_completions)
    return app


def _probed(source: MediaSource, path: Path, use_audio_in_video: bool) -> MediaPart:
    try:
        streams = probe_streams(path)
    except ValueError as exc:
        raise RequestError(
            400,
            f"{source.where}: cannot read the {source.kind}: {exc}",
            param=source.where,
            code="unreadable_media",
        ) from None
    if source.kind not in streams:
        raise RequestError(
            400,
            f"{source.where}: the file has no {source.kind} stream",
            param=source.where,
            code="missing_stream",
        )
    if source.kind == "video" and use_audio_in_video and "audio" not in streams:
        raise RequestError(
            400,
            f"{source.where}: the video has no audio track, but use_audio_in_video is on "
            "(modality avt needs a clip with sound)",
            param=source.where,
            code="no_audio_track",
        )
    return MediaPart(source.kind, path, has_audio="audio" in streams)


def _completion(model: str, request: ChatRequest, gen: Generation, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": gen.text},
                "finish_reason": gen.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "total_tokens": gen.prompt_tokens + gen.completion_tokens,
            "prompt_tokens_details": {
                "audio_tokens": gen.audio_tokens,
                "video_tokens": gen.video_tokens,
                "cached_tokens": 0,
            },
        },
        "vsync": {
            "backend": kind,
            "modality": request.modality.value if request.modality else None,
            "use_audio_in_video": request.use_audio_in_video,
        },
    }
