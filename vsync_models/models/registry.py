"""``--model NAME`` → a ready :class:`~vsync_models.models.base.Model`.

Names resolve in this order: the built-in baselines, ``openai:<model-name>`` for any
OpenAI-compatible endpoint, the original's API names (``gpt4o``; ``gemini_2_5_flash`` and
``gemini_2_5_pro`` through Google's native client, which sends the video file so Gemini hears
its audio), the local omni models served by ``python -m vsync_models.serve`` (``qwen2_5_omni``,
``qwen3_omni``, ``qwen3_omni_thinking`` and the tiny test checkpoints), then the
``models.<name>`` sections of the config file. Providers are imported lazily so a missing
optional dependency only matters for the model that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from vsync_models.config import Config
from vsync_models.errors import ConfigError
from vsync_models.models.base import Model
from vsync_models.models.retry import RefusalBudget, RetryPolicy
from vsync_models.models.settings import (
    AVSyncSettings,
    ConstantSettings,
    GeminiSettings,
    ModelSettings,
    OpenAISettings,
    RandomSettings,
    ResolvedSettings,
    ServedSettings,
    resolve_settings,
)
from vsync_models.types import Sampling

__all__ = ["DEFAULT_MODEL", "ModelInfo", "build_model", "describe_models", "known_models", "model_settings"]

DEFAULT_MODEL = "av_sync"
"""The embedded default: numpy and PyAV only, no weights, no downloads, answers from the real media."""

_BASELINE_SETTINGS: dict[str, type[ModelSettings]] = {
    "random": RandomSettings,
    "constant": ConstantSettings,
    "av_sync": AVSyncSettings,
}
_BUILTINS = tuple(_BASELINE_SETTINGS)
_BASE_URL_ENV = ("OPENAI_BASE_URL", "OPENAI_API_BASE")
_OPENAI_PREFIX = "openai:"
_OMNI_PREFIX = "omni:"
OMNI_URL_ENV = "VSYNC_OMNI_URL"
"""Where an ``omni:<served-name>`` server listens when ``models.<served-name>.server_url`` does not say."""
DEFAULT_OMNI_URL = "http://127.0.0.1:8000"
"""``vllm serve``'s own default address."""
QWEN_OMNI_FPS = 2.0
"""The frame rate qwen-omni-utils samples video at unless told (``video_fps``), as our server does."""
# The original's API model names and the model id each one asks for.
_API_MODELS = {
    "gpt4o": ("openai", "gpt-4o"),
    "gemini_2_5_flash": ("gemini", "gemini-2.5-flash"),
    "gemini_2_5_pro": ("gemini", "gemini-2.5-pro"),
}
_GEMINI_THINKING = {"gemini-2.5-flash": 0, "gemini-2.5-pro": 128}
"""Default ``thinking_budget`` per Gemini model id (``models.<name>.thinking_budget`` overrides)."""
# Local omni models served by `python -m vsync_models.serve` (or vLLM): backend, default
# checkpoint, default max_tokens (thinking needs room before it answers).
_SERVED_MODELS = {
    "qwen2_5_omni": ("qwen2_5_omni", "Qwen/Qwen2.5-Omni-7B", 64),
    "qwen3_omni": ("qwen3_omni", "Qwen/Qwen3-Omni-30B-A3B-Instruct", 64),
    "qwen3_omni_thinking": ("qwen3_omni_thinking", "Qwen/Qwen3-Omni-30B-A3B-Thinking", 4096),
}
# Test-only: tiny random checkpoints that vsync_models.serve.tiny builds on first use (CPU, no download).
_TINY_MODELS = {"qwen2_5_omni_tiny": "qwen2_5_omni", "qwen3_omni_tiny": "qwen3_omni"}
TINY_SERVER_ARGS = ("--video-max-frames", "8", "--video-min-pixels", "3136", "--video-max-pixels", "12544")
"""Small frames for the tiny checkpoints, so a CPU answers an item in about a second."""
# Local checkpoints of the original release that no backend serves yet (see the README).
_UNSERVED_MODELS = {
    "miniomni_2": "Mini-Omni2 takes one input modality at a time (image or speech) and no video, so it "
    "cannot be asked about a clip's sound and picture together; its code is a git repository, not a package",
    "omnivinci": "OmniVinci loads only through trust_remote_code code shipped with its Hugging Face weights "
    "and an NVILA environment script (git-only dependencies); neither can be fetched or tested here",
    "vita_1_5": "VITA-1.5 runs only from its git repository's code, pinned to torch 2.3.1 and "
    "transformers 4.41.1 (incompatible with the Qwen-Omni stack); no package or trust_remote_code path",
    "baichuan_omni_1_5": "Baichuan-Omni-1.5 loads through trust_remote_code code shipped with its Hugging "
    "Face weights plus flash-attn and deepspeed; neither can be fetched or tested here",
}
_LOCAL_MODELS = (*_SERVED_MODELS, *_UNSERVED_MODELS)


