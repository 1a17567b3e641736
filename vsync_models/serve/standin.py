"""A stand-in OpenAI-compatible server with a fixed, jittered latency and a concurrency limit.

It answers every chat completion with a scripted text after a delay, like a served model whose
latency does not depend on load up to ``max_concurrency`` requests (more wait for a slot, as on a
saturated vLLM). It counts what a throughput measurement or a test needs: requests, requests in
flight and their peak, and the prompts it was asked. ``crash()`` makes it behave like a replica
that died: connections in flight are dropped without an answer and new ones are refused.

Standard library only (``http.server``), so ``bench/`` and the tests can start it on loopback::

    with StandinServer(latency_s=0.2, jitter_s=0.05, max_concurrency=32) as server:
        ...  # point an OpenAI client at server.base_url
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["StandinServer"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


class StandinServer:
    """See the module docstring. ``answer(text)`` gives the reply for a request whose text parts joined
    are ``text``; ``delay(text)``, when given, replaces the fixed latency for that request."""

    def __init__(
        self,
        latency_s: float = 0.0,
        jitter_s: float = 0.0,
        max_concurrency: int | None = None,
        answer: Callable[[str], str] | None = None,
        delay: Callable[[str], float] | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.answer = answer or (lambda _text: "A")
        self.delay = delay
        self._slots = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.asked: list[str] = []
        self.first_arrival: float | None = None
        """``time.monotonic()`` when the first request arrived and when the last one was answered:
        the window in which the server had work, i.e. the run without process start-up."""
        self.last_answer: float | None = None
        self._dead = threading.Event()
        self._httpd = _Server((host, port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="standin-server", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = self.peak_in_flight = 0
            self.asked = []
            self.first_arrival = self.last_answer = None

    def crash(self) -> None:
        """Drop in-flight requests unanswered and refuse new connections, like a killed process."""
        self._dead.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def close(self) -> None:
        if not self._dead.is_set():
            self._dead.set()
            self._httpd.shutdown()
            self._httpd.server_close()

    def __enter__(self) -> StandinServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sleep_for(self, text: str) -> float:
        if self.delay is not None:
            return self.delay(text)
        with self._lock:
            jitter = self._rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        return max(0.0, self.latency_s + jitter)

    def _complete(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The completion for one request, or ``None`` when the server died meanwhile."""
        text = "\n".join(
            part.get("text", "")
            for message in body.get("messages", [])
            for part in (message.get("content") if isinstance(message.get("content"), list) else [])
            if isinstance(part, dict) and part.get("type") == "text"
        )
        with self._lock:
            if self.first_arrival is None:
                self.first_arrival = time.monotonic()
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            self.asked.append(text)
        try:
            if self._slots is not None:
                self._slots.acquire()
            try:
                if self._dead.wait(self._sleep_for(text)):
                    return None
                reply = self.answer(text)
            finally:
                if self._slots is not None:
                    self._slots.release()
        finally:
            with self._lock:
                self.in_flight -= 1
                self.last_answer = time.monotonic()
        return {
            "id": "standin",
            "object": "chat.completion",
            "created": 0,
            "model": str(body.get("model", "standin")),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if server._dead.is_set():
                    self.close_connection = True
                    return
                if self.path.rstrip("/") in ("/health", "/v1/models"):
                    self._send(200, {"status": "ok", "data": [{"id": "standin"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if server._dead.is_set() or not self.path.endswith("/chat/completions"):
                    self.close_connection = True
                    return
                payload = server._complete(body)
                if payload is None:  # died while "thinking": drop the connection unanswered
                    self.close_connection = True
                    return
                self._send(200, payload)

        return Handler
