"""The HTTP client every adapter sends through: bounded in time, in bytes and in where it goes.

``httpx2``'s timeouts bound each *gap* between reads: a server that sends its answer one byte per
second never trips them, and the item never ends. :class:`BoundedClient` adds, for every request:

* a **deadline** for the whole exchange (connect, send, the headers and the whole body): the
  request's own timeout (``timeout_s``) read as one budget, not per read. Every socket operation
  waits at most for what is left of it, so the exchange ends when the deadline passes however
  the server drips; it ends as ``httpx2.ReadTimeout`` (or ``ConnectTimeout``/``WriteTimeout``),
  which the adapters already map to a ``timeout`` error;
* a **size limit** on the answer, counted while it is read (``runtime.max_response_mb``): the body
  stops at the first chunk over the limit, with :class:`ResponseTooLarge`; a ``Content-Length``
  over the limit stops it before a byte of the body is read;
* **no redirect to another origin**: a redirect whose target has another scheme, host or port is
  refused with :class:`CrossOriginRedirect` (naming both), whether or not the caller follows
  redirects; the answer of an endpoint we were not pointed at is never scored.

The deadline lives in the network layer: ``httpcore2`` hands every read, write and connect the
timeout of its phase, and :class:`_DeadlineBackend` shortens it to what is left of the request's
deadline, which the transport keeps per thread while the request (or its body) is being read. A
sync client does all of a request's I/O in the calling thread, so a thread-local is exact.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpcore2
import httpx2

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "BoundedClient",
    "BoundedTransport",
    "CrossOriginRedirect",
    "ResponseTooLarge",
]

DEFAULT_MAX_RESPONSE_BYTES = 1 << 20
"""1 MiB: a letter, a time or a thinking model's few thousand tokens are far below it."""

_local = threading.local()


class ResponseTooLarge(Exception):
    """An answer body over the limit; raised while reading, before the rest arrives."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__(
            f"the answer from {url} is larger than the response limit of {_size(limit)} "
            "(runtime.max_response_mb); stopped reading it"
        )
        self.url = url
        self.limit = limit


class CrossOriginRedirect(Exception):
    """A redirect to another origin (scheme, host, port): refused, never followed."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(
            f"{source} redirected to another origin, {target}; redirects are followed only within one origin"
        )
        self.source = source
        self.target = target


def _size(n: int) -> str:
    return f"{n / 2**20:g} MB" if n >= 2**20 else f"{n} bytes"


def _origin(url: httpx2.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"


@contextlib.contextmanager
def _deadline(at: float | None) -> Iterator[None]:
    previous = getattr(_local, "at", None)
    _local.at = at
    try:
        yield
    finally:
        _local.at = previous


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shortened to what is left of this thread's deadline; ``expired`` once it is past."""
    at = getattr(_local, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> Any:
        inner = self._inner.start_tls(ssl_context, server_hostname, _left(timeout, httpcore2.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore2.NetworkBackend):
    def __init__(self, inner: httpcore2.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore2.NetworkStream:
        timeout = _left(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore2.NetworkStream:
        timeout = _left(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _BoundedBody(httpx2.SyncByteStream):
    """The body of one answer, read under its request's deadline and counted against the limit."""

    def __init__(self, inner: httpx2.SyncByteStream, at: float | None, limit: int | None, url: str) -> None:
        self._inner = inner
        self._at = at
        self._limit = limit
        self._url = url

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._inner)
        total = 0
        while True:
            with _deadline(self._at):
                chunk = next(chunks, None)
            if chunk is None:
                return
            total += len(chunk)
            if self._limit is not None and total > self._limit:
                raise ResponseTooLarge(self._url, self._limit)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class BoundedTransport(httpx2.BaseTransport):
    """Wraps another transport with the deadline, the size limit and the origin check."""

    def __init__(self, inner: httpx2.BaseTransport, max_response_bytes: int | None) -> None:
        self._inner = inner
        self.max_response_bytes = max_response_bytes
        pool = getattr(inner, "_pool", None)
        if isinstance(inner, httpx2.HTTPTransport):
            backend = getattr(pool, "_network_backend", None)
            if backend is None:  # pragma: no cover - guards against a change inside httpx2
                raise RuntimeError("httpx2.HTTPTransport has no connection pool backend to bound")
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        at = _deadline_of(request)
        with _deadline(at):
            response = self._inner.handle_request(request)
        url = str(request.url.copy_with(query=None))
        location = response.headers.get("Location")
        if response.is_redirect and location:
            target = request.url.join(location)
            if _origin(target) != _origin(request.url):
                response.close()
                raise CrossOriginRedirect(url, str(target.copy_with(query=None)))
        limit = self.max_response_bytes
        declared = response.headers.get("Content-Length", "")
        if limit is not None and declared.isdigit() and int(declared) > limit:
            response.close()
            raise ResponseTooLarge(url, limit)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        response.stream = _BoundedBody(response.stream, at, limit, url)
        return response

    def close(self) -> None:
        self._inner.close()


def _deadline_of(request: httpx2.Request) -> float | None:
    """The request's timeout read as one budget for the whole exchange (its longest phase timeout)."""
    timeouts = request.extensions.get("timeout") or {}
    values = [v for v in timeouts.values() if isinstance(v, (int, float))]
    return time.monotonic() + max(values) if values else None


class BoundedClient(httpx2.Client):
    """An ``httpx2.Client`` whose every transport (proxies from the environment too) is bounded."""

    def __init__(self, *, max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES, **kwargs: Any) -> None:
        self.max_response_bytes = max_response_bytes
        super().__init__(**kwargs)

    def _init_transport(self, *args: Any, **kwargs: Any) -> httpx2.BaseTransport:
        return BoundedTransport(super()._init_transport(*args, **kwargs), self.max_response_bytes)

    def _init_proxy_transport(self, *args: Any, **kwargs: Any) -> httpx2.BaseTransport:
        return BoundedTransport(super()._init_proxy_transport(*args, **kwargs), self.max_response_bytes)