def known_models(config: Config) -> list[str]:
    """Every name ``build_model`` accepts (``openai:<model-name>`` stands for the whole family)."""
    names = {*_BUILTINS, *_API_MODELS, *_SERVED_MODELS, *_TINY_MODELS, *config.models}
    return [
        *sorted(names - set(_UNSERVED_MODELS)),
        f"{_OPENAI_PREFIX}<model-name>",
        f"{_OMNI_PREFIX}<served-name>",
    ]


def _replicated(settings: ModelSettings, build: Callable[[Any], Model]) -> Model | None:
    """``server_url: [url, ...]``: one adapter per replica behind a ReplicaSet (else ``None``)."""
    urls = getattr(settings, "server_url", None)
    if not isinstance(urls, list):
        return None
    if not urls:
        raise ConfigError("server_url: an empty list names no replica")
    from vsync_models.models.replicas import ReplicaSet

    return ReplicaSet([build(settings.model_copy(update={"server_url": u})) for u in urls], list(urls))


def _openai_model(name: str, model_id: str, settings: OpenAISettings, config: Config, api: str) -> Model:
    from vsync_models.models.openai_compat import OpenAICompatModel, resolve_openai_settings

    # A list of replicas names its endpoints itself: the environment's base URL must not replace them.
    no_env_url = replace(config, env={k: v for k, v in config.env.items() if k not in _BASE_URL_ENV})
    if (
        many := _replicated(settings, lambda s: _openai_model(name, model_id, s, no_env_url, api))
    ) is not None:
        return many

    api_section = config.api.get(api) or {}
    env = dict(config.env)
    if api != "openai":
        # OPENAI_BASE_URL names the OpenAI endpoint; it must not redirect another provider's.
        env.pop("OPENAI_BASE_URL", None)
        env.pop("OPENAI_API_BASE", None)
    assert not isinstance(settings.server_url, list)
    base_url, api_key = resolve_openai_settings(settings.server_url or api_section.get("base_url"), env)
    runtime = config.runtime
    return OpenAICompatModel(
        name=name,
        model_name=settings.model_name or model_id,
        base_url=base_url,
        api_key=api_key or None,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens or 64,
        frame_interval_s=settings.frame_interval_sec or runtime.frame_interval_sec,
        max_frames=settings.num_video_frames or runtime.max_frames,
        timeout_s=settings.timeout_s or 120.0,
        send_audio=settings.send_audio,
        retry=retry_policy(config),
        max_response_bytes=response_limit(config),
        refusals=RefusalBudget(runtime.max_refused_connections),
    )


def retry_policy(config: Config) -> RetryPolicy:
    """``runtime.max_retries`` (the original's key) with our backoff keys."""
    runtime = config.runtime
    policy = RetryPolicy(
        max_retries=runtime.max_retries, base_s=runtime.retry_base_sec, cap_s=runtime.retry_cap_sec
    )
    cap = runtime.retry_after_cap_sec
    return policy if cap is None else replace(policy, max_wait_s=cap)


def response_limit(config: Config) -> int:
    """``runtime.max_response_mb`` in bytes: a longer answer is an error, counted while it is read."""
    return int(config.runtime.max_response_mb * 2**20)


ENGINES = ("transformers", "vllm")
"""How a local omni model is served: our server (transformers), or ``vllm serve``."""


def _settings_of(name: str, config: Config) -> tuple[type[ModelSettings], str]:
    """Which settings class model ``name`` reads, and the ``models.<key>`` section they come from."""
    if name in _BASELINE_SETTINGS:
        return _BASELINE_SETTINGS[name], name
    if name.startswith(_OPENAI_PREFIX):
        return OpenAISettings, name[len(_OPENAI_PREFIX) :]
    if name.startswith(_OMNI_PREFIX):
        return ServedSettings, name[len(_OMNI_PREFIX) :]
    provider = config.model_settings(name).get("provider")
    if name in _API_MODELS or provider in ("openai", "gemini"):
        api = _API_MODELS.get(name, (provider, name))[0]
        native = api == "gemini" and _gemini_client(config.model_settings(name), config) == "native"
        return (GeminiSettings if native else OpenAISettings), name
    if name in _SERVED_MODELS or name in _TINY_MODELS:
        return ServedSettings, name
    return ModelSettings, name


