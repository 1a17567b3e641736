"""The one seam between the harness and any model: ``generate(request) -> ModelOutput``.

An adapter turns a :class:`~vsync_models.types.Request` into text and raises a
:class:`~vsync_models.errors.ModelError` subclass for infrastructure trouble.
Timing, error capture and caching are the harness's job (:func:`ask`), so every
adapter gets them the same way and none can score an outage as a wrong answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vsync_models.errors import MediaError, ModelError
from vsync_models.types import Request, Response, Sampling

__all__ = ["Model", "ModelOutput", "ask", "audio_feed_of", "close_model", "sampling_of"]


@dataclass(frozen=True)
class ModelOutput:
    """What an adapter returns: the raw text and token usage when the provider reports it."""

    text: str
    usage: dict[str, int] | None = None
    retries: int = 0
    """Retries it took (see :func:`vsync_models.models.retry.call_with_retries`)."""
    replica: str | None = None
    """Which of several replicas answered (see :mod:`vsync_models.models.replicas`)."""


@runtime_checkable
class Model(Protocol):
    """A model V-SYNC can ask. Implementations live one per module in ``vsync_models.models``."""

    name: str
    """Registry name, used in results file names and cache keys."""

    def fingerprint(self) -> dict[str, Any]:
        """Everything that can change an answer (model id, decoding params, frame sampling...).

        It is part of every cache key, so it must be JSON-serialisable and must never hold
        secrets such as API keys.
        """
        ...

    def check(self) -> None:
        """Fail fast before any item runs (missing key, unreachable server); no-op if nothing to check."""
        ...

    def generate(self, request: Request) -> ModelOutput:
        """Answer one request; raise ``ModelError`` (or a subclass) for infrastructure trouble."""
        ...


def ask(model: Model, request: Request, clock: Any = time.perf_counter) -> Response:
    """Call ``model`` once and always return a :class:`Response`.

    Infrastructure errors (the model unreachable, a clip that cannot be prepared) land in
    ``error`` instead of raising, so the caller can never mistake them for an answer.
    """
    start = clock()
    try:
        out = model.generate(request)
    except (ModelError, MediaError) as exc:
        return Response(
            text="",
            latency_s=clock() - start,
            error=f"{type(exc).__name__}: {exc}",
            retries=exc.retries,
            error_kind=exc.kind,
        )
    return Response(
        text=out.text, latency_s=clock() - start, usage=out.usage, retries=out.retries, replica=out.replica
    )


def close_model(model: Model) -> None:
    """Let go of a model's connections when the run ends.

    ``close`` is not part of :class:`Model`: an adapter that holds no connection (the
    baselines, a replayed run) has nothing to close, so it need not write a no-op.
    """
    close = getattr(model, "close", None)
    if callable(close):
        close()


def sampling_of(model: Model) -> Sampling | None:
    """What ``model`` sees of a clip's picture, where its adapter declares it (a ``sampling``
    attribute); ``None`` where it is not known (a server's unstated default, a replayed run).

    Not part of :class:`Model`, like ``close``: only adapters that know how their provider samples
    video say so, and the reports show the perceivers' ceiling at that sampling
    (:mod:`vsync_models.report.ceilings`).
    """
    sampling = getattr(model, "sampling", None)
    return sampling if isinstance(sampling, Sampling) else None


def audio_feed_of(model: Model) -> str | None:
    """How the soundtrack reaches ``model`` in ``avt`` and ``at``, in words (an ``audio_feed``
    attribute): empty when it is sent no audio (an API model given the transcript only), ``None``
    when the adapter does not say."""
    feed = getattr(model, "audio_feed", None)
    return feed if isinstance(feed, str) else None
