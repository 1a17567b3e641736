"""Reading a clip back from its pixels and samples, using only the fixed layout.

What the tests use to check that a decoded clip shows what its ground truth says (mouths follow
their speech, props change at their event frames); a model may use the same measurements, since
they need nothing but the layout documented in the package.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from vsync_models.synth.layout import FPS, POSITIONS, PROP_BOXES, eye_box, mouth_box

__all__ = [
    "PROP_MIN_PIXELS",
    "decode",
    "eye_changes",
    "mouth_darkness",
    "prop_change_frames",
    "prop_changed_pixels",
    "rms_per_frame",
]

PROP_MIN_PIXELS = 20
"""Strongly changed pixels of a prop's box that make its change (:func:`prop_change_frames`)."""

_INK_MAX = 90
"""A pixel is mouth ink when no channel exceeds this (ink is (35, 25, 25); faces are brighter)."""


def decode(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """All frames as ``(n, h, w, 3)`` uint8 RGB, and the audio as mono float in [-1, 1] with its rate."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate)
        chunks = [f.to_ndarray().reshape(-1) for f in container.decode(audio=0)]
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return frames, audio, rate


def mouth_darkness(frames: np.ndarray) -> np.ndarray:
    """``(n_frames, 4)``: the share of ink pixels in each position's mouth box, left to right."""
    out = np.empty((len(frames), POSITIONS))
    for p in range(POSITIONS):
        x0, y0, x1, y1 = mouth_box(p)
        box = frames[:, y0:y1, x0:x1, :]
        out[:, p] = (_channel_max(box) <= _INK_MAX).mean(axis=(1, 2))
    return out


def rms_per_frame(audio: np.ndarray, sample_rate: int, n_frames: int, fps: int = FPS) -> np.ndarray:
    """Loudness of the audio under each video frame (the envelope mouths are drawn from)."""
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    x = np.pad(np.asarray(audio, np.float64), (0, max(0, int(edges[-1]) - len(audio))))
    sq = np.concatenate([[0.0], np.cumsum(x * x)])
    return np.sqrt((sq[edges[1:]] - sq[edges[:-1]]) / np.maximum(np.diff(edges), 1))


def prop_change_frames(frames: np.ndarray, min_pixels: int = PROP_MIN_PIXELS) -> dict[str, int | None]:
    """Per prop, the first frame in which at least ``min_pixels`` pixels of its box differ from
    frame 0 by more than 48 in some channel, or ``None`` if it never changes.

    Counting strongly changed pixels rather than averaging over the box catches the ball's first
    frame (its string vanishes, ~30 px) and ignores compression noise (0 px on the shipped set).
    """
    out: dict[str, int | None] = {}
    for kind, counts in prop_changed_pixels(frames, frames[0]).items():
        changed = np.flatnonzero(counts >= min_pixels)
        out[kind] = int(changed[0]) if len(changed) else None
    return out


def prop_changed_pixels(frames: np.ndarray, first: np.ndarray) -> dict[str, np.ndarray]:
    """Per prop, ``(n_frames,)``: pixels of its box that differ from ``first`` (the clip's frame 0)
    by more than 48 in some channel; frame by frame, so a clip can be measured in pieces."""
    first16 = first.astype(np.int16)
    out: dict[str, np.ndarray] = {}
    for kind, (x0, y0, x1, y1) in PROP_BOXES.items():
        diff = _channel_max(np.abs(frames[:, y0:y1, x0:x1].astype(np.int16) - first16[y0:y1, x0:x1]))
        out[kind] = (diff > 48).sum(axis=(1, 2))
    return out


def eye_changes(frames: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """``(n_frames, 4)``: pixels of each position's eye box that differ from ``first`` (default
    ``frames[0]``) by more than 48 in some channel; level 3's "looks at the camera" (wide eyes)
    changes ~100 of them, nothing else any."""
    first16 = (frames[0] if first is None else first).astype(np.int16)
    out = np.empty((len(frames), POSITIONS))
    for p in range(POSITIONS):
        x0, y0, x1, y1 = eye_box(p)
        diff = _channel_max(np.abs(frames[:, y0:y1, x0:x1].astype(np.int16) - first16[y0:y1, x0:x1]))
        out[:, p] = (diff > 48).sum(axis=(1, 2))
    return out


def _channel_max(pixels: np.ndarray) -> np.ndarray:
    """The largest of the three channels per pixel: ``pixels.max(axis=-1)``, several times faster
    (numpy reduces a short last axis slowly)."""
    return np.maximum(np.maximum(pixels[..., 0], pixels[..., 1]), pixels[..., 2])
