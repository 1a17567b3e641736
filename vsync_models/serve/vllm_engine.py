"""vLLM as the scale-out engine for the Qwen-Omni models: ``vllm serve`` started and stopped like ours.

vLLM speaks the same OpenAI chat protocol with the same media parts (``video_url``,
``audio_url``), so the harness's client (:class:`~vsync_models.models.omni_server.OmniServerModel`)
is the same; only starting differs::

    vllm serve /models/Qwen3-Omni-30B-A3B-Instruct --host 127.0.0.1 --port 8000 \\
        --tensor-parallel-size 2 --dtype bfloat16 --max-model-len 32768 \\
        --limit-mm-per-prompt '{"image":0,"video":1,"audio":1}'

as the Qwen3-Omni model card documents (tensor parallel over the GPUs in
``CUDA_VISIBLE_DEVICES``; one video and one audio per prompt is all a V-SYNC request holds, and a
smaller limit means less memory reserved for multimodal profiling). vLLM has no ready file: we pick
the port (the configured one if free, else a free one) and wait until ``/v1/models`` lists a model,
which vLLM answers only once the engine is up.

The model card also says that ``use_audio_in_video`` is not available in ``vllm serve``; the
client therefore sends the audio track as its own ``audio_url`` beside the video by default
(``audio_mode: separate``), and the run records that (see the audio canary).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx2

from vsync_models.models.common import TRANSPORT_ERRORS
from vsync_models.models.settings import ServedSettings
from vsync_models.serve.launch import (
    DEFAULT_STARTUP_TIMEOUT_S,
    Progress,
    ServerProcess,
    launch,
    port_is_free,
)

__all__ = [
    "DEFAULT_LIMIT_MM",
    "VllmSettings",
    "free_port",
    "probe_models",
    "settings_from_config",
    "start_vllm",
    "vllm_command",
]

DEFAULT_LIMIT_MM: Mapping[str, int] = MappingProxyType({"image": 0, "video": 1, "audio": 1})
"""A V-SYNC request carries at most one video and one audio; vLLM reserves memory per allowed item."""


@dataclass(frozen=True)
class VllmSettings:
    """What ``vllm serve`` is started with (``models.<name>.*`` keys in brackets)."""

    executable: tuple[str, ...] = ("vllm",)
    """The command that provides ``serve`` [``vllm_command``], e.g. ``("/opt/vllm/bin/vllm",)``."""
    tensor_parallel_size: int = 1
    """[``tensor_parallel_size``], default: the number of ``gpu_ids``."""
    max_model_len: int = 32768
    """[``max_model_len``]; the model card's single-GPU value (65536 on 4 GPUs)."""
    dtype: str = "bfloat16"
    limit_mm_per_prompt: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMIT_MM))
    """[``limit_mm_per_prompt``]"""
    allowed_local_media_path: str | None = None
    """[``allowed_local_media_path``] needed only with ``media_transport: path`` (file:// URLs)."""
    extra_args: tuple[str, ...] = ()
    """[``vllm_args``] anything else, appended verbatim (e.g. ``--gpu-memory-utilization 0.9``)."""


def vllm_command(
    model_path: str | os.PathLike[str], settings: VllmSettings, *, host: str, port: int
) -> list[str]:
    """The exact argv of ``vllm serve`` for one checkpoint (also shown in error messages)."""
    cmd = [*settings.executable, "serve", str(model_path), "--host", host, "--port", str(port)]
    cmd += ["--tensor-parallel-size", str(settings.tensor_parallel_size), "--dtype", settings.dtype]
    cmd += ["--max-model-len", str(settings.max_model_len)]
    cmd += ["--limit-mm-per-prompt", json.dumps(dict(settings.limit_mm_per_prompt), separators=(",", ":"))]
    if settings.allowed_local_media_path:
        cmd += ["--allowed-local-media-path", settings.allowed_local_media_path]
    return cmd + list(settings.extra_args)


def free_port(host: str) -> int:
    """A port nobody listens on right now (vLLM cannot report the one it picked, so we choose)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def probe_models(url: str, timeout_s: float = 2.0) -> list[dict[str, Any]] | None:
    """The models an OpenAI-compatible server at ``url`` lists, or ``None`` while it cannot say.

    vLLM's ``/health`` answers 200 with an empty body, which tells nothing about which model is
    loaded; ``/v1/models`` answers once the engine is ready and names the checkpoint.
    """
    root = url.rstrip("/")
    base = root if root.endswith("/v1") else f"{root}/v1"
    try:
        response = httpx2.get(f"{base}/models", timeout=timeout_s)
        if response.status_code != 200:
            return None
        data = response.json().get("data")
    except (*TRANSPORT_ERRORS, ValueError, AttributeError):
        return None
    return data if isinstance(data, list) and data else None


def start_vllm(
    model_path: str | os.PathLike[str],
    settings: VllmSettings,
    *,
    log_path: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S,
    progress: Progress | None = None,
) -> ServerProcess:
    """Start ``vllm serve`` and wait until it lists the model; :class:`ServerStartError` otherwise."""
    chosen = port if port is not None and port_is_free(host, port) else free_port(host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{chosen}"
    return launch(
        vllm_command(model_path, settings, host=host, port=chosen),
        log_path=log_path,
        env=env,
        find_url=lambda: url,
        is_ready=lambda u: probe_models(u) is not None,
        startup_timeout_s=startup_timeout_s,
        progress=progress,
    )


def settings_from_config(options: ServedSettings, gpu_ids: Sequence[int]) -> VllmSettings:
    """``models.<name>`` keys (typed) → settings; tensor parallel over the configured GPUs by default."""
    import shlex

    exe = options.vllm_command or "vllm"
    executable = tuple(shlex.split(exe) if isinstance(exe, str) else exe)
    extra = options.vllm_args or ()
    limit = options.limit_mm_per_prompt or DEFAULT_LIMIT_MM
    return VllmSettings(
        executable=executable,
        tensor_parallel_size=options.tensor_parallel_size or max(1, len(gpu_ids)),
        max_model_len=options.max_model_len or 32768,
        dtype=options.dtype or "bfloat16",
        limit_mm_per_prompt=dict(limit),
        allowed_local_media_path=options.allowed_local_media_path,
        extra_args=tuple(shlex.split(extra) if isinstance(extra, str) else extra),
    )
    return VllmSettings(
        executable=executable,
        tensor_parallel_size=int(options.get("tensor_parallel_size") or max(1, len(gpu_ids))),
        max_model_len=int(options.get("max_model_len") or 32768),
        dtype=str(options.get("dtype") or "bfloat16"),
        limit_mm_per_prompt={str(k): int(v) for k, v in limit.items()},
        allowed_local_media_path=options.get("allowed_local_media_path"),
        extra_args=tuple(shlex.split(extra) if isinstance(extra, str) else (str(x) for x in extra)),
    )
