"""A stand-in OpenAI-compatible model server on loopback: latency, a concurrency limit, and faults.

It ships in the package (not under ``tests/``) because ``bench/`` and users measure the harness with
it: throughput, overhead and fault recovery, on any machine, with no model and no GPU.

    python -m vsync_models.standin --port 0 --ready-file ready.json --log requests.jsonl \\
        --rate 500=0.2 --rate reset=0.05 --seed 0 --kill-after 150 --latency 0.2 --jitter 0.05

The harness's reliability and throughput claims are only testable against a server whose
behaviour is known exactly, so this one is scripted end to end. By default it answers every
question with a letter derived from the prompt's text alone (sha256), so a run that went through
faults and one that did not must score exactly the same. Each answer takes a fixed, jittered
latency, as a served model does up to ``max_concurrency`` requests in flight (more wait for a
slot, as on a saturated vLLM). It counts what a throughput figure or a test needs (requests,
requests in flight and their peak, the window in which it had work) and logs one JSON line per
request (which questions were asked, how often, with which fault, and how many parts of each type
it carried: ``text``, ``image_url``, ``input_audio``...). Faults come from a script
(consumed in order, for exact tests) and then from seeded rates (for the benchmark). What each
fault does on the wire:

    ok            200 with one choice (``answer(text)``, by default "Answer: <letter>")
    429           429 with Retry-After: 0
    500/502/503   that status with a JSON error body
    400/401/403   that status (never worth a retry); 401 echoes the key it got, as real APIs do
    reset         the TCP connection is reset without a byte of answer
    timeout       nothing is sent for ``hang_s`` seconds (longer than the client waits)
    truncated     a 200 whose body stops half-way (Content-Length promises more)
    nonjson       a 200 with an HTML page instead of JSON
    empty         a 200 with an empty ``choices`` list
    no_content    a 200 whose message has no ``content``
    kill          SIGKILL: the server dies with the request in flight

``--kill-after N`` kills when request N+1 arrives; with ``--kill-pid-file`` it SIGKILLs the
process whose pid is in that file instead (the pytest run under test) and then keeps serving.
:meth:`StandIn.crash` is the in-process counterpart for a replica that dies: requests in flight
are dropped unanswered and new connections are refused. Only the standard library is used, so it
runs wherever the harness does, in-process (:class:`StandIn`) or as its own process (:func:`spawn`),
whose SIGKILL is the point of some tests::

    with StandIn(FaultPlan(script=["500"]), latency_s=0.2, max_concurrency=32) as server:
        ...  # point an OpenAI client at server.url
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["FAULTS", "FaultPlan", "StandIn", "StandInProcess", "answer_for", "main", "read_log", "spawn"]

FAULTS = (
    "ok",
    "429",
    "500",
    "502",
    "503",
    "400",
    "401",
    "403",
    "reset",
    "timeout",
    "truncated",
    "nonjson",
    "empty",
    "no_content",
    "kill",
)
_LETTER_LINE = re.compile(r"^([A-Z])[.)]\s", re.MULTILINE)


def answer_for(text: str) -> str:
    """The stand-in's answer to a prompt: one of its option letters, chosen by the text's sha256."""
    letters = sorted(set(_LETTER_LINE.findall(text))) or ["A", "B", "C", "D"]
    return letters[hashlib.sha256(text.encode("utf-8")).digest()[0] % len(letters)]


@dataclass
class FaultPlan:
    """Which fault each request gets: first the script, in order, then draws from ``rates``."""

    script: list[str] = field(default_factory=list)
    rates: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    kill_after: int | None = None
    """Kill when request number ``kill_after + 1`` arrives (requests are counted from 1)."""
    kill_pid_file: Path | None = None
    hang_s: float = 30.0

    def __post_init__(self) -> None:
        unknown = [f for f in [*self.script, *self.rates] if f not in FAULTS]
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {', '.join(FAULTS)}")
        if sum(self.rates.values()) > 1.0:
            raise ValueError("fault rates add up to more than 1")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._count = 0

    def next(self) -> tuple[int, str]:
        """The request's number and its fault (thread-safe: requests arrive concurrently)."""
        with self._lock:
            self._count += 1
            n = self._count
            if self.kill_after is not None and n == self.kill_after + 1:
                return n, "kill"
            if n <= len(self.script):
                return n, self.script[n - 1]
            draw, edge = self._rng.random(), 0.0
            for fault, rate in sorted(self.rates.items()):
                edge += rate
                if draw < edge:
                    return n, fault
            return n, "ok"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # a benchmark opens hundreds of connections at once

    def __init__(self, address: tuple[str, int], standin: StandIn) -> None:
        super().__init__(address, _Handler)
        self.standin = standin

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Broken connections are what this server is for; no tracebacks."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the JSON log is the record."""

    def do_GET(self) -> None:
        if self.server.standin.dead:
            self.close_connection = True
        elif self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "standin", "object": "model"}]})
        elif self.path.rstrip("/") == "/health":
            self._json(200, {"status": "ok"})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        standin = self.server.standin
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if standin.dead:
            self.close_connection = True
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        try:
            body = json.loads(raw)
            text = _prompt_text(body)
            parts, audio = _parts(body)
        except (ValueError, KeyError, TypeError, IndexError):
            self._json(
                400, {"error": {"message": "not a chat completion request", "type": "invalid_request"}}
            )
            return
        n, fault = standin.plan.next()
        question = text.strip().splitlines()[-1] if text.strip() else ""
        standin.record({"n": n, "fault": fault, "question": question, "sha": _sha(text), "parts": parts})
        if standin.hear is not None and audio:  # what it hears is part of what it answers from
            text = "\n".join([text, *(standin.hear(clip) for clip in audio)])
        if fault == "kill":
            self._kill()
            fault = "ok"  # only reached when another process was killed: this answer goes nowhere
        if not standin.think(text):  # died meanwhile: drop the connection unanswered
            self.close_connection = True
            return
        self._respond(fault, text)

    def _respond(self, fault: str, text: str) -> None:
        if fault == "ok":
            content = self.server.standin.answer(text)
            self._json(200, _completion({"role": "assistant", "content": content}))
        elif fault == "empty":
            self._json(200, {**_completion(None), "choices": []})
        elif fault == "no_content":
            self._json(200, _completion({"role": "assistant"}))
        elif fault.isdigit():
            headers = {"Retry-After": "0"} if fault == "429" else {}
            message = f"stand-in fault {fault}"
            if fault == "401":  # as real APIs do: echo the rejected key, which clients must scrub
                message += f": incorrect API key provided: {self.headers.get('Authorization', '')[7:]}"
            self._json(int(fault), {"error": {"message": message, "type": "fault"}}, headers)
        elif fault == "nonjson":
            self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        elif fault == "truncated":
            body = json.dumps(_completion({"role": "assistant", "content": "Answer: A"})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self._reset()
        elif fault == "reset":
            self._reset()
        elif fault == "timeout":
            self.server.standin.hang()
            self._reset()

    def _kill(self) -> None:
        target = self.server.standin.plan.kill_pid_file
        if target is None:
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            os.kill(int(Path(target).read_text().strip()), signal.SIGKILL)

    def _reset(self) -> None:
        """Close with SO_LINGER 0: the client sees a connection reset, not a polite end."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _prompt_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")


def _parts(body: dict[str, Any]) -> tuple[dict[str, int], list[bytes]]:
    """How many parts of each type the last message carries, and the decoded ``input_audio`` data."""
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return {"text": 1}, []
    counts: dict[str, int] = {}
    audio = []
    for part in content:
        kind = str(part.get("type")) if isinstance(part, dict) else "?"
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "input_audio":
            audio.append(base64.b64decode(part["input_audio"]["data"], validate=True))
    return counts, audio


def _completion(message: dict[str, Any] | None) -> dict[str, Any]:
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "created": 0,
        "model": "standin",
        "choices": [choice],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _answer_line(text: str) -> str:
    return f"Answer: {answer_for(text)}"


class StandIn:
    """The stand-in, serving from a background thread of this process from construction on.

    ``answer(text)`` gives the reply to a request whose last message's text is ``text``;
    ``delay(text)``, when given, replaces the jittered latency for that request. ``hear(wav)``, when
    given, is what the stand-in makes of each ``input_audio`` part (its bytes): the text is added to the
    request's before ``answer`` sees it, so a test can tell a request whose audio arrived. All of them,
    and ``latency_s``, may be changed while it serves: tests reshape one server between runs.
    """

    def __init__(
        self,
        plan: FaultPlan | None = None,
        log_path: Path | None = None,
        *,
        latency_s: float = 0.0,
        jitter_s: float = 0.0,
        max_concurrency: int | None = None,
        answer: Callable[[str], str] | None = None,
        delay: Callable[[str], float] | None = None,
        hear: Callable[[bytes], str] | None = None,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self.plan = plan or FaultPlan()
        self.log_path = log_path
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.answer = answer or _answer_line
        self.delay = delay
        self.hear = hear
        self._slots = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.first_arrival: float | None = None
        """``time.monotonic()`` when the first request arrived and when the last one was answered:
        the window in which the server had work, i.e. a run without its process start-up."""
        self.last_answer: float | None = None
        self._dead = threading.Event()
        self._server = _Server(("127.0.0.1", port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, name="standin", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The OpenAI base URL (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    @property
    def dead(self) -> bool:
        return self._dead.is_set()

    def reset_counts(self) -> None:
        """Start counting afresh, so that one server can be measured over several runs."""
        with self._lock:
            self.requests = self.peak_in_flight = 0
            self._entries = []
            self.first_arrival = self.last_answer = None

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            if self.log_path is not None:
                with open(self.log_path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())  # the log must survive a SIGKILL of this process

    def think(self, text: str) -> bool:
        """Hold one request for its latency, in a slot when slots are limited; ``False`` when the
        server died meanwhile (its caller then drops the connection, as a killed process would)."""
        with self._lock:
            if self.first_arrival is None:
                self.first_arrival = time.monotonic()
            self.requests += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self._slots is not None:
                self._slots.acquire()
            try:
                return not self._dead.wait(self._latency(text))
            finally:
                if self._slots is not None:
                    self._slots.release()
        finally:
            with self._lock:
                self.in_flight -= 1
                self.last_answer = time.monotonic()

    def hang(self) -> None:
        """Say nothing for ``plan.hang_s``, but no longer than the server lives: closing must not wait."""
        self._dead.wait(self.plan.hang_s)

    def _latency(self, text: str) -> float:
        if self.delay is not None:
            return self.delay(text)
        with self._lock:
            jitter = self._rng.uniform(-self.jitter_s, self.jitter_s) if self.jitter_s else 0.0
        return max(0.0, self.latency_s + jitter)

    def close(self) -> None:
        """Drop requests in flight unanswered and refuse new connections, like a killed process."""
        with self._lock:
            if self._dead.is_set():
                return
            self._dead.set()
        self._server.shutdown()
        self._server.server_close()

    crash = close
    """What a test calls to kill a replica mid-run; the same as the end of a ``with`` block."""

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """The request log of a stand-in process (a missing file: no request arrived)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


@dataclass
class StandInProcess:
    """A stand-in running as its own process (so that it can be SIGKILLed); see :func:`spawn`."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def entries(self) -> list[dict[str, Any]]:
        return read_log(self.log_path)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


def spawn(workdir: Path, *args: str, name: str = "standin", timeout_s: float = 60.0) -> StandInProcess:
    """Start ``python -m vsync_models.standin ARGS`` logging to ``workdir/<name>.jsonl``; wait until it listens."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready, log = workdir / f"{name}.ready.json", workdir / f"{name}.jsonl"
    ready.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "vsync_models.standin", "--ready-file", str(ready), "--log", str(log), *args]
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while not ready.is_file():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the stand-in did not start: {' '.join(cmd)}")
        time.sleep(0.02)
    return StandInProcess(process, json.loads(ready.read_text(encoding="utf-8"))["url"], log)


