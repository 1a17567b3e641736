"""Every error the library raises on purpose, so callers can catch broadly or narrowly.

    VsyncError
    ├── ConfigError            bad config file, unknown model name, missing API key
    ├── DatasetError           every problem found in a dataset, reported together
    ├── OutputError            a results or records file could not be written (disk full, permission)
    ├── MediaError             a clip that cannot be read, hashed or prepared
    │   └── ModalityViolation  a model asked for a stream its modality forbids
    └── ModelError             infrastructure trouble while asking a model (never a wrong answer)
        ├── ModelUnavailable   could not connect / server gone / timed out
        │   └── ServerGone     the server stopped answering for good: no request is worth sending
        └── ModelRequestError  the model endpoint answered with an error

Errors are translated at the boundary where they enter (HTTP client, JSON parser,
PyAV), so nothing above that boundary needs to know about vendor exception types.
Each one carries a ``kind`` (one of :data:`ERROR_KINDS`: why it failed, for the report's
"errors by kind") and ``retries`` (how many times the call was retried before giving up).
"""

from __future__ import annotations

__all__ = [
    "ERROR_KINDS",
    "ConfigError",
    "DatasetError",
    "MediaError",
    "ModalityViolation",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "OutputError",
    "VsyncError",
]


ERROR_KINDS = {
    "rate_limited": "HTTP 429: the endpoint asked us to slow down",
    "server_error": "HTTP 5xx (and 408/409): the endpoint failed",
    "connection": "connection refused or reset, the server went away",
    "timeout": "no complete answer within timeout_s (connect, send and the whole answer)",
    "too_large": "an answer larger than runtime.max_response_mb; not read further, not retried",
    "redirect": "a redirect to another origin; refused, not followed",
    "malformed": "a body that is not the JSON the protocol promises (truncated, HTML, garbage)",
    "empty": "a well-formed answer without text (no choices, no content)",
    "auth": "HTTP 401/403: the key is missing, wrong or not allowed",
    "bad_request": "HTTP 400 and other 4xx: the request itself is wrong; retrying cannot help",
    "media": "the clip cannot be read or prepared (corrupt, empty, missing stream, too large)",
    "unavailable": "the model could not be reached (other reasons)",
    "request": "the endpoint answered with an error (other reasons)",
}
"""Why an item could not be answered; the report counts errors by these kinds."""


class VsyncError(Exception):
    """Base of every error V-SYNC raises deliberately."""

    kind = "error"

    def __init__(self, *args: object, kind: str | None = None, retries: int = 0) -> None:
        super().__init__(*args)
        if kind is not None:
            self.kind = kind
        self.retries = retries


class ConfigError(VsyncError):
    """The run cannot start: configuration, model name or credentials are wrong."""


class DatasetError(VsyncError):
    """A dataset failed validation; ``problems`` lists every problem found, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"dataset has {n} problem{'s' if n != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class OutputError(VsyncError):
    """A results or records file could not be written; ``path`` is the file, ``reason`` the system's
    words (``"No space left on device"``). Whatever stood at ``path`` before is left whole."""

    def __init__(self, path: object, exc: OSError) -> None:
        self.path = path
        self.reason = exc.strerror or str(exc)
        super().__init__(f"could not write {path}: {self.reason}")


class MediaError(VsyncError):
    """A clip could not be read, hashed or prepared for a request."""

    kind = "media"


class ModalityViolation(MediaError):
    """Something asked for a stream (audio, frames) that the request's modality withholds."""


class ModelError(VsyncError):
    """Infrastructure trouble while asking a model; scored as an error, never as a wrong answer."""


class ModelUnavailable(ModelError):
    """The model could not be reached (connection refused, DNS, timeout, server died)."""

    kind = "unavailable"


class ServerGone(ModelUnavailable):
    """The model server is gone (connection refused and its health check failed too).

    Raised once for the request that found out, and at once, without any request, for every
    later one: the run stops instead of collecting one identical error per remaining item.
    """


class ModelRequestError(ModelError):
    """The model endpoint answered, but with an error (HTTP 4xx/5xx, malformed body)."""

    kind = "request"
