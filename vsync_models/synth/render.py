"""Frames drawn with numpy: four characters whose mouths open with a loudness envelope, and props.

Characters differ in colour and in shape, so an option like "the red circle" names one without
doubt. Only mouths and props ever change; everything else is drawn once per clip.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from vsync_models.synth.layout import (
    BACKGROUND,
    CHARACTER_RADIUS,
    FPS,
    HEIGHT,
    INK,
    MOUTH_HALF_WIDTH,
    MOUTH_MAX_HALF_HEIGHT,
    POSITIONS,
    ROSTER,
    WIDTH,
    Character,
    character_centre,
    eye_box,
    mouth_centre,
)
from vsync_models.synth.props import Event, PropState, draw_props, prop_state

__all__ = [
    "FPS",
    "HEIGHT",
    "ROSTER",
    "WIDTH",
    "Character",
    "Look",
    "eye_box",
    "mouth_openness",
    "render_frames",
]

_WHITE = (250, 250, 250)
_SHAPES = frozenset(c.shape for c in ROSTER)
_SILENT_RMS = 1e-3


def mouth_openness(
    tracks: Sequence[np.ndarray], sample_rate: int, n_frames: int, fps: int = FPS
) -> np.ndarray:
    """Per-frame mouth opening in [0, 1] for each track (one per character).

    RMS per video frame is divided by the 90th percentile of all voiced frames of all tracks (one
    scale for the whole clip, so equal loudness opens every mouth equally), then raised to the
    power 0.7 so that soft sounds remain visible. Silence gives a closed mouth.
    """
    edges = np.round(np.arange(n_frames + 1) * sample_rate / fps).astype(np.int64)
    rms = np.zeros((len(tracks), n_frames))
    for k, track in enumerate(tracks):
        x = np.asarray(track, dtype=np.float64) / 32768.0
        x = np.pad(x, (0, max(0, int(edges[-1]) - len(x))))
        sq = np.concatenate([[0.0], np.cumsum(x * x)])
        energy = sq[edges[1:]] - sq[edges[:-1]]
        rms[k] = np.sqrt(energy / np.maximum(edges[1:] - edges[:-1], 1))
    voiced = rms[rms > _SILENT_RMS]
    if voiced.size == 0:
        return np.zeros_like(rms)
    ref = float(np.percentile(voiced, 90))
    opening = np.clip(rms / ref, 0.0, 1.0) ** 0.7
    opening[rms <= _SILENT_RMS] = 0.0
    return opening


Look = tuple[int, int, int]
"""``(position, first_frame, end_frame)``: that character looks straight at the camera, eyes wide."""


def render_frames(
    cast: Sequence[Character],
    openness: np.ndarray,
    events: Sequence[Event] = (),
    looks: Sequence[Look] = (),
) -> Iterator[np.ndarray]:
    """Yield one RGB ``(HEIGHT, WIDTH, 3)`` uint8 frame per column of ``openness``.

    ``cast`` stands left to right at positions 0..3; row ``i`` of ``openness`` is the mouth of
    ``cast[i]``. During a ``look`` (level 3's turn-yielding cue) that character's eyes are drawn
    wide open with large pupils straight ahead; without looks the frames are exactly level 1's.
    """
    if len(cast) != POSITIONS or openness.shape[0] != POSITIONS:
        raise ValueError(f"need {POSITIONS} characters and openness rows, got {len(cast)}, {openness.shape}")
    unknown = {c.shape for c in cast} - _SHAPES
    if unknown:
        raise ValueError(f"cannot draw shapes {sorted(unknown)}")
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    characters = _draw_characters(cast, xx, yy)
    mouths = [_MouthPainter(xx, yy, *mouth_centre(p)) for p in range(POSITIONS)]
    bases: dict[PropState, np.ndarray] = {}
    for frame_index, column in enumerate(np.asarray(openness, dtype=np.float64).T):
        state = prop_state(events, frame_index)
        if state not in bases:
            base = characters.copy()
            draw_props(base, state)
            bases[state] = base
        frame = bases[state].copy()
        for painter, amount in zip(mouths, column, strict=True):
            frame[painter.mask(float(amount))] = INK
        for position, first, end in looks:
            if first <= frame_index < end:
                _draw_wide_eyes(frame, position, xx, yy)
        yield frame


def _draw_wide_eyes(img: np.ndarray, position: int, xx: np.ndarray, yy: np.ndarray) -> None:
    cx, cy = character_centre(position)
    r = CHARACTER_RADIUS
    for side in (-1, 1):
        ex, ey = cx + side * 0.3 * r, cy - 0.2 * r
        img[_disc(xx, yy, ex, ey, 0.22 * r)] = INK
        img[_disc(xx, yy, ex, ey, 0.19 * r)] = _WHITE
        img[_disc(xx, yy, ex, ey, 0.11 * r)] = INK


def _draw_characters(cast: Sequence[Character], xx: np.ndarray, yy: np.ndarray) -> np.ndarray:
    img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    img[:] = BACKGROUND
    r = CHARACTER_RADIUS
    for position, ch in enumerate(cast):
        cx, cy = character_centre(position)
        img[_shape_mask(ch.shape, xx, yy, cx, cy, r + 2.5)] = INK
        img[_shape_mask(ch.shape, xx, yy, cx, cy, r)] = ch.rgb
        for side in (-1, 1):
            ex, ey = cx + side * 0.3 * r, cy - 0.2 * r
            img[_disc(xx, yy, ex, ey, 0.14 * r)] = _WHITE
            img[_disc(xx, yy, ex, ey + 0.03 * r, 0.065 * r)] = INK
    return img


class _MouthPainter:
    """Mouth masks for one character, cached per pixel height (only a handful of distinct ones)."""

    def __init__(self, xx: np.ndarray, yy: np.ndarray, cx: float, cy: float) -> None:
        self._xx, self._yy, self._cx, self._cy = xx, yy, cx, cy
        self._cache: dict[int, np.ndarray] = {}

    def mask(self, amount: float) -> np.ndarray:
        # Closed = a 3-px line; open = an ellipse whose half-height grows with the amount.
        half_height = max(1, round(1 + amount * (MOUTH_MAX_HALF_HEIGHT - 1)))
        if half_height not in self._cache:
            dx = (self._xx - self._cx) / MOUTH_HALF_WIDTH
            dy = (self._yy - self._cy) / (half_height + 0.5)
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
