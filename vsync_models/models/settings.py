"""Typed per-model settings: ``models.defaults`` < ``models.<name>`` < ``--model-arg KEY=VALUE``.

One pydantic class per provider names every key that provider reads, its type and its default.
A value of the wrong type or outside what is allowed is a :class:`~vsync_models.errors.ConfigError`
naming the key, the value and what is allowed (the pytest plugin turns it into exit 4). A key the
provider does not read is not an error (the original's config files carry sections for other
tools) but one warning naming the nearest known key; a key from ``models.defaults`` that this
provider does not read is silently ignored, since defaults serve every model.

To add a setting to a provider, add one annotated field with its default to its class below.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from vsync_models.config import overlay
from vsync_models.errors import ConfigError

__all__ = [
    "AVSyncSettings",
    "ConstantSettings",
    "GeminiSettings",
    "ModelSettings",
    "OpenAISettings",
    "RandomSettings",
    "RateLimit",
    "ResolvedSettings",
    "ServedSettings",
    "parse_model_args",
    "resolve_settings",
]


class _Strict(BaseModel):
    # strict: YAML and --model-arg values arrive typed, so "abc" for an integer is an error, never
    # int("abc"); an int is still accepted where a float is asked for.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


# YAML 1.1 (PyYAML) reads a number in exponent form without a dot (``2e9``) as a string; YAML 1.2
# and every reader of the docs read it as a number, so such a string is taken as the number it spells.
_EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _exponent_number(value: Any) -> Any:
    if isinstance(value, str) and _EXPONENT_NUMBER.fullmatch(value.strip()):
        return float(value)
    return value


_Number = Annotated[float, BeforeValidator(_exponent_number)]
"""A float that also accepts YAML 1.1's string reading of ``2e9``; any other string is an error."""


class RateLimit(_Strict):
    """``rate_limit``: the run's request and token budget per minute for this model."""

    requests_per_min: float | None = Field(default=None, gt=0)
    tokens_per_min: float | None = Field(default=None, gt=0)


class ModelSettings(_Strict):
    """Keys every model reads (the run's limits and the prompt)."""

    concurrency: int | None = Field(default=None, ge=1)
    """Requests in flight for the whole run (``--concurrency`` wins)."""
    rate_limit: RateLimit | None = None
    user_prompt: str | None = None
    """Beats ``benchmark.level1.user_prompt``."""
    provider: Literal["openai", "gemini"] | None = None
    """For a ``models.<name>`` section of your own: which API serves it."""


class RandomSettings(ModelSettings):
    seed: int = 0


class ConstantSettings(ModelSettings):
    answer: str = "A"
    answers: dict[str | int, str] = Field(default_factory=dict)
    """Per item id: the answer to give instead of ``answer``."""


class AVSyncSettings(ModelSettings):
    fallback: Literal["guess", "abstain"] = "guess"
    seed: int = 0
    fps: float | None = Field(default=None, gt=0)
    """Frames per second it looks at (``None``: every frame), to measure a model's ceiling."""
    max_frames: int | None = Field(default=None, ge=1)
    max_decoded_pixels: _Number | None = Field(default=None, ge=1)
    """width × height × frames a clip may decode to (``None``: av_sync's default, 2e9; a float, so
    YAML's ``2.0e9`` is read)."""


class _Remote(ModelSettings):
    """Keys of every model reached over HTTP."""

    model_name: str | None = None
    server_url: str | list[str] | None = None
    """One endpoint, or a list of replicas."""
    temperature: float = 0.0
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)


class OpenAISettings(_Remote):
    """OpenAI-compatible endpoints (``openai:<id>``, ``gpt4o``, Gemini through ``client: openai``)."""

    frame_interval_sec: float | None = Field(default=None, gt=0)
    num_video_frames: int | None = Field(default=None, ge=1)
    client: Literal["native", "openai"] | None = None
    send_audio: bool = False
    """Send the clip's audio as an ``input_audio`` part in ``avt`` and ``at`` (never in ``vt``)."""


class GeminiSettings(_Remote):
    """Gemini through Google's native client."""

    client: Literal["native", "openai"] | None = None
    thinking_budget: int | None = Field(default=None, ge=0)
    video_fps: float | None = Field(default=None, gt=0)
    inline_max_mb: float = Field(default=8.0, gt=0)


