"""Backend names → loaders, kept apart from :mod:`vsync_models.serve.backend` so that the
interface a backend implements does not depend on the backends that implement it.

Each loader imports its backend lazily, so the server (and its tests) run without torch until a
real model is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from vsync_models.serve.backend import Backend, BackendError

__all__ = ["BACKENDS", "load_backend"]


def _qwen(kind: str) -> Callable[..., Backend]:
    def load(model_path: str, **options: Any) -> Backend:
        from vsync_models.serve.qwen_omni import QwenOmniBackend

        return QwenOmniBackend(kind, model_path, **options)

    return load


BACKENDS: dict[str, Callable[..., Backend]] = {
    "qwen2_5_omni": _qwen("qwen2_5_omni"),
    "qwen3_omni": _qwen("qwen3_omni"),
    "qwen3_omni_thinking": _qwen("qwen3_omni_thinking"),
}
"""Backend name → loader(model_path, **options). Each loader imports its dependencies itself."""


def load_backend(kind: str, model_path: str, **options: Any) -> Backend:
    """Load a named backend, or ``package.module:factory`` (a backend of your own, or a test stand-in).

    A factory is called as ``factory(model_path, **options)`` and must return a :class:`Backend`.
    """
    if ":" in kind:
        module_name, _, attr = kind.partition(":")
        try:
            loader = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"cannot load backend {kind!r}: {exc}") from None
    else:
        try:
            loader = BACKENDS[kind]
        except KeyError:
            raise BackendError(
                f"unknown backend {kind!r}; known: {', '.join(sorted(BACKENDS))} (or package.module:factory)"
            ) from None
    backend = loader(model_path, **options)
    if not isinstance(backend, Backend):
        raise BackendError(f"backend {kind!r} does not provide kind, describe() and generate()")
    return backend
