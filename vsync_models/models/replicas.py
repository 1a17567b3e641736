"""One model served by several replicas: requests go to the least busy healthy one.

``models.<name>.server_url`` may be a list (one vLLM or ``vsync_models.serve`` process per GPU
group or per node); the registry then builds one adapter per URL and wraps them in a
:class:`ReplicaSet`, which is itself a :class:`~vsync_models.models.base.Model`:

* each request goes to the healthy replica with the fewest requests in flight (ties: the one
  used least recently), so a slow replica gets less work;
* when a replica cannot be reached (:class:`~vsync_models.errors.ModelUnavailable`), its health
  is probed; a replica that fails the probe is taken out and the request is retried on another,
  so an item in flight on a dying replica is not lost. A replica taken out is probed again after
  ``recheck_s`` and comes back when healthy;
* the answer names the replica (``ModelOutput.replica``, the record's ``replica``);
* the fingerprint (part of every cache key) is the first replica's without its URL: all replicas
  serve the same model, so it must not matter which one answered.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx2

from vsync_models.errors import ConfigError, ModelUnavailable
from vsync_models.models.base import Model, ModelOutput, close_model
from vsync_models.models.common import TRANSPORT_ERRORS
from vsync_models.types import Request

__all__ = ["ReplicaSet", "probe_reachable"]

_URL_KEYS = ("base_url", "server_url", "root_url")


def probe_reachable(url: str, timeout_s: float = 2.0, client: httpx2.Client | None = None) -> bool:
    """Health check: ``GET /health`` at the server's root answers with anything below 500.

    OpenAI-style endpoints may lack ``/health``; a 404 still proves the process is alive, which is
    what deciding "take it out" needs. Probes run in request threads, hence a ``client`` built
    beforehand (an ``httpx2.Client`` reads the environment when it is built, never per request).
    """
    root = url.rstrip("/")
    root = root[: -len("/v1")] if root.endswith("/v1") else root
    try:
        if client is not None:
            return client.get(f"{root}/health", timeout=timeout_s).status_code < 500
        with httpx2.Client() as own:
            return own.get(f"{root}/health", timeout=timeout_s).status_code < 500
    except TRANSPORT_ERRORS:
        return False


class ReplicaSet:
    """See the module docstring; ``replicas`` are adapters of one model at different URLs."""

    def __init__(
        self,
        replicas: Sequence[Model],
        urls: Sequence[str],
        probe: Callable[[str], bool] | None = None,
        recheck_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not replicas or len(replicas) != len(urls):
            raise ConfigError("a replica set needs one URL per replica and at least one replica")
        self.replicas = list(replicas)
        self.urls = list(urls)
        self.name = self.replicas[0].name
        # built in the main thread; probes run in request threads (see probe_reachable)
        self._probe_client = None if probe else httpx2.Client()
        self._probe = probe or functools.partial(probe_reachable, client=self._probe_client)
        self._recheck_s = recheck_s
        self._clock = clock
        self._lock = threading.Lock()
        self._in_flight = [0] * len(self.replicas)
        self._last_used = [0] * len(self.replicas)
        self._down_since: list[float | None] = [None] * len(self.replicas)
        self._turn = 0
        self.answered = [0] * len(self.replicas)
        """Requests each replica answered (for reports and tests)."""

    def __repr__(self) -> str:
        return f"ReplicaSet({self.name!r}, {self.urls!r})"

    def __getattr__(self, attr: str) -> Any:  # launch, model_name...: what the replicas share
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.replicas[0], attr)

    @property
    def healthy(self) -> list[str]:
        with self._lock:
            return [u for u, down in zip(self.urls, self._down_since, strict=True) if down is None]

    def fingerprint(self) -> dict[str, Any]:
        return {k: v for k, v in self.replicas[0].fingerprint().items() if k not in _URL_KEYS}

    def close(self) -> None:
        """Every replica's connections, not only the first's (which ``__getattr__`` would reach)."""
        for replica in self.replicas:
            close_model(replica)
        if self._probe_client is not None:
            self._probe_client.close()

    def check(self) -> None:
        """Fail only when no replica is usable; unusable ones are taken out (and named in the error)."""
        errors = []
        for i, replica in enumerate(self.replicas):
            try:
                replica.check()
            except ConfigError as exc:
                errors.append(str(exc))
                self._take_out(i)
        if len(errors) == len(self.replicas):
            raise ConfigError(f"model {self.name!r}: no replica is usable: " + "; ".join(errors))

    def generate(self, request: Request) -> ModelOutput:
        tried: set[int] = set()
        last: ModelUnavailable | None = None
        while (i := self._pick(tried)) is not None:
            tried.add(i)
            try:
                out = self.replicas[i].generate(request)
            except ModelUnavailable as exc:
                last = exc
                if self._probe(self.urls[i]):
                    raise  # the replica is alive: this request's own trouble, not a dead server
                self._take_out(i)
                continue
            finally:
                with self._lock:
                    self._in_flight[i] -= 1
            with self._lock:
                self.answered[i] += 1
            return ModelOutput(text=out.text, usage=out.usage, replica=self.urls[i])
        raise ModelUnavailable(
            f"model {self.name!r}: no healthy replica left of {len(self.urls)} ({', '.join(self.urls)})"
            + (f"; last error: {last}" if last else "")
        )

    def _pick(self, tried: set[int]) -> int | None:
        self._readmit(tried)
        with self._lock:
            candidates = [i for i, down in enumerate(self._down_since) if down is None and i not in tried]
            if not candidates:
                return None
            best = min(candidates, key=lambda i: (self._in_flight[i], self._last_used[i]))
            self._in_flight[best] += 1
            self._turn += 1
            self._last_used[best] = self._turn
            return best

    def _take_out(self, i: int) -> None:
        with self._lock:
            if self._down_since[i] is None:
                self._down_since[i] = self._clock()

    def _readmit(self, tried: set[int]) -> None:
        now = self._clock()
        with self._lock:
            due = [
                i
                for i, down in enumerate(self._down_since)
                if down is not None and now - down >= self._recheck_s and i not in tried
            ]
            for i in due:  # one prober at a time per replica
                self._down_since[i] = now
        for i in due:
            if self._probe(self.urls[i]):
                with self._lock:
                    self._down_since[i] = None
