"""Helpers for the omni-server tests: short clips, the local-stack gate, tiny checkpoints, servers.

Not a test module (no ``test_`` prefix): test modules import what they need from here.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.support import write_mp4
from vsync_models.models.registry import TINY_SERVER_ARGS
from vsync_models.serve.backend import Generation, MediaPart, Prompt, TextPart

REPO = Path(__file__).resolve().parents[2]

LOCAL_STACK = ("torch", "transformers")
_MISSING = [name for name in LOCAL_STACK if importlib.util.find_spec(name) is None]

requires_local_stack = pytest.mark.skipif(
    bool(_MISSING),
    reason=(
        f"the local model stack is not installed ({', '.join(_MISSING)} not importable): "
        "pip install torch==2.13.0, then pip install torchvision==0.28.0 -e '.[local]' (as .ci/run does)"
    ),
)
"""Skip only when torch or transformers cannot be imported; any other gap must fail loudly."""

FPS = 10
RATE = 16000
__all__ = [
    "REPO",
    "TINY_SERVER_ARGS",
    "EchoBackend",
    "make_clip",
    "requires_local_stack",
    "running_server",
    "serve_app",
    "shared_dir",
    "stream_types",
]


def make_clip(
    path: Path, *, seconds: float = 2.0, audio: bool = True, size: tuple[int, int] = (96, 64)
) -> Path:
    """A short mp4: moving grey bars (H.264) and, optionally, a tone rising in pitch (AAC)."""
    width, height = size
    frames = []
    for i in range(round(seconds * FPS)):
        rgb = np.zeros((height, width, 3), np.uint8)
        rgb[:, (i * 4) % width :] = 40 + (i * 7) % 200
        frames.append(rgb)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = (0.3 * 32767 * np.sin(2 * np.pi * (300 + 200 * t) * t)).astype(np.int16) if audio else None
    return write_mp4(path, frames, FPS, tone, RATE)


def stream_types(path: Path) -> set[str]:
    with av.open(str(path)) as container:
        return {s.type for s in container.streams}


def shared_dir(factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory shared by all xdist workers of this run (their base temps have one parent)."""
    base = factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """An ASGI app on uvicorn, 127.0.0.1 and a free port, in a thread; yields the root URL."""
    import threading
    import time

    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def running_server(
    backend: str, model_path: Path, log_dir: Path, *extra_args: str, timeout_s: float = 240.0
) -> Iterator[object]:
    """A real ``python -m vsync_models.serve`` process for the duration of the block."""
    from vsync_models.serve.launch import start_server, stop_server

    server = start_server(
        backend,
        model_path,
        log_path=log_dir / f"{backend}.log",
        extra_args=extra_args,
        startup_timeout_s=timeout_s,
    )
    try:
        yield server
    finally:
        stop_server(server)


class EchoBackend:
    """A stand-in model for server and client tests: reports what reached it, no torch.

    Its answer is JSON describing the prompt (each media file's streams and whether it lived in
    the server's temp dir, the text, ``use_audio_in_video``). Token counts follow the media: 100
    audio tokens when audio reaches it (an audio part, or a video's soundtrack with
    ``use_audio_in_video``), 50 video tokens per video, so the audio canary works against it.
    ``drop_audio=True`` behaves like a server that silently ignores audio. ``$ECHO_EXIT_AFTER=N``
    makes the server process die (exit status 3) on request N + 1, like a crashed GPU worker.

    Usable from a server process as ``--backend tests.standins.tiny_omni:EchoBackend``.
    """

    kind = "echo"

    def __init__(self, model_path: str = "/models/echo", *, drop_audio: bool = False, **options: Any) -> None:
        self.model_path = model_path
        self.drop_audio = drop_audio or os.environ.get("ECHO_DROP_AUDIO") == "1"
        self.options = options
        self.prompts: list[Prompt] = []
        self.fail_with: Exception | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.kind,
            "checkpoint": self.model_path,
            "config_hash": "c0ffee" + ("-drop" if self.drop_audio else ""),
            "weights_id": "w1",
        }

    def generate(self, prompt: Prompt) -> Generation:
        self.prompts.append(prompt)
        exit_after = int(os.environ.get("ECHO_EXIT_AFTER") or 0)
        if exit_after and len(self.prompts) > exit_after:
            os._exit(3)
        if self.fail_with is not None:
            raise self.fail_with
        media = []
        audio = 0
        video = 0
        for part in prompt.media():
            assert isinstance(part, MediaPart)
            streams = sorted(stream_types(part.path))
            media.append(
                {
                    "kind": part.kind,
                    "streams": streams,
                    "name": part.path.name,
                    "parent": str(part.path.parent),
                }
            )
            if part.kind == "audio" or (prompt.use_audio_in_video and "audio" in streams):
                audio += 0 if self.drop_audio else 100
            if part.kind == "video":
                video += 50
        text = " ".join(p.text for m in prompt.messages for p in m.parts if isinstance(p, TextPart))
        answer = json.dumps(
            {
                "media": media,
                "use_audio_in_video": prompt.use_audio_in_video,
                "max_new_tokens": prompt.max_new_tokens,
                "video": prompt.video.as_dict(),
                "text": text,
            }
        )
        n_prompt = len(text.split()) + audio + video
        return Generation(
            text=answer, prompt_tokens=n_prompt, completion_tokens=1, audio_tokens=audio, video_tokens=video
        )