def _rates(pairs: Iterable[str]) -> dict[str, float]:
    rates = {}
    for pair in pairs:
        fault, _, rate = pair.partition("=")
        rates[fault] = float(rate)
    return rates


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vsync_models.standin", description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--ready-file", type=Path, required=True, help="write {url, pid} JSON here once listening")
    p.add_argument("--log", type=Path, default=None, help="append one JSON line per request")
    p.add_argument("--script", default="", help="comma-separated faults for the first requests")
    p.add_argument("--rate", action="append", default=[], metavar="FAULT=P", help="e.g. 500=0.2 (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kill-after", type=int, default=None)
    p.add_argument("--kill-pid-file", type=Path, default=None)
    p.add_argument("--hang-s", type=float, default=30.0)
    p.add_argument("--latency", type=float, default=0.0, help="seconds per answer (mean)")
    p.add_argument("--jitter", type=float, default=0.0, help="uniform jitter, +- seconds")
    p.add_argument("--max-concurrency", type=int, default=None, help="requests answered at once")
    args = p.parse_args(argv)
    plan = FaultPlan(
        script=[f for f in args.script.split(",") if f],
        rates=_rates(args.rate),
        seed=args.seed,
        kill_after=args.kill_after,
        kill_pid_file=args.kill_pid_file,
        hang_s=args.hang_s,
    )
    server = StandIn(
        plan,
        args.log,
        latency_s=args.latency,
        jitter_s=args.jitter,
        max_concurrency=args.max_concurrency,
        seed=args.seed,
        port=args.port,
    )
    tmp = args.ready_file.with_name(args.ready_file.name + ".tmp")
    tmp.write_text(json.dumps({"url": server.url, "pid": os.getpid()}), encoding="utf-8")
    os.replace(tmp, args.ready_file)
    with contextlib.suppress(KeyboardInterrupt):
        server._thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
