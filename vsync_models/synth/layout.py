"""Where everything sits on screen: one fixed layout, so a pixel-reading model can find it.

Every coordinate here is in pixels of the 320x240 frame, ``(x0, y0, x1, y1)`` boxes half-open
(``x0 <= x < x1``). The package docstring describes the same layout in words.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BACKGROUND",
    "CHARACTER_RADIUS",
    "CHARACTER_Y",
    "FPS",
    "HEIGHT",
    "INK",
    "MOUTH_HALF_WIDTH",
    "MOUTH_MAX_HALF_HEIGHT",
    "POSITIONS",
    "PROP_BOXES",
    "ROSTER",
    "SHELF_Y",
    "WIDTH",
    "Box",
    "Character",
    "character_centre",
    "eye_box",
    "mouth_box",
    "mouth_centre",
]

WIDTH = 320
HEIGHT = 240
FPS = 25

BACKGROUND = (236, 228, 210)
INK = (35, 25, 25)

Box = tuple[int, int, int, int]

SHELF_Y = 98
"""A 2-px ink line at ``y = 98..99`` separates the prop strip (above) from the characters (below)."""

POSITIONS = 4
CHARACTER_Y = 170
CHARACTER_RADIUS = 30
MOUTH_HALF_WIDTH = 10
MOUTH_MAX_HALF_HEIGHT = 9
_MOUTH_DY = 12  # mouth centre below the character centre

PROP_BOXES: dict[str, Box] = {
    "lamp": (0, 0, 80, SHELF_Y),
    "sign": (80, 0, 160, SHELF_Y),
    "door": (160, 0, 240, SHELF_Y),
    "ball": (240, 0, 320, SHELF_Y),
}
"""Each prop owns one quarter of the strip; its event changes pixels only inside its box."""


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
"""All four appear in every clip, in a shuffled order; colours and shapes are each unique."""


def character_centre(position: int) -> tuple[int, int]:
    """Centre of the character standing at ``position`` (0 = leftmost of four)."""
    if not 0 <= position < POSITIONS:
        raise ValueError(f"position must be in 0..{POSITIONS - 1}, got {position}")
    return WIDTH * (2 * position + 1) // (2 * POSITIONS), CHARACTER_Y


def mouth_centre(position: int) -> tuple[int, int]:
    x, y = character_centre(position)
    return x, y + _MOUTH_DY


def mouth_box(position: int) -> Box:
    """The box a fully open mouth fills (plus one pixel); nothing else dark is drawn inside it."""
    x, y = mouth_centre(position)
    return (
        x - MOUTH_HALF_WIDTH - 1,
        y - MOUTH_MAX_HALF_HEIGHT - 1,
        x + MOUTH_HALF_WIDTH + 2,
        y + MOUTH_MAX_HALF_HEIGHT + 2,
    )


def eye_box(position: int) -> tuple[int, int, int, int]:
    """The box both eyes of ``position`` fit in, wide open (for measuring who looks at the camera)."""
    cx, cy = character_centre(position)
    r = CHARACTER_RADIUS
    return (
        int(cx - 0.55 * r) - 1,
        int(cy - 0.2 * r - 0.22 * r) - 1,
        int(cx + 0.55 * r) + 2,
        int(cy - 0.2 * r + 0.22 * r) + 2,
    )
