"""The seam between the HTTP server and a model: ``Backend.generate(Prompt) -> Generation``.

The server has already done everything that is not the model's business by the time a backend
sees a :class:`Prompt`: the request is validated, uploads are files on disk with server-chosen
names, each file has been probed for the streams it must carry. A backend turns that into text
and counts what it fed the model (prompt, audio and video tokens), which is what the audio
canary and the per-item ``usage`` records rely on.

Only the interface lives here, so a backend module can import it without importing every other
backend; which names load which backend is :mod:`vsync_models.serve.backends`' business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "Backend",
    "BackendError",
    "Generation",
    "MediaPart",
    "Message",
    "Prompt",
    "TextPart",
    "VideoSampling",
]


class BackendError(Exception):
    """A backend could not be loaded or could not answer (reported as HTTP 500, never as an answer)."""


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class MediaPart:
    """A media file the server has materialised; ``path`` is always a server-owned or allowed path."""

    kind: Literal["video", "audio"]
    path: Path
    has_audio: bool = False
    """For videos: whether the file carries an audio stream (probed by the server)."""


@dataclass(frozen=True)
class Message:
    role: str
    parts: tuple[TextPart | MediaPart, ...]


@dataclass(frozen=True)
class VideoSampling:
    """How frames are taken from a video; ``None`` means the official recipe's default."""

    fps: float | None = None
    max_frames: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None

    def merged(self, override: VideoSampling) -> VideoSampling:
        """``override``'s set fields win over ours."""
        return VideoSampling(
            **{
                name: getattr(override, name) if getattr(override, name) is not None else getattr(self, name)
                for name in ("fps", "max_frames", "min_pixels", "max_pixels")
            }
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "max_frames": self.max_frames,
            "min_pixels": self.min_pixels,
            "max_pixels": self.max_pixels,
        }


@dataclass(frozen=True)
class Prompt:
    """One validated chat request, media on disk."""

    messages: tuple[Message, ...]
    use_audio_in_video: bool
    max_new_tokens: int
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float | None = None
    seed: int | None = None
    video: VideoSampling = field(default_factory=VideoSampling)
    """Per-request overrides of the server's video sampling."""

    def media(self) -> list[MediaPart]:
        return [p for m in self.messages for p in m.parts if isinstance(p, MediaPart)]


@dataclass(frozen=True)
class Generation:
    """What the model produced, and what it was fed."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    audio_tokens: int = 0
    """Placeholder tokens of audio in the prompt: > 0 proves audio reached the model."""
    video_tokens: int = 0
    finish_reason: str = "stop"


@runtime_checkable
class Backend(Protocol):
    """A loaded model the server can ask."""

    kind: str
    """Backend name, e.g. ``qwen2_5_omni``."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready facts that change answers: checkpoint, ``config_hash``, ``weights_id``, dtype, device,
        default video sampling, library versions. Served at ``/v1/models`` and part of client fingerprints."""
        ...

    def generate(self, prompt: Prompt) -> Generation:
        """Answer one prompt; raise :class:`BackendError` (or anything) for failures."""
        ...