def model_settings(name: str, config: Config, engine: str | None = None) -> ResolvedSettings:
    """The typed settings model ``name`` is built from: ``models.defaults`` < ``models.<name>`` <
    ``--model-arg`` (< ``engine``, ``--engine``); a :class:`ConfigError` naming a bad key and value."""
    cls, key = _settings_of(name, config)
    args = dict(config.model_args)
    if engine is not None:
        if cls is not ServedSettings:
            raise ConfigError(
                f"--engine applies to the local omni models ({', '.join(_SERVED_MODELS)}), not {name!r}"
            )
        args["engine"] = engine
    return resolve_settings(key, cls, config.model_defaults, config.models.get(key, {}), args)


def build_model(name: str, config: Config, engine: str | None = None) -> Model:
    """Resolve ``name``; raise :class:`ConfigError` listing the known names when it is unknown.

    ``engine`` (``--engine``) overrides ``models.<name>.engine`` for the local omni models.
    """
    if name.startswith(_OPENAI_PREFIX) and not name[len(_OPENAI_PREFIX) :]:
        raise ConfigError("--model openai:<model-name> needs a model name after 'openai:'")
    if name.startswith(_OMNI_PREFIX) and not name[len(_OMNI_PREFIX) :]:
        raise ConfigError("--model omni:<served-name> needs the name the server serves after 'omni:'")
    settings = model_settings(name, config, engine).settings
    if isinstance(settings, RandomSettings):
        from vsync_models.models.baselines import RandomModel

        return RandomModel(seed=settings.seed)
    if isinstance(settings, ConstantSettings):
        from vsync_models.models.baselines import ConstantModel

        answers = {str(k): v for k, v in settings.answers.items()}
        return ConstantModel(answer=settings.answer, answers=answers)
    if isinstance(settings, AVSyncSettings):
        from vsync_models.models.av_measure import DEFAULT_MAX_DECODED_PIXELS
        from vsync_models.models.av_sync import AVSyncModel

        return AVSyncModel(
            fallback=settings.fallback,
            seed=settings.seed,
            sampling=Sampling(settings.fps, settings.max_frames),
            max_decoded_pixels=int(settings.max_decoded_pixels or DEFAULT_MAX_DECODED_PIXELS),
        )
    if name.startswith(_OPENAI_PREFIX):
        assert isinstance(settings, OpenAISettings)
        return _openai_model(name, name[len(_OPENAI_PREFIX) :], settings, config, "openai")
    if name.startswith(_OMNI_PREFIX):
        assert isinstance(settings, ServedSettings)
        return _omni_endpoint(name, name[len(_OMNI_PREFIX) :], settings, config)
    if isinstance(settings, GeminiSettings):
        model_id = _API_MODELS.get(name, ("gemini", name))[1]
        return _gemini_model(name, settings.model_name or model_id, settings, config)
    if isinstance(settings, OpenAISettings):
        api, model_id = _API_MODELS.get(name, (settings.provider, name))
        return _openai_model(name, model_id, settings, config, str(api))
    if isinstance(settings, ServedSettings):
        return _served_model(name, settings, config)
    if name in _UNSERVED_MODELS:
        raise ConfigError(
            f"model {name!r} is not supported yet: {_UNSERVED_MODELS[name]}; see the README section 'Models'"
        )
    if name in config.models:
        raise ConfigError(
            f"model {name!r} needs local model serving, which this version does not provide for it yet; "
            "see the README section 'Models'"
        )
    raise ConfigError(f"unknown model {name!r}; known models: {', '.join(known_models(config))}")


def _gemini_client(settings: Mapping[str, Any], config: Config) -> str:
    """``native`` (google-genai, the video file with its audio) unless told otherwise.

    ``models.<name>.client: openai`` forces the OpenAI-compatible path (frames + transcript), and
    so does a non-empty ``api.gemini.base_url``: in the original's config that key names an
    OpenAI-compatible endpoint, and a user who set it keeps getting what it meant.
    """
    client = settings.get("client")
    if client is None:
        base_url = str((config.api.get("gemini") or {}).get("base_url") or "").strip()
        return "openai" if base_url else "native"
    if client not in ("native", "openai"):
        raise ConfigError(f"models.<name>.client must be 'native' or 'openai', got {client!r}")
    return str(client)


