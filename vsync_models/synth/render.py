"""Cartoon talking characters drawn with numpy: just enough picture for *who is speaking* to be
visible and *what is said* to be invisible.

Each character differs from the others in colour and in shape, so an option like "the red circle"
names it unambiguously. The only thing that moves is each mouth, whose opening follows the loudness
of that character's own speech; who speaks can thus be read from the pixels, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FPS",
    "HEIGHT",
    "ROSTER",
    "WIDTH",
    "Character",
    "mouth_openness",
    "render_frames",
]

WIDTH = 320
HEIGHT = 240
FPS = 25

_BACKGROUND = (236, 228, 210)
_INK = (35, 25, 25)
_WHITE = (250, 250, 250)


@dataclass(frozen=True)
class Character:
    """A drawable speaker; :attr:`name` is how questions and options refer to it."""

    colour: str
    shape: str
    rgb: tuple[int, int, int]

    @property
    def name(self) -> str:
        return f"the {self.colour} {self.shape}"


ROSTER: tuple[Character, ...] = (
    Character("red", "circle", (214, 48, 49)),
    Character("blue", "square", (41, 98, 205)),
    Character("green", "triangle", (46, 150, 70)),
    Character("orange", "diamond", (240, 140, 20)),
)
"""Every character the generator may cast; colours and shapes are each unique."""

_SHAPES = frozenset(c.shape for c in ROSTER)


def mouth_openness(
    tracks: Sequence[np.ndarray], sample_rate: int, n_frames: int, fps: int = FPS
) -> np.ndarray:
    """Per-frame mouth opening in [0, 1] for each character, from that character's own audio.

    RMS per video frame is divided by the 90th percentile of all voiced frames in the clip (so the
    loudest syllables open mouths fully and one character's quiet speech still shows), then raised
    to the power 0.7 so that soft sounds remain visible. A silent track gives a closed mouth.
    """
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    rms = np.zeros((len(tracks), n_frames))
    for k, track in enumerate(tracks):
        x = np.asarray(track, dtype=np.float64) / 32768.0
        x = np.pad(x, (0, max(0, int(edges[-1]) - len(x))))
        sq = np.concatenate([[0.0], np.cumsum(x * x)])
        energy = sq[edges[1:]] - sq[edges[:-1]]
        rms[k] = np.sqrt(energy / np.maximum(edges[1:] - edges[:-1], 1))
    voiced = rms[rms > 1e-3]
    if voiced.size == 0:
        return np.zeros_like(rms)
    ref = float(np.percentile(voiced, 90))
    opening = np.clip(rms / ref, 0.0, 1.0) ** 0.7
    opening[rms <= 1e-3] = 0.0
    return opening


def render_frames(
    characters: Sequence[Character], openness: np.ndarray, width: int = WIDTH, height: int = HEIGHT
) -> Iterator[np.ndarray]:
    """Yield one RGB ``(height, width, 3)`` uint8 frame per column of ``openness``.

    Characters stand left to right in the given order; everything but the mouths is drawn once.
    """
    n = len(characters)
    if n == 0 or openness.shape[0] != n:
        raise ValueError(f"need one openness row per character, got {openness.shape} for {n}")
    unknown = {c.shape for c in characters} - _SHAPES
    if unknown:
        raise ValueError(f"cannot draw shapes {sorted(unknown)}")
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    radius = min(width / n * 0.34, height * 0.3)
    centres = [(width * (i + 0.5) / n, height * 0.5) for i in range(n)]

    base = np.empty((height, width, 3), np.uint8)
    base[:] = _BACKGROUND
    for ch, (cx, cy) in zip(characters, centres, strict=True):
        outline = _shape_mask(ch.shape, xx, yy, cx, cy, radius + 2.5)
        base[outline] = _INK
        base[_shape_mask(ch.shape, xx, yy, cx, cy, radius)] = ch.rgb
        for side in (-1, 1):
            ex, ey = cx + side * 0.3 * radius, cy - 0.12 * radius
            base[_disc(xx, yy, ex, ey, 0.14 * radius)] = _WHITE
            base[_disc(xx, yy, ex, ey + 0.03 * radius, 0.065 * radius)] = _INK

    mouths = [_MouthPainter(xx, yy, cx, cy + 0.4 * radius, radius) for cx, cy in centres]
    for column in np.asarray(openness, dtype=np.float64).T:
        frame = base.copy()
        for painter, amount in zip(mouths, column, strict=True):
            frame[painter.mask(float(amount))] = _INK
        yield frame


class _MouthPainter:
    """Mouth masks for one character, cached per pixel height (only a few dozen distinct ones)."""

    def __init__(self, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, radius: float) -> None:
        self._xx, self._yy, self._cx, self._cy = xx, yy, cx, cy
        self._half_width = 0.3 * radius
        self._max_half_height = 0.26 * radius
        self._cache: dict[int, np.ndarray] = {}

    def mask(self, amount: float) -> np.ndarray:
        # Closed = a 2-px line; open = an ellipse whose half-height grows with the amount.
        half_height = max(1, round(1 + amount * (self._max_half_height - 1)))
        if half_height not in self._cache:
            dx = (self._xx - self._cx) / self._half_width
            dy = (self._yy - self._cy) / half_height
            self._cache[half_height] = dx * dx + dy * dy <= 1.0
        return self._cache[half_height]


def _disc(xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def _shape_mask(shape: str, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    dx, dy = xx - cx, yy - cy
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return (np.abs(dx) <= 0.86 * r) & (np.abs(dy) <= 0.86 * r)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.1 * r
    if shape == "triangle":  # apex up, wide enough at mouth height for the face to fit
        top, bottom = -1.05 * r, 0.85 * r
        half_width = (dy - top) / (bottom - top) * 1.15 * r
        return (dy >= top) & (dy <= bottom) & (np.abs(dx) <= half_width)
    raise ValueError(f"cannot draw shape {shape!r}")
