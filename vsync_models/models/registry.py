"""``--model NAME`` → a ready :class:`~vsync_models.models.base.Model`.

Names resolve in this order: the built-in baselines, ``openai:<model-name>`` for any
OpenAI-compatible endpoint, then the ``models.<name>`` sections of the config file
(the original's names such as ``gpt4o``). Providers are imported lazily so a missing
optional dependency only matters for the model that needs it.
"""

from __future__ import annotations

from typing import Any

from vsync_models.config import Config
from vsync_models.errors import ConfigError
from vsync_models.models.base import Model

__all__ = ["DEFAULT_MODEL", "build_model", "known_models"]

DEFAULT_MODEL = "random"
"""The embedded default: runs anywhere, no downloads."""

_BUILTINS = ("random", "constant")
_OPENAI_PREFIX = "openai:"
# The original's API model names and the model id each one asks for.
_API_MODELS = {
    "gpt4o": ("openai", "gpt-4o"),
    "gemini_2_5_flash": ("gemini", "gemini-2.5-flash"),
    "gemini_2_5_pro": ("gemini", "gemini-2.5-pro"),
}
# Local checkpoints of the original release; they need the local serving stack.
_LOCAL_MODELS = (
    "qwen2_5_omni",
    "qwen3_omni",
    "qwen3_omni_thinking",
    "miniomni_2",
    "omnivinci",
    "vita_1_5",
    "baichuan_omni_1_5",
)


def known_models(config: Config) -> list[str]:
    """Every name ``build_model`` accepts (``openai:<model-name>`` stands for the whole family)."""
    names = {*_BUILTINS, *_API_MODELS, *config.models}
    return [*sorted(names - set(_LOCAL_MODELS)), f"{_OPENAI_PREFIX}<model-name>"]


def _float(settings: dict[str, Any], key: str, default: float | None) -> float | None:
    value = settings.get(key, default)
    return None if value is None else float(value)


def _openai_model(name: str, model_id: str, settings: dict[str, Any], config: Config, api: str) -> Model:
    from vsync_models.models.openai_compat import OpenAICompatModel, resolve_openai_settings

    api_section = config.api.get(api) or {}
    env = dict(config.env)
    if api != "openai":
        # OPENAI_BASE_URL names the OpenAI endpoint; it must not redirect another provider's.
        env.pop("OPENAI_BASE_URL", None)
        env.pop("OPENAI_API_BASE", None)
    base_url, api_key = resolve_openai_settings(
        settings.get("server_url") or api_section.get("base_url"), env
    )
    runtime = config.runtime
    return OpenAICompatModel(
        name=name,
        model_name=str(settings.get("model_name", model_id)),
        base_url=base_url,
        api_key=api_key or None,
        temperature=_float(settings, "temperature", 0.0) or 0.0,
        top_p=_float(settings, "top_p", None),
        max_tokens=int(settings.get("max_tokens", 64)),
        frame_interval_s=float(settings.get("frame_interval_sec", runtime.frame_interval_sec)),
        max_frames=int(settings.get("num_video_frames", runtime.max_frames)),
        max_retries=runtime.max_retries,
    )


def build_model(name: str, config: Config) -> Model:
    """Resolve ``name``; raise :class:`ConfigError` listing the known names when it is unknown."""
    settings = config.model_settings(name)
    if name == "random":
        return _baseline("random", settings)
    if name == "constant":
        return _baseline("constant", settings)
    if name.startswith(_OPENAI_PREFIX):
        model_id = name[len(_OPENAI_PREFIX) :]
        if not model_id:
            raise ConfigError("--model openai:<model-name> needs a model name after 'openai:'")
        return _openai_model(name, model_id, config.model_settings(model_id), config, "openai")
    provider = settings.get("provider")
    if name in _API_MODELS or provider in ("openai", "gemini"):
        api, model_id = _API_MODELS.get(name, (provider, name))
        return _openai_model(name, model_id, settings, config, api)
    if name in _LOCAL_MODELS or name in config.models:
        raise ConfigError(
            f"model {name!r} needs local model serving, which this version does not provide yet; "
            "see the README section 'Models'"
        )
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(known_models(config))}")


def _baseline(kind: str, settings: dict[str, Any]) -> Model:
    from vsync_models.models.baselines import ConstantModel, RandomModel

    if kind == "random":
        return RandomModel(seed=int(settings.get("seed", 0)))
    return ConstantModel(answer=str(settings.get("answer", "A")))
