"""What the model adapters share: one copy of each helper, and the HTTP boundary of our own client.

* :data:`LAYOUT_VERSION`: the request layout every adapter's fingerprint states (bumped per adapter
  by giving it its own constant when its layout changes, so cached answers are not reused);
* :func:`status_kind`, :func:`reason`, :func:`excerpt`: an HTTP status as an error kind, the
  innermost cause of an exception and a short one-line excerpt of a body, for error messages;
* :func:`usage_counts`, :func:`chat_usage`, :func:`chat_output`: token counts and the answer of an
  OpenAI-style chat completion;
* :func:`http_errors` and :func:`exchange`: where ``httpx2`` (the HTTP library the ``openai`` SDK
  itself uses) meets :mod:`vsync_models.errors`. Transport failures and HTTP statuses are mapped
  here, once; nothing above knows httpx2's exception types.

An ``httpx2.Client`` reads proxy and CA settings from the environment once, when it is built, and is
safe to share between threads, so one client serves every thread of a model (``requests`` read
``os.environ`` per request, which pytest changes around every test phase: pipelined requests failed
with ``KeyError: 'PYTEST_CURRENT_TEST'``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx2

from vsync_models.errors import ModelRequestError, ModelUnavailable
from vsync_models.models.base import ModelOutput
from vsync_models.models.retry import Transient, parse_retry_after
from vsync_models.models.transport import CrossOriginRedirect, ResponseTooLarge

__all__ = [
    "EXCERPT_CHARS",
    "LAYOUT_VERSION",
    "RETRY_STATUSES",
    "TRANSPORT_ERRORS",
    "chat_output",
    "chat_usage",
    "deadline_error",
    "error_message",
    "excerpt",
    "exchange",
    "http_errors",
    "reason",
    "status_kind",
    "usage_counts",
    "wire_refusal",
]

LAYOUT_VERSION = 1
"""Bumped whenever a request layout changes, so cached answers from an older layout are not reused."""

RETRY_STATUSES = (408, 429, 500, 502, 503, 504)
"""HTTP statuses worth retrying (the other 5xx count as server errors but are not retried)."""

EXCERPT_CHARS = 300

TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx2.HTTPError, httpx2.InvalidURL)
"""What an ``httpx2`` call raises when no usable HTTP answer came back."""


def status_kind(code: int | None, retryable: tuple[int, ...] = RETRY_STATUSES) -> str:
    """The error kind (:data:`~vsync_models.errors.ERROR_KINDS`) of an HTTP error status."""
    if code == 429:
        return "rate_limited"
    if code in (401, 403):
        return "auth"
    return "server_error" if code in retryable or (code or 0) >= 500 else "bad_request"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters (``...`` says it was cut)."""
    flat = " ".join(text.split())
    return (flat[:limit] + "...") if len(flat) > limit else (flat or "(empty body)")


def reason(exc: BaseException, limit: int = EXCERPT_CHARS) -> str:
    """The innermost cause (e.g. "Connection refused"), which says more than a library's wrapper.

    Follows ``__cause__``, else ``__context__``; a vendor error's own ``message`` wins over its ``str``.
    """
    inner: BaseException = exc
    for _ in range(20):  # chains are short; a cycle must not hang us
        nxt = inner.__cause__ or inner.__context__
        if nxt is None:
            break
        inner = nxt
    message = getattr(inner, "message", None)
    return excerpt(str(message or inner) or type(inner).__name__, limit)


def usage_counts(values: Mapping[str, Any]) -> dict[str, int] | None:
    """The integer counts among ``values`` (ours names: ``prompt_tokens``...), ``None`` when there are none."""
    usage = {k: v for k, v in values.items() if isinstance(v, int)}
    return usage or None


