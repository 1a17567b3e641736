"""Start, health-check and stop a ``python -m vsync_models.serve`` process.

What a session fixture needs to own a model server for one test run::

    server = start_server("qwen2_5_omni", "/models/Qwen2.5-Omni-7B", log_path=Path("reports/server.log"))
    try:
        ...  # server.base_url is the OpenAI base URL (http://127.0.0.1:PORT/v1)
    finally:
        stop_server(server)

``start_server`` takes the requested port if it is free and otherwise lets the server pick one
(``--port 0``); either way the server itself reports the address it bound through a ready file,
so there is no race between choosing a port and binding it. It waits until ``/health`` answers,
and if the process exits or the timeout passes it stops the process and raises
:class:`ServerStartError` with the tail of the server's log. The server runs in its own process
group, so :func:`stop_server` (SIGTERM, then SIGKILL after a grace period) also ends anything it
started. :func:`probe_health` checks an already-running server (``server_url`` in the config).

:func:`launch` and :func:`wait_until_ready` are the engine-neutral part, shared with ``vllm serve``
(:mod:`vsync_models.serve.vllm_engine`): a large checkpoint can take many minutes to load, so the
wait reports progress (elapsed time and the last log line) through a callback while it lasts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from vsync_models.errors import ConfigError
from vsync_models.models.common import TRANSPORT_ERRORS

__all__ = [
    "DEFAULT_STARTUP_TIMEOUT_S",
    "ServerProcess",
    "ServerStartError",
    "launch",
    "log_tail",
    "port_is_free",
    "probe_health",
    "serve_command",
    "start_server",
    "stop_server",
    "wait_until_ready",
]

DEFAULT_STARTUP_TIMEOUT_S = 1800.0
"""Loading a 30B checkpoint from a cold disk takes minutes (vLLM start-ups over 8 minutes are
reported on H200s); a tiny one takes seconds. ``models.<name>.startup_timeout`` overrides it."""

PROGRESS_EVERY_S = 30.0
"""How often a long start-up says that it is still waiting."""

_POLL_S = 0.2

Progress = Callable[[str], None]
"""Receives one human-readable line while a server is starting."""


class ServerStartError(ConfigError):
    """The model server did not come up; the message ends with the tail of its log."""


@dataclass
class ServerProcess:
    """A server this process started."""

    url: str
    """``http://host:port`` (no trailing slash)."""
    process: subprocess.Popen[bytes]
    log_path: Path
    command: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL clients use."""
        return f"{self.url}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid


def serve_command(
    backend: str,
    model_path: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    ready_file: Path | None = None,
    extra_args: Sequence[str] = (),
    python: str | None = None,
) -> list[str]:
    """The command line that starts a server (also what error messages tell users to run)."""
    cmd = [python or sys.executable, "-m", "vsync_models.serve", "--backend", backend]
    cmd += ["--model-path", str(model_path), "--host", host, "--port", str(port)]
    if ready_file is not None:
        cmd += ["--ready-file", str(ready_file)]
    return cmd + list(extra_args)


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def probe_health(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    """``/health`` of the server at ``url`` (with or without ``/v1``), or ``None`` if it does not answer OK."""
    root = url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    try:
        response = httpx2.get(f"{root}/health", timeout=timeout_s)
        if response.status_code != 200:
            return None
        body = response.json()
    except (*TRANSPORT_ERRORS, ValueError):
        return None
    return body if isinstance(body, dict) else None


def log_tail(path: Path, lines: int = 40, max_chars: int = 6000) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = "\n".join(text.rstrip().splitlines()[-lines:])
    return tail[-max_chars:] or "(empty log)"


def start_server(
    backend: str,
    model_path: str | os.PathLike[str],
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    python: str | None = None,
    progress: Progress | None = None,
) -> ServerProcess:
    """Start a server and wait until it is healthy; raise :class:`ServerStartError` if it is not.

    ``port=None`` (or a port that is taken) lets the server pick a free one. ``env`` replaces the
    child's environment (pass ``{**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}`` to pin GPUs).
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ready_file = log_path.with_name(f".{log_path.name}.{os.getpid()}.{time.monotonic_ns()}.ready")
    ready_file.unlink(missing_ok=True)
    chosen = port if port is not None and port_is_free(host, port) else 0
    cmd = serve_command(
        backend,
        model_path,
        host=host,
        port=chosen,
        ready_file=ready_file,
        extra_args=extra_args,
        python=python,
    )

    def reported_url() -> str | None:
        with contextlib.suppress(ValueError, OSError, KeyError, TypeError):
            return str(json.loads(ready_file.read_text(encoding="utf-8"))["url"])
        return None

    try:
        return launch(
            cmd,
            log_path=log_path,
            env=env,
            find_url=reported_url,
            is_ready=lambda url: probe_health(url) is not None,
            startup_timeout_s=startup_timeout_s,
            progress=progress,
        )
    finally:
        ready_file.unlink(missing_ok=True)


def launch(
    cmd: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None,
    find_url: Callable[[], str | None],
    is_ready: Callable[[str], bool],
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    progress: Progress | None = None,
) -> ServerProcess:
    """Run ``cmd`` in its own process group, logging to ``log_path``, and wait until it serves.

    ``find_url`` says where the server listens (``None`` while it does not know yet), ``is_ready``
    whether it answers there. On any failure the process is stopped and :class:`ServerStartError`
    carries the tail of its log.
    """
    cmd = [str(c) for c in cmd]
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except OSError as exc:  # e.g. the executable is not installed
            raise ServerStartError(f"cannot run {cmd[0]!r}: {exc.strerror or exc}") from None
    server = ServerProcess(url="", process=process, log_path=log_path, command=cmd)
    try:
        server.url = wait_until_ready(
            process,
            log_path,
            startup_timeout_s,
            find_url=find_url,
            is_ready=is_ready,
            progress=progress,
        )
    except BaseException:
        stop_server(server)
        raise
    return server


def wait_until_ready(
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout_s: float,
    *,
    find_url: Callable[[], str | None],
    is_ready: Callable[[str], bool],
    progress: Progress | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll until the server answers; its URL. Every ``progress_every_s`` ``progress`` hears how
    long the wait has lasted and the server's last log line, so a slow load is visibly alive."""
    start = clock()
    next_report = start + progress_every_s
    url: str | None = None
    while (now := clock()) - start < timeout_s:
        code = process.poll()
        if code is not None:
            raise ServerStartError(
                f"the model server exited with status {code} before it was ready; "
                f"log {log_path}, last lines:\n{log_tail(log_path)}"
            )
        if url is None:
            url = find_url()
        if url is not None and is_ready(url):
            return url
        if progress is not None and now >= next_report:
            progress(
                f"still waiting for the model server: {now - start:.0f}s of {timeout_s:g}s; "
                f"log {log_path}: {log_tail(log_path, lines=1, max_chars=200)}"
            )
            next_report = now + progress_every_s
        sleep(_POLL_S)
    raise ServerStartError(
        f"the model server did not become ready within {timeout_s:g}s "
        f"(models.<name>.startup_timeout raises the limit); log {log_path}, last lines:\n{log_tail(log_path)}"
    )


def stop_server(server: ServerProcess, grace_s: float = 15.0) -> int | None:
    """Stop the server's process group: SIGTERM, then SIGKILL after ``grace_s``. Returns the exit status."""
    process = server.process
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=grace_s)
    return process.returncode


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(process.pid, sig)  # start_new_session=True: the group id is the server's pid
    except ProcessLookupError:
        pass
    except PermissionError:  # pragma: no cover - a group we cannot signal: fall back to the process
        process.send_signal(sig)
