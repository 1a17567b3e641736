"""The response cache: every answered request is stored the moment it arrives.

SQLite in WAL mode, one connection per process, one transaction per answer:
pytest-xdist workers write concurrently, and a worker (or the whole run) killed
mid-way loses nothing that was already answered. Only successful responses are
stored, so a rerun asks again exactly for the items that are missing or errored.

A cache that cannot be written (a full disk, no permission, a locked or broken database) never
costs an answer: the first failed write makes it read-only for the rest of the process
(:attr:`ResponseCache.read_only` says why, :meth:`ResponseCache.newly_read_only` once), the answer
goes on to the item's record and the results as if it had been stored, and later answers are not
offered to it again. A cache that cannot be read is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from vsync_models.types import Request, Response

__all__ = ["CACHE_SCHEMA_VERSION", "CacheReadOnlyWarning", "CacheUsage", "ResponseCache", "cache_key"]

CACHE_SCHEMA_VERSION = 1

_STORE_ERRORS = (sqlite3.Error, OSError)
"""What SQLite and the file system raise for a full disk, a missing permission, a locked file."""


class CacheReadOnlyWarning(UserWarning):
    """The response cache could not be written; the run goes on without storing answers."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key         TEXT PRIMARY KEY,
    model       TEXT NOT NULL,
    item_id     TEXT NOT NULL,
    level       INTEGER NOT NULL,
    modality    TEXT NOT NULL,
    text        TEXT NOT NULL,
    latency_s   REAL NOT NULL,
    usage       TEXT,
    created_at  REAL NOT NULL
)
"""


def cache_key(model_name: str, fingerprint: dict[str, Any], request: Request, media_hash: str) -> str:
    """Everything that can change the answer, hashed: model + its config + prompt + media + modality + level."""
    payload = {
        "v": CACHE_SCHEMA_VERSION,
        "model": model_name,
        "fingerprint": fingerprint,
        "level": request.level,
        "modality": request.modality.value,
        "prompt": request.prompt,
        "question": request.question,
        "options": list(request.options),
        "media_sha256": media_hash,
    }
    repeat = getattr(request, "repeat", 0)
    if repeat:  # repeat 0 keeps the key of a plain run, so its answers are reused
        payload["repeat"] = repeat
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheUsage:
    """What the cache holds for one model."""

    model: str
    answers: int
    bytes: int
    """Stored response text, token usage and key, in bytes (the file's own overhead aside)."""
    oldest: float
    newest: float
    """Times the answers were stored (seconds since the epoch)."""


class ResponseCache:
    """A process- and thread-safe key → response store. Opening is lazy and per process (fork-safe).

    Pipelined runs store answers from several threads; they share the process's one connection
    under a lock (SQLite statements here are short; the lock is never held across a model call).
    """

    def __init__(self, path: Path, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None
        self._lock = threading.RLock()
        self.read_only: str | None = None
        """Why answers are no longer stored (the first failed write); ``None`` while they are."""
        self._told = False

    def newly_read_only(self) -> str | None:
        """The one-line notice that the cache went read-only, the first time it is asked; else ``None``."""
        with self._lock:
            if self.read_only is None or self._told:
                return None
            self._told = True
        return (
            f"the response cache {self.path} cannot be written ({self.read_only}); it is read-only "
            "for the rest of this run: answers still reach the results and records, but a rerun "
            "will ask for them again"
        )

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
        # Switching a new file to WAL does not wait on SQLite's busy handler: two xdist workers
        # opening a fresh cache at once would get "database is locked". One at a time, then.
        with FileLock(f"{self.path}.lock", timeout=self._timeout_s):
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(_SCHEMA)
        # NORMAL is durable against a killed process in WAL mode (only a power cut can lose the tail).
        conn.execute("PRAGMA synchronous = NORMAL")
        self._conn, self._pid = conn, os.getpid()
        return conn

    def get(self, key: str) -> Response | None:
        """The stored answer for ``key``; ``None`` when there is none or the cache cannot be read."""
        try:
            with self._lock:
                row = (
                    self._connect()
                    .execute("SELECT text, latency_s, usage FROM responses WHERE key = ?", (key,))
                    .fetchone()
                )
        except _STORE_ERRORS as exc:
            self._failed(exc)
            return None
        if row is None:
            return None
        text, latency, usage = row
        return Response(text=text, latency_s=latency, usage=json.loads(usage) if usage else None, cached=True)

    def put(self, key: str, request: Request, model_name: str, response: Response) -> bool:
        """Store a successful response in its own transaction; errored responses are never stored.

        ``False`` when it was not stored because the cache is (or just became) read-only; the
        answer itself is the caller's and stays valid.
        """
        if response.error is not None:
            raise ValueError("errored responses are not cached")
        with self._lock:
            if self.read_only is not None:
                return False
            try:
                self._put(key, request, model_name, response)
            except _STORE_ERRORS as exc:
                self._failed(exc)
                return False
        return True

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            if self.read_only is None:
                self.read_only = f"{type(exc).__name__}: {exc}"

    def _put(self, key: str, request: Request, model_name: str, response: Response) -> None:
        self._connect().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                model_name,
                request.item_id,
                request.level,
                request.modality.value,
                response.text,
                response.latency_s,
                json.dumps(response.usage) if response.usage else None,
                time.time(),
            ),
        )

    def usage(self) -> list[CacheUsage]:
        """Per model: how many answers, how many bytes, stored when (by model name)."""
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT model, COUNT(*), SUM(LENGTH(CAST(text AS BLOB)) + LENGTH(key)"
                    " + COALESCE(LENGTH(usage), 0)), MIN(created_at), MAX(created_at)"
                    " FROM responses GROUP BY model ORDER BY model"
                )
                .fetchall()
            )
        return [CacheUsage(m, n, int(b or 0), lo, hi) for m, n, b, lo, hi in rows]

    def clear(self, model: str | None = None, older_than: float | None = None) -> int:
        """Delete the answers of ``model`` (every model when ``None``) stored before the time
        ``older_than`` (seconds since the epoch; any time when ``None``); the number deleted."""
        where, params = [], []
        if model is not None:
            where.append("model = ?")
            params.append(model)
        if older_than is not None:
            where.append("created_at < ?")
            params.append(older_than)
        sql = "DELETE FROM responses" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            conn = self._connect()
            deleted = conn.execute(sql, params).rowcount
            if deleted:
                conn.execute("VACUUM")
        return int(deleted)

    def __len__(self) -> int:
        with self._lock:
            return self._connect().execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
