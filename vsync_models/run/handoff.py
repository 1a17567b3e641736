"""Requests in flight that another process will want: it waits for the answer instead of asking
the model a second time.

:class:`Claims` (any two processes sharing a response cache: two runs, two xdist workers, two
identical items): whoever is about to ask for a cache key claims it with a marker; another process
that needs the same key while the marker is there waits, then finds the answer in the cache. A
failed request is not cached, so the waiter then asks itself. A marker whose process is gone (a
killed run), or older than :data:`WAIT_LIMIT_S`, is stale and removed by whoever finds it.

:class:`Handoff` (between the xdist workers of one run): requests one process gave away while they
were in flight: the process that took the item over waits for the answer.

With pipelining, an xdist worker sends requests for the items queued to it long before it runs
them. Work stealing can then move a queued item to an idle worker while its request is already on
the wire. The worker that loses the item lets the request finish (it cannot be pulled back; the
answer lands in the response cache) and leaves a *marker* file for it; the worker that takes the
item over waits while the marker is there, then finds the answer in the cache. A request that
fails is not cached, so the new owner then asks itself, as any retry would.

Robustness: the marker names the process that holds the request; a marker whose process is gone
(killed worker) is removed by the waiter. A worker whose session ends normally first lets the
requests it gave away finish (a worker often runs dry while the items stolen from it are still
answered); after ``-x`` or Ctrl-C it abandons them and removes their markers at once, and their new
owners ask again. A marker is created
only for a request running at the moment of the steal; a job that had not started yet is refused
instead (:meth:`Handoff.start` returns ``False``), so the new owner is the only one to ask.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock

from vsync_models.report.results import write_json_atomic

__all__ = ["Claims", "Handoff"]

POLL_S = 0.02
"""How often a waiting worker looks again: small against any model's latency."""

WAIT_LIMIT_S = 900.0
"""After this long the new owner asks the model itself (a live holder whose request never ends)."""


