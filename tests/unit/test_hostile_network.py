"""Hostile endpoints on 127.0.0.1: a server that drips its answer, one that answers too much, one
that redirects elsewhere, one that asks to be retried in a day, one that is gone.

Each ends the item as an error outcome (never a hang, never an answer scored) that names the limit
or the values involved. The servers are raw sockets, so they can misbehave below HTTP.
Times are guards only: every assertion is about the outcome.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.standins.tiny_omni import make_clip
from tests.unit.test_flaky_endpoints import request_for
from vsync_models.data.media import MediaPreparer
from vsync_models.models.base import ask
from vsync_models.models.omni_server import OmniServerModel
from vsync_models.models.openai_compat import OpenAICompatModel
from vsync_models.models.retry import RetryPolicy
from vsync_models.types import Request, Response

GUARD_S = 60.0
"""Only against a hang of the test itself; far above what any case here needs."""

Handler = Callable[[socket.socket, bytes], None]


def completion(text: str = "Answer: A") -> bytes:
    return json.dumps(
        {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": {"total_tokens": 3}}
    ).encode()


def http(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Content-Type: application/json"]
    head.append("Connection: close")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


MODELS_BODY = json.dumps({"data": [{"id": "tiny", "root": "tiny"}]}).encode()


class RawServer:
    """A loopback HTTP/1.1 server of raw sockets: ``handler(conn, request_head)`` writes what it likes.

    ``GET .../models`` always gets a normal answer (the omni client asks it before the chat).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.chats = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                head = _read_request(conn)
                if head is None:
                    return
                if head.startswith(b"GET") and b"/models" in head.split(b"\r\n")[0]:
                    conn.sendall(http("200 OK", MODELS_BODY))
                    return
                self.chats += 1
                self.handler(conn, head)
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def request_(tmp_path_factory: pytest.TempPathFactory) -> Request:
    clip = make_clip(tmp_path_factory.mktemp("hostile-net") / "clip.mp4", seconds=1.0)
    return request_for(clip, MediaPreparer(tmp_path_factory.mktemp("hostile-net-media")))


def openai_model(url: str, *, timeout_s: float = 5.0, retries: int = 0, **kw) -> OpenAICompatModel:
    return OpenAICompatModel(
        "openai:hostile",
        "hostile",
        url,
        "sk-hostile-test",
        timeout_s=timeout_s,
        retry=kw.pop("retry", RetryPolicy(max_retries=retries, base_s=0.01, cap_s=0.01)),
        **kw,
    )


def omni_model(url: str, *, timeout_s: float = 5.0, retries: int = 0, **kw) -> OmniServerModel:
    return OmniServerModel(
        "qwen2_5_omni",
        url,
        timeout_s=timeout_s,
        retry=kw.pop("retry", RetryPolicy(max_retries=retries, base_s=0.01, cap_s=0.01)),
        **kw,
    )


CLIENTS = {"openai": openai_model, "omni_server": omni_model}


def ask_guarded(model, request: Request) -> Response:
    """``ask`` in a thread; the test fails (instead of hanging) if it never returns."""
    box: list[Response] = []
    thread = threading.Thread(target=lambda: box.append(ask(model, request)), daemon=True)
    thread.start()
    thread.join(GUARD_S)
    assert box, f"the request did not end within {GUARD_S:g}s: no overall deadline"
    return box[0]


def drip(payload: bytes, every_s: float) -> Handler:
    def handler(conn: socket.socket, head: bytes) -> None:
        for i in range(len(payload)):
            conn.sendall(payload[i : i + 1])
            time.sleep(every_s)

    return handler


# -- point 1: one deadline for the whole exchange ---------------------------------------------------


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_server_that_drips_its_answer_ends_as_a_timeout_within_the_deadline(client, part, serve, request_):
    """Each byte comes well within the read timeout; only a deadline for the whole exchange ends it."""
    answer = http("200 OK", completion())
    split = answer.index(b"\r\n\r\n") + 4
    if part == "headers":
        handler = drip(answer, 0.25)
    else:

        def handler(conn: socket.socket, head: bytes) -> None:
            conn.sendall(answer[:split])
            drip(answer[split:], 0.25)(conn, head)

    server = serve(handler)
    response = ask_guarded(CLIENTS[client](server.url, timeout_s=1.0, retries=1), request_)
    assert response.error_kind == "timeout", response.error
    assert "1s deadline" in response.error and "whole answer" in response.error
    assert "after 2 attempts" in response.error and server.chats == 2