class ServedSettings(_Remote):
    """Local omni models served by our server or ``vllm serve``."""

    seed: int | None = None
    engine: Literal["transformers", "vllm"] = "transformers"
    backend: str | None = None
    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    gpu_ids: list[int] | list[list[int]] = Field(default_factory=list)
    model_path: str | None = None
    startup_timeout: float | None = Field(default=None, gt=0)
    audio_mode: Literal["in_video", "separate"] | None = None
    use_audio_in_video: bool = True
    media_transport: Literal["upload", "path"] = "upload"
    audio_format: Literal["original", "wav"] | None = None
    video_fps: float | None = Field(default=None, gt=0)
    num_video_frames: int | None = Field(default=None, ge=1)
    video_min_pixels: int | None = Field(default=None, ge=1)
    video_max_pixels: int | None = Field(default=None, ge=1)
    vllm_command: str | list[str] | None = None
    vllm_args: str | list[str] | None = None
    tensor_parallel_size: int | None = Field(default=None, ge=1)
    max_model_len: int | None = Field(default=None, ge=1)
    dtype: str | None = None
    limit_mm_per_prompt: dict[str, int] | None = None
    allowed_local_media_path: str | None = None


@dataclass(frozen=True)
class ResolvedSettings:
    """A model's effective settings and the warnings about keys it does not read."""

    name: str
    settings: ModelSettings
    warnings: tuple[str, ...] = ()

    def effective(self) -> dict[str, Any]:
        """What the run used, for the results file and the report (keys left unset are omitted)."""
        return self.settings.model_dump(mode="json", exclude_none=True)

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in sorted(self.effective().items())) or "(defaults)"


def _keys(cls: type[BaseModel]) -> list[str]:
    return sorted(cls.model_fields)


def _unknown_warnings(
    name: str, cls: type[ModelSettings], own: Mapping[str, Any], args: Mapping[str, Any]
) -> list[str]:
    known = _keys(cls)
    out = []
    for key in [*own, *(k for k in args if k not in own)]:
        if key in cls.model_fields:
            continue
        where = f"--model-arg {key}" if key in args else f"models.{name}.{key}"
        near = difflib.get_close_matches(str(key), known, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else f"; known: {', '.join(known)}"
        out.append(f"{where} is not a setting of model {name!r} and is ignored{hint}")
    return out


def _problem(
    name: str, error: Mapping[str, Any], merged: Mapping[str, Any], args: Mapping[str, Any]
) -> tuple[str, Any, str]:
    """(where the value came from, the value, what is allowed) of one pydantic error."""
    # union members appear in the location as type names ("str", "list[str]"): not keys
    path = [p for p in error["loc"] if isinstance(p, int) or p in _all_keys(merged)]
    key = str(path[0]) if path else "?"
    value: Any = merged
    for part in path:
        value = value.get(part, value.get(str(part))) if isinstance(value, Mapping) else value
    dotted = ".".join(str(p) for p in path) or key
    source = f"--model-arg {dotted}" if key in args else f"models.{name}.{dotted}"
    return source, value, error["msg"].replace("Input should be", "must be")


def _all_keys(node: Any) -> set[Any]:
    if not isinstance(node, Mapping):
        return set()
    return set(node) | {k for v in node.values() for k in _all_keys(v)}


def resolve_settings(
    name: str,
    cls: type[ModelSettings],
    defaults: Mapping[str, Any],
    own: Mapping[str, Any],
    args: Mapping[str, Any] | None = None,
) -> ResolvedSettings:
    """Validate ``defaults`` < ``own`` (``models.<name>``) < ``args`` (``--model-arg``) as ``cls``."""
    args = dict(args or {})
    # key by key, as Config.own_settings overlays (rate_limit.requests_per_min keeps tokens_per_min)
    merged = overlay(overlay({k: v for k, v in defaults.items() if k in cls.model_fields}, own), args)
    try:
        settings = cls.model_validate(merged)
    except ValidationError as exc:
        problems: dict[tuple[str, str], list[str]] = {}
        for err in exc.errors():
            source, value, msg = _problem(name, err, merged, args)
            msgs = problems.setdefault((source, repr(value)), [])
            if msg not in msgs:
                msgs.append(msg)
        lines = [f"{source} = {value}: {' or '.join(msgs)}" for (source, value), msgs in problems.items()]
        raise ConfigError("invalid model setting: " + "; ".join(lines)) from None
    return ResolvedSettings(name, settings, tuple(_unknown_warnings(name, cls, own, args)))


def parse_model_args(pairs: Sequence[str]) -> dict[str, Any]:
    """``--model-arg KEY=VALUE`` pairs; VALUE is read as a YAML scalar or list (``0.2``, ``true``,
    ``[0, 1]``), and ``KEY.SUB=VALUE`` sets one key of a mapping (``rate_limit.requests_per_min=60``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--model-arg takes KEY=VALUE, got {pair!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--model-arg {key}: {part} is set to a value and cannot have keys")
            node = child
        node[leaf] = value
    return out