def _gemini_model(name: str, model_id: str, settings: GeminiSettings, config: Config) -> Model:
    from vsync_models.models.gemini import GeminiModel, resolve_gemini_settings

    assert not isinstance(settings.server_url, list)
    base_url, api_key, key_env = resolve_gemini_settings(settings.server_url, config.env)
    # Gemini 2.5 counts thinking against the output budget; answer-only by default, as GPT-4o answers:
    # Flash can switch thinking off (0), Pro cannot go below 128.
    budget = settings.thinking_budget
    if budget is None:
        budget = _GEMINI_THINKING.get(model_id)
    return GeminiModel(
        name=name,
        model_name=model_id,
        api_key=api_key,
        api_key_env=key_env,
        base_url=base_url,
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens or 64,
        thinking_budget=budget,
        video_fps=settings.video_fps,
        inline_max_bytes=int(settings.inline_max_mb * 1024 * 1024),
        # Gemini's 429s carry long RetryInfo delays; wait up to five minutes for them
        retry=replace(retry_policy(config), max_wait_s=config.runtime.retry_after_cap_sec or 300.0),
    )


def _served_model(name: str, settings: ServedSettings, config: Config) -> Model:
    from vsync_models.models.omni_server import ServerLaunch
    from vsync_models.serve.launch import DEFAULT_STARTUP_TIMEOUT_S
    from vsync_models.serve.vllm_engine import settings_from_config

    if (many := _replicated(settings, lambda s: _served_model(name, s, config))) is not None:
        return many
    groups = settings.gpu_ids
    if groups and all(isinstance(g, list) for g in groups):
        # gpu_ids: [[0, 1], [2, 3]]: one server per GPU group, each started on a free port.
        from vsync_models.models.replicas import ReplicaSet

        copies = [
            _served_model(name, settings.model_copy(update={"gpu_ids": list(g), "port": None}), config)
            for g in groups
        ]
        return ReplicaSet(copies, [c.base_url for c in copies])  # type: ignore[attr-defined]

    engine = settings.engine
    vllm = engine == "vllm"
    if name in _TINY_MODELS:
        backend, model_path, default_tokens = _TINY_MODELS[name], f".vsync_cache/tiny/{name}", 16
        extra: tuple[str, ...] = TINY_SERVER_ARGS
    else:
        backend, model_path, default_tokens = _SERVED_MODELS[name]
        extra = ()
    # ``backend: package.module:factory`` serves a backend of your own (the server loads it).
    backend = settings.backend or backend
    port, host = settings.port, settings.host or "127.0.0.1"
    gpu_ids = tuple(int(g) for g in settings.gpu_ids if isinstance(g, int))
    launch = ServerLaunch(
        backend=backend,
        model_path=settings.model_path or model_path,
        host=host,
        port=port,
        gpu_ids=gpu_ids,
        extra_args=() if vllm else extra,
        tiny=name in _TINY_MODELS,
        engine=engine,
        vllm=settings_from_config(settings, gpu_ids) if vllm else None,
        startup_timeout_s=settings.startup_timeout or DEFAULT_STARTUP_TIMEOUT_S,
    )
    assert not isinstance(settings.server_url, list)
    server_url = (settings.server_url or "").strip() or f"http://{host}:{port or 8000}"
    # models.defaults.max_tokens is sized for letter answers; a thinking model gets its own room
    # unless its own section (or --model-arg) says otherwise.
    if "max_tokens" in config.own_settings(name):
        max_tokens = settings.max_tokens or default_tokens
    elif name == "qwen3_omni_thinking":
        max_tokens = default_tokens
    else:
        max_tokens = settings.max_tokens or default_tokens
    # `vllm serve` cannot interleave a video's soundtrack with its frames (the Qwen3-Omni model
    # card: use_audio_in_video is not available there), so with vLLM the audio goes as its own
    # stream unless audio_mode says otherwise; the audio canary checks whichever is chosen.
    in_video = False if vllm else settings.use_audio_in_video
    return _omni_client(
        name,
        server_url,
        settings,
        config,
        engine=engine,
        model_name=settings.model_name,
        in_video=in_video,
        max_tokens=max_tokens,
        expected_backend=None if ":" in backend or vllm else backend,
        # our server samples a real Qwen-Omni checkpoint as qwen-omni-utils does; vLLM's loader and the
        # tiny test servers (which cap frames on their command line) declare nothing they are not told
        default_fps=QWEN_OMNI_FPS if name in _SERVED_MODELS and not vllm and ":" not in backend else None,
        launch=launch,
    )


