"""One typed configuration object from the original ``config.yaml`` keys, env and defaults.

The original release kept everything in ``config/config.yaml`` with secrets in
``config/.env`` or the environment. We read the same keys so an existing config
works unchanged; unknown keys are kept (not rejected) because the original file
carries sections we do not use yet.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vsync_models.errors import ConfigError

LEVEL_NUMBERS = (1, 2, 3, 4)
"""The levels a config may configure (``benchmark.level1`` ... ``benchmark.level4``)."""

__all__ = [
    "DEFAULT_ANSWER_FORMAT",
    "DEFAULT_SYSTEM_PROMPT",
    "DEFAULT_USER_PROMPT",
    "Config",
    "LevelConfig",
    "RunLimits",
    "RuntimeConfig",
    "load_config",
]

DEFAULT_SYSTEM_PROMPT = (
    "You are a precise video-audio reasoning assistant. "
    "You must answer ONLY with the option letter (A, B, C, or D)."
)
DEFAULT_USER_PROMPT = (
    "Please carefully analyze the video, paying attention to the temporal relationship "
    "between the audio and visual content."
)
DEFAULT_ANSWER_FORMAT = "Answer ONLY with the option letter (A, B, C, or D). Do not include any other text."


@dataclass(frozen=True)
class RuntimeConfig:
    """``runtime.*``: request pacing and frame sampling shared by API models."""

    max_retries: int = 5
    request_delay: float = 0.0
    frame_interval_sec: float = 1.0
    max_frames: int = 8
    retry_base_sec: float = 1.0
    """Ours: the first backoff wait; it doubles per retry (with jitter) up to ``retry_cap_sec``."""
    retry_cap_sec: float = 30.0
    max_clip_mb: float | None = None
    """Ours: clips larger than this are per-item errors (never hashed, decoded or uploaded)."""
    retry_after_cap_sec: float | None = None
    """Ours: a ``Retry-After`` above this ends the item as an error at once (``None``: 60 s, and
    300 s for Gemini's native client, whose 429s carry long ``RetryInfo`` delays)."""
    max_response_mb: float = 1.0
    """Ours: an answer body larger than this is an error, counted while it is read."""
    max_refused_connections: int = 5
    """Ours: refused connections to an OpenAI-compatible endpoint retried in the whole run (all
    items and xdist workers together, counted since its last answer) before the run stops."""


@dataclass(frozen=True)
class LevelConfig:
    """``benchmark.level{N}.*``; ``None`` means "not set in the file" so CLI and defaults can decide."""

    dataset_path: str | None = None
    video_dir: str | None = None
    output_dir: str | None = None
    output_pattern: str | None = None
    modality: str | None = None
    system_prompt: str | None = None
    user_prompt: str | None = None
    answer_format: str | None = None
    """Levels 2/3: replaces the per-answer-type default formats of the level (see prompts)."""
    iou_threshold: float | None = None
    """Level 2: an interval answer passes at IoU >= this (default 0.5)."""
    tolerance_s: float | None = None
    """Level 2: an instant answer passes within this many seconds (default 0.5)."""


_LEVEL_FLOATS = ("iou_threshold", "tolerance_s")


@dataclass(frozen=True)
class Config:
    """Everything read from the config file and the environment."""

    api: Mapping[str, Any] = field(default_factory=dict)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    model_defaults: Mapping[str, Any] = field(default_factory=dict)
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    answer_format: str | None = None
    levels: Mapping[int, LevelConfig] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Environment (process env over the dotenv file); holds secrets, so never printed."""
    source: Path | None = None
    model_args: Mapping[str, Any] = field(default_factory=dict)
    """``--model-arg KEY=VALUE``: over ``models.<name>`` of the model this run builds."""

    def level(self, n: int) -> LevelConfig:
        return self.levels.get(n, LevelConfig())

    def own_settings(self, name: str) -> dict[str, Any]:
        """``models.<name>`` overlaid with ``--model-arg`` (``models.defaults`` left out)."""
        return overlay(self.models.get(name, {}), self.model_args)

    def model_settings(self, name: str) -> dict[str, Any]:
        """``models.defaults`` overlaid with ``models.<name>`` and ``--model-arg``, untyped; the typed
        view a model is built from is :func:`vsync_models.models.registry.model_settings`."""
        merged = dict(self.model_defaults)
        merged.update(self.own_settings(name))
        return merged

    def run_limits(self, name: str) -> RunLimits:
        """How hard a run may drive model ``name``: ``models.<name>.concurrency`` and ``.rate_limit``."""
        settings = self.model_settings(name)
        where = f"models.{name}"
        limits = _section(settings, "rate_limit", where)
        rate = f"{where}.rate_limit"
        concurrency = _typed(settings, "concurrency", int, where)
        return RunLimits(
            concurrency=None if concurrency is None else int(concurrency),
            requests_per_min=_number(_typed(limits, "requests_per_min", (int, float), rate)),
            tokens_per_min=_number(_typed(limits, "tokens_per_min", (int, float), rate)),
        )


@dataclass(frozen=True)
class RunLimits:
    """A model's run-wide limits from the config; ``None`` where the config says nothing."""

    concurrency: int | None = None
    """Requests in flight for the whole run (``--concurrency`` wins)."""
    requests_per_min: float | None = None
    tokens_per_min: float | None = None


def overlay(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``; a mapping in both is overlaid key by key (``rate_limit.requests_per_min``)."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = overlay(out[key], value)
        else:
            out[key] = value
    return out


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _section(raw: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _typed(section: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``section[key]`` if it is of ``kind`` (an int where a float is asked for is a float); a number
    must be finite (YAML's ``.nan`` and ``.inf`` are refused, not met later as a crash mid-run)."""
    value = section.get(key)
    if value is None:
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: '{key}' must be {want}, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return value


def _at_least_zero(section: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = _typed(section, key, kind, where)
    if value is not None and value < 0:
        raise ConfigError(f"{where}: '{key}' must be 0 or more, got {value!r}")
    return value


def _finite(value: Any, where: str) -> None:
    """Every number under ``value`` is finite (``timeout_s: .nan`` is refused at load)."""
    stack = [(value, where)]
    while stack:
        node, at = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"{at}: must be a finite number, got {node!r}")
        if isinstance(node, Mapping):
            stack.extend((v, f"{at}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(node))


def _output_pattern(value: str | None, where: str) -> str | None:
    """``output_pattern`` names results files with ``{model}`` and ``{level}``; checked here, not
    when the run's results are written (after every item ran)."""
    if value is None:
        return None
    try:
        name = value.format(model="m", level=1)
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"{where}: 'output_pattern' {value!r} is not a file name pattern ({type(exc).__name__}: "
            f"{exc}); only {{model}} and {{level}} may be filled in"
        ) from None
    if not name.strip() or "/" in name or "\\" in name or name in (".", ".."):
        raise ConfigError(f"{where}: 'output_pattern' {value!r} must be a file name, not a path")
    return value


def _runtime(raw: Mapping[str, Any], where: str) -> RuntimeConfig:
    sec = _section(raw, "runtime", where)
    kw = {
        name: (_typed if name in _RUNTIME_POSITIVE else _at_least_zero)(sec, name, kind, f"{where} runtime")
        for name, kind in (
            ("max_retries", int),
            ("request_delay", float),
            ("frame_interval_sec", float),
            ("max_frames", int),
            ("retry_base_sec", float),
            ("retry_cap_sec", float),
            ("max_clip_mb", float),
            ("retry_after_cap_sec", float),
            ("max_response_mb", float),
            ("max_refused_connections", int),
        )
    }
    for name in _RUNTIME_POSITIVE:
        value = kw[name]
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{where} runtime: '{name}' must be a positive number, got {value!r}")
    return RuntimeConfig(**{k: v for k, v in kw.items() if v is not None})


_RUNTIME_POSITIVE = ("retry_after_cap_sec", "max_response_mb", "max_refused_connections")
"""Limits where zero, a negative number, infinity or NaN would mean nothing sensible."""


def _levels(raw: Mapping[str, Any], where: str) -> dict[int, LevelConfig]:
    bench = _section(raw, "benchmark", where)
    levels: dict[int, LevelConfig] = {}
    for n in LEVEL_NUMBERS:
        sec = _section(bench, f"level{n}", f"{where} benchmark")
        kw = {
            name: _typed(sec, name, float if name in _LEVEL_FLOATS else str, f"{where} benchmark.level{n}")
            for name in LevelConfig.__annotations__
        }
        kw["output_pattern"] = _output_pattern(kw["output_pattern"], f"{where} benchmark.level{n}")
        levels[n] = LevelConfig(**kw)
    return levels


def _read_dotenv(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (YAML, original keys) and the ``.env`` beside it; ``None`` gives the defaults.

    Real environment variables win over the dotenv file, as in the original.
    """
    environ = dict(os.environ if environ is None else environ)
    if path is None:
        return Config(env=environ)
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{where}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at line {line}, offset {exc.start}); "
            "save the file as UTF-8"
        ) from None
    try:
        raw = yaml.safe_load(text) or {}
    except RecursionError:
        raise ConfigError(f"{where}: YAML nested too deeply to read") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        pos = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{where}: invalid YAML{pos}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: top level must be a mapping")

    dotenv = path.parent / ".env"
    env = {**(_read_dotenv(dotenv) if dotenv.is_file() else {}), **environ}

    models_raw = _section(raw, "models", where)
    _finite(models_raw, f"{where}: models")
    models: dict[str, Mapping[str, Any]] = {}
    for name, sec in models_raw.items():
        if name == "defaults":
            continue
        if not isinstance(sec, Mapping):
            raise ConfigError(f"{where}: models.{name} must be a mapping")
        models[str(name)] = dict(sec)
    prompts = _section(raw, "prompts", where)
    return Config(
        api=dict(_section(raw, "api", where)),
        runtime=_runtime(raw, where),
        model_defaults=dict(_section(models_raw, "defaults", f"{where} models")),
        models=models,
        answer_format=_typed(prompts, "answer_format", str, f"{where} prompts"),
        levels=_levels(raw, where),
        env=env,
        source=path,
    )
