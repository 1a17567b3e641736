"""Every error the library raises on purpose, so callers can catch broadly or narrowly.

    VsyncError
    ├── ConfigError            bad config file, unknown model name, missing API key
    ├── DatasetError           every problem found in a dataset, reported together
    ├── MediaError             a clip that cannot be read, hashed or prepared
    │   └── ModalityViolation  a model asked for a stream its modality forbids
    └── ModelError             infrastructure trouble while asking a model (never a wrong answer)
        ├── ModelUnavailable   could not connect / server gone / timed out
        │   └── ServerGone     the server stopped answering for good: no request is worth sending
        └── ModelRequestError  the model endpoint answered with an error

Errors are translated at the boundary where they enter (HTTP client, JSON parser,
PyAV), so nothing above that boundary needs to know about vendor exception types.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatasetError",
    "MediaError",
    "ModalityViolation",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "VsyncError",
]


class VsyncError(Exception):
    """Base of every error V-SYNC raises deliberately."""


class ConfigError(VsyncError):
    """The run cannot start: configuration, model name or credentials are wrong."""


class DatasetError(VsyncError):
    """A dataset failed validation; ``problems`` lists every problem found, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"dataset has {n} problem{'s' if n != 1 else ''}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class MediaError(VsyncError):
    """A clip could not be read, hashed or prepared for a request."""


class ModalityViolation(MediaError):
    """Something asked for a stream (audio, frames) that the request's modality withholds."""


class ModelError(VsyncError):
    """Infrastructure trouble while asking a model; scored as an error, never as a wrong answer."""


class ModelUnavailable(ModelError):
    """The model could not be reached (connection refused, DNS, timeout, server died)."""


class ServerGone(ModelUnavailable):
    """The model server is gone (connection refused and its health check failed too).

    Raised once for the request that found out, and at once, without any request, for every
    later one: the run stops instead of collecting one identical error per remaining item.
    """


class ModelRequestError(ModelError):
    """The model endpoint answered, but with an error (HTTP 4xx/5xx, malformed body)."""