# -- point 4: the answer's size is bounded while it is read ----------------------------------------


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_answer_over_the_size_limit_is_an_error_naming_the_limit(client, declared, serve, request_):
    big = completion("A" * 200_000)
    sent: list[int] = []

    def handler(conn: socket.socket, head: bytes) -> None:
        if declared:
            conn.sendall(http("200 OK", big))
            sent.append(len(big))
            return
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
        )
        total = 0
        try:
            for _ in range(10_000):  # 40 MB if nobody stops reading
                chunk = b"x" * 4096
                conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                total += len(chunk)
        except OSError:
            pass
        sent.append(total)

    server = serve(handler)
    model = CLIENTS[client](server.url, retries=3, max_response_bytes=64 * 1024)
    response = ask_guarded(model, request_)
    assert response.error_kind == "too_large", response.error
    assert "response limit of 65536 bytes" in response.error and "max_response_mb" in response.error
    assert server.chats == 1 and response.retries == 0  # the same request would get the same answer
    deadline = time.monotonic() + GUARD_S
    while not sent and time.monotonic() < deadline:
        time.sleep(0.01)
    if not declared:  # the client stopped reading long before the server ran out
        assert sent and sent[0] < 40_000_000


def test_the_response_limit_is_a_runtime_setting(tmp_path):
    from vsync_models.config import load_config
    from vsync_models.models.registry import build_model

    path = tmp_path / "config.yaml"
    path.write_text("runtime:\n  max_response_mb: 0.5\n")
    model = build_model("openai:x", load_config(path, environ={"OPENAI_API_KEY": "sk-x"}))
    assert model.max_response_bytes == 512 * 1024
    path.write_text("runtime:\n  max_response_mb: -1\n")
    from vsync_models.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"config.yaml runtime: 'max_response_mb' must be a positive number, got -1"
    ):
        load_config(path, environ={})


# -- point 8: Retry-After above the cap, redirects to another origin --------------------------------


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_retry_after_above_the_cap_ends_the_item_at_once_with_the_servers_value(client, serve, request_):
    slept: list[float] = []

    def handler(conn: socket.socket, head: bytes) -> None:
        conn.sendall(http("429 Too Many Requests", b'{"error": "slow down"}', {"Retry-After": "100000"}))

    server = serve(handler)
    policy = RetryPolicy(max_retries=5, max_wait_s=60.0)
    response = ask_guarded(CLIENTS[client](server.url, retry=policy, sleep=slept.append), request_)
    assert response.error_kind == "rate_limited"
    assert "retry after 100000s" in response.error and "retry_after_cap_sec 60s" in response.error
    assert server.chats == 1 and slept == [] and response.retries == 0


def test_the_retry_after_cap_is_a_runtime_setting(tmp_path):
    from vsync_models.config import load_config
    from vsync_models.models.registry import build_model

    path = tmp_path / "config.yaml"
    path.write_text("runtime:\n  retry_after_cap_sec: 5\n")
    model = build_model("openai:x", load_config(path, environ={"OPENAI_API_KEY": "sk-x"}))
    assert model.retry.max_wait_s == 5.0
    assert (
        build_model("openai:x", load_config(None, environ={"OPENAI_API_KEY": "k"})).retry.max_wait_s == 60.0
    )


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_a_redirect_to_another_origin_is_refused_naming_both(client, serve, request_):
    elsewhere = serve(lambda conn, head: conn.sendall(http("200 OK", completion("Answer: B"))))

    def handler(conn: socket.socket, head: bytes) -> None:
        target = f"{elsewhere.url}/chat/completions"
        conn.sendall(http("307 Temporary Redirect", b"", {"Location": target}))

    server = serve(handler)
    response = ask_guarded(CLIENTS[client](server.url, retries=3), request_)
    assert response.error_kind == "redirect", response.error
    assert f"127.0.0.1:{server.port}" in response.error and f"127.0.0.1:{elsewhere.port}" in response.error
    assert elsewhere.chats == 0 and server.chats == 1