def _omni_client(
    name: str,
    url: str,
    settings: ServedSettings,
    config: Config,
    *,
    engine: str,
    model_name: str | None,
    in_video: bool,
    max_tokens: int,
    expected_backend: str | None = None,
    default_fps: float | None = None,
    launch: Any = None,
) -> Model:
    """The omni-server client, with what ``models.<name>`` says about decoding, media and sampling."""
    from vsync_models.models.omni_server import OmniServerModel

    return OmniServerModel(
        name=name,
        base_url=url,
        model_name=model_name,
        expected_backend=expected_backend,
        max_tokens=max_tokens,
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=settings.seed,
        audio_mode=settings.audio_mode or ("in_video" if in_video else "separate"),
        video_fps=settings.video_fps,
        max_frames=settings.num_video_frames,
        min_pixels=settings.video_min_pixels,
        max_pixels=settings.video_max_pixels,
        media_transport=settings.media_transport,
        audio_format=settings.audio_format or ("original" if engine != "vllm" else "wav"),
        engine=engine,
        timeout_s=settings.timeout_s or 600.0,
        retry=retry_policy(config),
        max_response_bytes=response_limit(config),
        default_fps=default_fps,
        launch=launch,
        token=(config.env.get("VSYNC_SERVER_TOKEN") or "").strip() or None,
    )


def _omni_endpoint(name: str, served: str, settings: ServedSettings, config: Config) -> Model:
    """``omni:<served-name>``: an omni server the run does not start, asked for model ``served``.

    Its address: ``models.<served>.server_url`` (a list: replicas), else ``$VSYNC_OMNI_URL``, else
    vLLM's default. The request layout is vLLM's (``video_url`` + a separate 16 kHz WAV
    ``audio_url``, frame sampling in ``media_io_kwargs``), the one OpenAI-compatible omni servers
    share; ``engine: transformers`` selects our own server's layout instead.
    """
    if (many := _replicated(settings, lambda s: _omni_endpoint(name, served, s, config))) is not None:
        return many
    engine = settings.engine if "engine" in settings.model_fields_set else "vllm"
    assert not isinstance(settings.server_url, list)
    url = (settings.server_url or config.env.get(OMNI_URL_ENV) or "").strip() or DEFAULT_OMNI_URL
    return _omni_client(
        name,
        url,
        settings,
        config,
        engine=engine,
        model_name=served,
        in_video=engine != "vllm",
        max_tokens=settings.max_tokens or 64,
    )


@dataclass(frozen=True)
class ModelInfo:
    """What ``vsync models`` says about one name."""

    name: str
    needs: str
    settings: type[ModelSettings] | None
    """The settings class it reads (``None``: cannot be run here)."""


_OPENAI_NEEDS = "an OpenAI-compatible endpoint: OPENAI_API_KEY and/or OPENAI_BASE_URL (or server_url)"


def describe_models(config: Config) -> list[ModelInfo]:
    """Every known name with what it needs to run and the settings it reads."""
    out = [
        ModelInfo("random", "nothing: a seeded random guess (chance level)", RandomSettings),
        ModelInfo("constant", "nothing: always the same answer", ConstantSettings),
        ModelInfo(
            "av_sync", "nothing beyond the package (numpy and PyAV): measures the clip", AVSyncSettings
        ),
        ModelInfo(f"{_OPENAI_PREFIX}<model-name>", _OPENAI_NEEDS, OpenAISettings),
        ModelInfo(
            f"{_OMNI_PREFIX}<served-name>",
            f"an OpenAI-compatible omni server already running (vLLM's layout): models.<served-name>.server_url, "
            f"else ${OMNI_URL_ENV}, else {DEFAULT_OMNI_URL}",
            ServedSettings,
        ),
        ModelInfo("gpt4o", "OPENAI_API_KEY (or OPENAI_BASE_URL of a compatible endpoint)", OpenAISettings),
    ]
    out += [
        ModelInfo(name, "GEMINI_API_KEY or GOOGLE_API_KEY, and pip install '.[gemini]'", GeminiSettings)
        for name, (api, _) in _API_MODELS.items()
        if api == "gemini"
    ]
    out += [
        ModelInfo(
            name,
            f"pip install '.[local]' and a GPU for {checkpoint} (the run starts the server), "
            "or server_url of a running one",
            ServedSettings,
        )
        for name, (_, checkpoint, _) in _SERVED_MODELS.items()
    ]
    out += [
        ModelInfo(name, "pip install '.[local]' (a tiny random test checkpoint; CPU)", ServedSettings)
        for name in _TINY_MODELS
    ]
    known = {i.name for i in out}
    for name in sorted(set(config.models) - known - set(_UNSERVED_MODELS)):
        cls, _ = _settings_of(name, config)
        provider = config.model_settings(name).get("provider")
        needs = (
            f"models.{name} in the config (provider: {provider})" if provider else "local serving (none yet)"
        )
        out.append(ModelInfo(name, needs, cls if provider else None))
    out += [ModelInfo(name, f"not supported yet: {why}", None) for name, why in _UNSERVED_MODELS.items()]
    return out
