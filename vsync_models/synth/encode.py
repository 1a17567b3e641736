"""Write frames and speech into a small, byte-reproducible mp4 (h264 + AAC).

x264 runs with a single thread because its output otherwise depends on the number of cores. Frames
are converted to YUV 4:2:0 here, in exact integer numpy, instead of by FFmpeg's swscale: with
PyAV 18.1 the swscale route made the first packet of a clip differ now and then depending on what
the process had encoded before (seen reliably on the third set generated in one process). With
both, and pinned ``av`` / ``espeakng-loader`` versions, the same clip description gives the same
file bytes, which is what lets a manifest pin the shipped clips by hash.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["encode_mp4", "rgb_to_yuv420p"]

_AUDIO_FRAME = 1024  # AAC frame size


def encode_mp4(
    path: Path,
    frames: Iterable[np.ndarray],
    audio: np.ndarray,
    *,
    fps: int = 25,
    sample_rate: int = 22050,
    crf: int = 23,
    audio_bitrate: int = 48_000,
) -> None:
    """Encode RGB frames (``(h, w, 3)`` uint8, even sides) and mono int16 audio into ``path``.

    The file appears under its final name only once complete (written beside it, then renamed), so
    an interrupted run never leaves a truncated clip that looks finished.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.part")
    try:
        _encode(tmp, frames, np.asarray(audio, dtype=np.int16), fps, sample_rate, crf, audio_bitrate)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUV 4:2:0, planes stacked as PyAV's ``yuv420p`` ndarray: (h*3/2, w).

    Integer arithmetic only (the usual 8-bit fixed-point coefficients), so the result is
    bit-identical on every machine; chroma is the rounded mean of each 2x2 block.
    """
    h, w = rgb.shape[:2]
    if rgb.ndim != 3 or rgb.shape[2] != 3 or h % 2 or w % 2:
        raise ValueError(f"need an RGB frame with even sides, got shape {rgb.shape}")
    r, g, b = (rgb[..., i].astype(np.int32) for i in range(3))
    y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
    u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
    v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128

    def half(c: np.ndarray) -> np.ndarray:
        return (c.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3)) + 2) >> 2

    planes = [y.ravel(), half(u).ravel(), half(v).ravel()]
    return np.concatenate(planes).astype(np.uint8).reshape(h * 3 // 2, w)


def _encode(
    path: Path,
    frames: Iterable[np.ndarray],
    audio: np.ndarray,
    fps: int,
    sample_rate: int,
    crf: int,
    audio_bitrate: int,
) -> None:
    with av.open(str(path), mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps, options={"crf": str(crf), "preset": "medium"})
        video.pix_fmt = "yuv420p"
        video.codec_context.thread_count = 1  # determinism: see module docstring
        sound = container.add_stream("aac", rate=sample_rate, layout="mono")
        sound.bit_rate = audio_bitrate

        for i, rgb in enumerate(frames):
            if i == 0:
                video.height, video.width = rgb.shape[:2]
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb), format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))

        for start in range(0, len(audio), _AUDIO_FRAME):
            chunk = audio[start : start + _AUDIO_FRAME]
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            frame.time_base = Fraction(1, sample_rate)
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
