"""The facts that say which run a report describes: model, what was asked, seeds, versions.

One list of ``(name, value)`` rows from the run's :class:`~vsync_models.report.compare.RunInfo`
and the model's fingerprint, for the HTML report's Environment table (first, ahead of pytest's
generic rows). The fingerprint never holds secrets (see ``Model.fingerprint``).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from typing import Any

from vsync_models.report.compare import RunInfo
from vsync_models.report.stats import DEFAULT_BOOTSTRAP, DEFAULT_SEED

__all__ = ["VERSIONED", "run_environment"]

VERSIONED = ("vsync-bench", "pytest", "pytest-html", "av", "pillow", "numpy")
"""Distributions whose version is shown: ours, the runner, and what decodes and samples the media."""


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _found(fingerprint: Mapping[str, Any], *path: str) -> Any:
    value: Any = fingerprint
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def run_environment(
    info: RunInfo, fingerprint: Mapping[str, Any], versioned: Sequence[str] = VERSIONED
) -> list[tuple[str, str]]:
    """Rows: model, model id or checkpoint (where the fingerprint names them), the fingerprint
    itself, config and dataset hashes, seeds, versions."""
    rows = [("V-SYNC model", info.model)]
    model_id = _found(fingerprint, "model_name") or _found(fingerprint, "server", "model")
    if model_id:
        rows.append(("model id", str(model_id)))
    checkpoint = _found(fingerprint, "server", "checkpoint") or _found(fingerprint, "checkpoint")
    if checkpoint:
        rows.append(("checkpoint", str(checkpoint)))
    rows += [
        ("model fingerprint", json.dumps(fingerprint, sort_keys=True, default=str)),
        ("config hash", info.config_hash),
        ("dataset", info.dataset),
        ("dataset hash", info.dataset_hash),
    ]
    seed = _found(fingerprint, "seed")
    rows.append(("model seed", "not set" if seed is None else str(seed)))
    rows.append(("statistics seed", f"{DEFAULT_SEED} (bootstrap {DEFAULT_BOOTSTRAP}x)"))
    versions = [f"{name} {_version(name)}" for name in versioned]
    rows.append(("versions", ", ".join([f"Python {platform.python_version()}", *versions])))
    return rows