def test_a_redirect_within_the_origin_is_still_followed_by_the_openai_client(serve, request_):
    """(Our own server's client follows no redirect at all, as before: a 3xx is an HTTP error.)"""

    def handler(conn: socket.socket, head: bytes) -> None:
        if b"/moved" in head.split(b"\r\n")[0]:
            conn.sendall(http("200 OK", completion("Answer: C")))
        else:
            conn.sendall(http("307 Temporary Redirect", b"", {"Location": "/v1/moved"}))

    server = serve(handler)
    response = ask_guarded(openai_model(server.url), request_)
    assert response.error is None and response.text == "Answer: C"


# -- point 9: a dead OpenAI-compatible endpoint costs a run-wide number of retries -------------------


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens: every connection is refused


def test_refused_connections_are_budgeted_across_items_and_processes(tmp_path, request_):
    """Two models sharing one budget file stand for two xdist workers of one run."""
    from vsync_models.errors import ServerGone
    from vsync_models.models.retry import RefusalBudget

    url = closed_port_url()
    slept: list[float] = []
    workers = []
    for _ in range(2):
        budget = RefusalBudget(3)
        budget.share(tmp_path / "run" / "refused")
        workers.append(openai_model(url, retries=5, refusals=budget, sleep=slept.append))
    first = ask_guarded(workers[0], request_)
    assert first.error_kind == "connection" and first.retries == 3  # 4 refusals: 3 retried, then stop
    assert "refused 4 connections in a row" in first.error and "max_refused_connections" in first.error
    later = [ask_guarded(workers[i % 2], request_) for i in range(4)]
    assert all(r.error_kind == "connection" and r.retries == 0 for r in later)
    assert len(slept) == 3, "every later item, in either process, stops without a connection attempt"
    assert workers[0].gone and workers[1].gone
    from vsync_models.serve.serving import Endpoint

    assert Endpoint(apis=[workers[1]]).gone(), "the run stops as for a dead server"
    with pytest.raises(ServerGone):
        workers[1].generate(request_)


def test_an_answer_refills_the_budget(serve, request_):
    from vsync_models.models.retry import RefusalBudget

    budget = RefusalBudget(2)
    assert budget.spend() and budget.spend()
    server = serve(lambda conn, head: conn.sendall(http("200 OK", completion())))
    assert ask_guarded(openai_model(server.url, refusals=budget), request_).error is None
    assert budget.spend() and budget.spend() and not budget.spend() and budget.spent


# -- Gemini's native client sends through the same bounded client ----------------------------------


def gemini_model(url: str, **kw):
    from vsync_models.models.gemini import GeminiModel

    return GeminiModel(
        "gemini_2_5_flash",
        "gemini-2.5-flash",
        "gm-hostile-test",
        base_url=url.removesuffix("/v1"),
        retry=RetryPolicy(max_retries=1, base_s=0.01, cap_s=0.01),
        **kw,
    )


def test_gemini_answers_are_bounded_in_size_and_time(serve, request_):
    big = serve(lambda conn, head: conn.sendall(http("200 OK", b'{"candidates": "' + b"A" * 200_000 + b'"}')))
    response = ask_guarded(gemini_model(big.url, max_response_bytes=64 * 1024), request_)
    assert response.error_kind == "too_large" and "65536 bytes" in response.error, response.error
    assert big.chats == 1
    dripping = serve(drip(http("200 OK", b'{"candidates": []}'), 0.25))
    response = ask_guarded(gemini_model(dripping.url, timeout_s=1.0), request_)
    assert response.error_kind == "timeout" and "whole answer" in response.error, response.error
    assert dripping.chats == 2


@pytest.mark.parametrize("key", ["retry_after_cap_sec", "max_response_mb", "max_refused_connections"])
@pytest.mark.parametrize("value", [".nan", ".inf", "0", "-3", "'soon'"])
def test_a_bad_limit_is_a_usage_error_naming_file_key_and_value(tmp_path, key, value):
    from vsync_models.config import load_config
    from vsync_models.errors import ConfigError

    path = tmp_path / "config.yaml"
    path.write_text(f"runtime:\n  {key}: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert str(path) in message and f"'{key}'" in message and "got" in message