def chat_usage(
    raw: Any, details: tuple[str, ...] = ("audio_tokens", "video_tokens")
) -> dict[str, int] | None:
    """A chat completion's ``usage``: the three totals, plus ``details`` from ``prompt_tokens_details``."""
    if not isinstance(raw, dict):
        return None
    values = {k: raw.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    extra = raw.get("prompt_tokens_details")
    if isinstance(extra, dict):
        values.update({k: extra.get(k) for k in details})
    return usage_counts(values)


def chat_output(
    payload: Any, *, name: str, where: str, details: tuple[str, ...] = ("audio_tokens", "video_tokens")
) -> ModelOutput:
    """The first choice's text and the usage of a decoded chat completion.

    No choices or no content is a :class:`Transient` ``empty`` error: such answers may pass.
    """
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if not choices or not isinstance(choices, list):
        raise Transient(
            ModelRequestError(f"model {name!r}: empty response from {where} (no choices)", kind="empty")
        )
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str):
        raise Transient(
            ModelRequestError(f"model {name!r}: empty response from {where} (no content)", kind="empty")
        )
    return ModelOutput(text=text, usage=chat_usage(payload.get("usage"), details))


def deadline_error(*, name: str, where: str, timeout: float) -> Transient:
    """No complete answer within ``timeout_s``, which bounds the whole exchange (see :mod:`.transport`)."""
    return Transient(
        ModelUnavailable(
            f"model {name!r}: no complete answer from {where} within the {timeout:g}s deadline "
            "(timeout_s bounds connect, send and the whole answer)",
            kind="timeout",
        )
    )


def wire_refusal(exc: ResponseTooLarge | CrossOriginRedirect, *, name: str) -> ModelRequestError:
    """What our transport refused (an answer over the size limit, a redirect to another origin) as
    a final error: neither is retried, as the same request gets the same answer, or redirect."""
    kind = "too_large" if isinstance(exc, ResponseTooLarge) else "redirect"
    return ModelRequestError(f"model {name!r}: {exc}", kind=kind)


@contextlib.contextmanager
def http_errors(*, name: str, where: str, timeout: float) -> Iterator[None]:
    """Map what ``httpx2`` raises to :class:`~vsync_models.errors.ModelUnavailable` (as :class:`Transient`).

    ``timeout`` when no complete answer came within the deadline, else ``connection``; the error's
    ``reason`` attribute holds the innermost cause (for :class:`~vsync_models.errors.ServerGone`'s
    message). What our transport refuses (:func:`wire_refusal`) is final, not :class:`Transient`.
    """
    try:
        yield
    except (ResponseTooLarge, CrossOriginRedirect) as exc:
        raise wire_refusal(exc, name=name) from None
    except httpx2.TimeoutException:
        raise deadline_error(name=name, where=where, timeout=timeout) from None
    except TRANSPORT_ERRORS as exc:
        why = reason(exc)
        error = ModelUnavailable(f"model {name!r}: cannot reach {where} ({why})", kind="connection")
        error.reason = why  # type: ignore[attr-defined]
        raise Transient(error) from None


def error_message(response: httpx2.Response) -> str:
    """The ``error.message`` of an OpenAI-style error body, else an excerpt of the body."""
    try:
        payload = response.json()
        message = payload["error"]["message"] if isinstance(payload.get("error"), dict) else payload["error"]
        return excerpt(str(message))
    except (ValueError, KeyError, TypeError, AttributeError):
        return excerpt(response.text)


def exchange(
    client: httpx2.Client,
    method: str,
    url: str,
    *,
    name: str,
    where: str,
    timeout: float,
    json: Any = None,
) -> Any:
    """One HTTP exchange, its answer as decoded JSON; every failure as one of our errors.

    What may pass is :class:`Transient`: no connection, a timeout, 408/429/5xx (with the server's
    ``Retry-After``), a body that is not JSON. Other statuses are final.
    """
    with http_errors(name=name, where=where, timeout=timeout):
        response = client.request(method, url, json=json, timeout=timeout)
    code = response.status_code
    if code != 200:
        error = ModelRequestError(
            f"model {name!r}: {where} answered HTTP {code}: {error_message(response)}", kind=status_kind(code)
        )
        if code in RETRY_STATUSES:
            raise Transient(error, parse_retry_after(response.headers.get("Retry-After")))
        raise error
    try:
        return response.json()
    except ValueError:
        raise Transient(
            ModelRequestError(
                f"model {name!r}: malformed answer from {where}: {excerpt(response.text)}", kind="malformed"
            )
        ) from None