class Handoff:
    """This process's side of the in-flight hand-over, for one run (``run_id``) in one cache."""

    def __init__(
        self,
        directory: Path,
        run_id: str,
        pid: int | None = None,
        alive: Callable[[int], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.directory = Path(directory)
        self.run_id = run_id
        self.pid = os.getpid() if pid is None else pid
        self._alive = alive or _pid_alive
        self._sleep = sleep
        self._lock = threading.Condition()
        self._running: set[str] = set()
        self._marked: set[str] = set()
        """Given away while running here: their markers exist until the job ends."""
        self._refused: set[str] = set()
        """Given away before their job started: the job must not start here."""
        self.waited = 0
        """Items whose request another process held when this one was about to ask."""

    def marker(self, key: str) -> Path:
        digest = hashlib.sha256(f"{self.run_id}\0{key}".encode()).hexdigest()[:32]
        return self.directory / f"{digest}.json"

    # -- the process that loses items -----------------------------------------------------------

    def start(self, key: str) -> bool:
        """A job for ``key`` is about to ask the model here; ``False``: it was given away, skip it."""
        with self._lock:
            if key in self._refused:
                self._refused.discard(key)
                return False
            self._running.add(key)
            return True

    def finish(self, key: str) -> None:
        """The job for ``key`` ended (its answer, if any, is in the cache): release its marker."""
        with self._lock:
            self._running.discard(key)
            if key in self._marked:
                self._marked.discard(key)
                self.marker(key).unlink(missing_ok=True)
                self._lock.notify_all()

    def give_away(self, keys: Iterable[str]) -> list[str]:
        """These items now belong to another process: mark the running ones, refuse the rest.

        Returns the keys whose request is in flight here (the ones the new owner will wait for).
        """
        marked = []
        with self._lock:
            for key in keys:
                if key in self._running:
                    write_json_atomic(self.marker(key), {"pid": self.pid, "key": key}, indent=0)
                    self._marked.add(key)
                    marked.append(key)
                else:
                    self._refused.add(key)
        return marked

    def reclaim(self, keys: Iterable[str]) -> None:
        """These items are this process's again (planned from its own queue): nothing to refuse."""
        if self._refused:
            with self._lock:
                self._refused.difference_update(keys)

    def close(self, wait_s: float = 0.0) -> None:
        """End of this process's session: wait up to ``wait_s`` for the requests other processes wait
        for (they are on the wire already), then abandon the rest and their markers."""
        with self._lock:
            self._lock.wait_for(lambda: not self._marked, timeout=wait_s)
            for key in self._marked:
                self.marker(key).unlink(missing_ok=True)
            self._marked.clear()

    # -- the process that takes items over ------------------------------------------------------

    def wait(self, key: str, timeout_s: float = WAIT_LIMIT_S) -> bool:
        """Wait while another live process holds the request for ``key``; ``True`` if one did."""
        path = self.marker(key)
        deadline = time.monotonic() + timeout_s
        waited = False
        while True:
            try:
                holder = _read_pid(path)
            except FileNotFoundError:
                break
            # this process's own marker (an item stolen back while its first request still runs)
            # goes when that request ends, like any other live holder's
            if holder is None or (holder != self.pid and not self._alive(holder)):
                path.unlink(missing_ok=True)  # unreadable, or its worker died: nobody will answer
                break
            if time.monotonic() >= deadline:
                break
            waited = True
            self._sleep(POLL_S)
        if waited:
            with self._lock:
                self.waited += 1
        return waited


class Claims:
    """In-flight markers for cache keys, shared by every process that uses one response cache."""

    def __init__(
        self,
        directory: Path,
        pid: int | None = None,
        alive: Callable[[int], bool] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        wait_limit_s: float = WAIT_LIMIT_S,
    ) -> None:
        self.directory = Path(directory)
        self.pid = os.getpid() if pid is None else pid
        self.host = socket.gethostname()
        self._alive = alive or _pid_alive
        self._sleep = sleep
        self._clock = clock
        self.wait_limit_s = wait_limit_s
        self.waited = 0
        """Requests this process did not send because another one was asking already."""
        self._lock = threading.Lock()

    def marker(self, key: str) -> Path:
        return self.directory / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json"

    def claim(self, key: str) -> bool:
        """Mark ``key`` as asked for by this process; ``False`` if another live claim holds it.

        A marker that cannot be written (a read-only cache) claims nothing and stops nothing: ``True``.
        """
        path = self.marker(key)
        tmp = path.with_name(f"{path.stem}.{self.pid}.{threading.get_ident()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            body = {"pid": self.pid, "host": self.host, "at": self._clock()}
            tmp.write_text(json.dumps(body), encoding="utf-8")
            try:
                os.link(tmp, path)  # atomic, and refuses an existing marker: exactly one claimant
            except FileExistsError:
                if not self._remove_if_stale(path):
                    return False
                return self.claim(key)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError:
            return True
        return True

    def release(self, key: str) -> None:
        """The request for ``key`` ended (its answer, if any, is in the cache)."""
        with contextlib.suppress(OSError):
            self.marker(key).unlink(missing_ok=True)

    def wait(self, key: str) -> bool:
        """Wait while a live claim on ``key`` lasts; ``False`` if it outlasted the wait limit."""
        path = self.marker(key)
        with self._lock:
            self.waited += 1
        while path.exists():
            if self._remove_if_stale(path):
                break
            self._sleep(POLL_S)
        return not path.exists()

    def _remove_if_stale(self, path: Path) -> bool:
        """Remove the marker at ``path`` if it is stale, judged again under a lock: two processes that
        both found it stale must not let the second remove the fresh claim the first made since."""
        if not self._stale(path):
            return False
        with FileLock(f"{path}.lock"):
            if not self._stale(path):
                return False
            path.unlink(missing_ok=True)
        return True

    def _stale(self, path: Path) -> bool:
        """A claim nobody will answer: its process died, it is unreadable, or it is too old."""
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            pid, host, at = int(body["pid"]), str(body["host"]), float(body["at"])
        except FileNotFoundError:
            return False
        except (OSError, KeyError, TypeError, ValueError):
            return True
        if self._clock() - at > self.wait_limit_s:
            return True
        return host == self.host and pid != self.pid and not self._alive(pid)


def _read_pid(path: Path) -> int | None:
    """The holder's pid (markers are renamed into place whole, so a half-written one is never seen)."""
    try:
        pid = json.loads(path.read_text(encoding="utf-8"))["pid"]
    except (KeyError, TypeError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
