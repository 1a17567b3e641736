"""The four props in the top strip and the one-off event each can show.

One event per prop per clip, each a change that a frame difference inside the prop's box finds:
the lamp's bulb lights up, the sign's board turns a colour, the door swings open, the ball's string
vanishes and the ball falls to the shelf. After its event a prop keeps its new look, so "what
happened" stays visible in later frames too; the event's time is the first changed frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vsync_models.synth.layout import FPS, INK, SHELF_Y

__all__ = [
    "BALL_FALL_FRAMES",
    "EVENT_KINDS",
    "SIGN_COLOURS",
    "Event",
    "PropState",
    "draw_props",
    "prop_state",
]

EVENT_KINDS: tuple[str, ...] = ("lamp", "sign", "door", "ball")

SIGN_COLOURS: dict[str, tuple[int, int, int]] = {
    "purple": (130, 60, 180),
    "pink": (240, 120, 180),
    "teal": (0, 150, 150),
}
_SIGN_BLANK = (246, 246, 246)

BALL_FALL_FRAMES = 8
"""Frames the ball takes from its string to the shelf (0.32 s); its event frame is the first."""

_LAMP_CENTRE, _LAMP_R = (40, 34), 13
_LAMP_OFF, _LAMP_ON, _HALO = (150, 150, 150), (255, 222, 40), (252, 236, 150)
_SIGN = (92, 14, 148, 58)
_DOOR = (178, 16, 222, SHELF_Y)
_DOOR_WOOD, _DOOR_DARK, _KNOB = (150, 95, 45), (40, 36, 56), (240, 200, 60)
_BALL_X, _BALL_TOP, _BALL_R = 280, 24, 10
_BALL_REST = SHELF_Y - _BALL_R - 1
_BALL = (190, 40, 160)


@dataclass(frozen=True)
class Event:
    """A prop's change at a known frame; :attr:`text` is how questions and options name it."""

    kind: str
    frame: int
    colour: str | None = None
    """The sign's new colour (sign events only)."""

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")
        if (self.kind == "sign") != (self.colour in SIGN_COLOURS):
            raise ValueError(f"a sign event needs a colour from {sorted(SIGN_COLOURS)}, others none")

    @property
    def time_s(self) -> float:
        return self.frame / FPS

    @property
    def text(self) -> str:
        return {
            "lamp": "the lamp turned on",
            "sign": f"the sign turned {self.colour}",
            "door": "the door opened",
            "ball": "the ball dropped",
        }[self.kind]


@dataclass(frozen=True)
class PropState:
    """What the strip shows in one frame; equal states draw identical pixels."""

    lamp_on: bool = False
    sign_colour: str | None = None
    door_open: bool = False
    ball_step: int = -1
    """-1 while hanging, then frames since the drop (capped once the ball rests)."""


def prop_state(events: Sequence[Event], frame: int) -> PropState:
    state: dict[str, object] = {}
    for ev in events:
        if frame < ev.frame:
            continue
        if ev.kind == "lamp":
            state["lamp_on"] = True
        elif ev.kind == "sign":
            state["sign_colour"] = ev.colour
        elif ev.kind == "door":
            state["door_open"] = True
        else:
            state["ball_step"] = min(frame - ev.frame, BALL_FALL_FRAMES)
    return PropState(**state)  # type: ignore[arg-type]


def ball_y(step: int) -> int:
    """Ball centre height: hanging, then falling with constant acceleration onto the shelf."""
    if step < 0:
        return _BALL_TOP
    t = (step + 1) / BALL_FALL_FRAMES
    return min(_BALL_REST, round(_BALL_TOP + (_BALL_REST - _BALL_TOP) * t * t))


def draw_props(img: np.ndarray, state: PropState) -> None:
    """Paint the strip above the shelf line (and the line) into ``img`` in place."""
    yy, xx = np.mgrid[0 : SHELF_Y + 2, 0 : img.shape[1]]
    strip = img[: SHELF_Y + 2]
    strip[SHELF_Y:] = INK

    # Lamp: base, pole, bulb (grey, or yellow with a halo when on).
    strip[90:96, 26:54] = INK
    strip[47:92, 38:43] = INK
    cx, cy = _LAMP_CENTRE
    d2 = (xx - cx) ** 2 + (yy - cy) ** 2
    if state.lamp_on:
        strip[(d2 <= 21**2) & (d2 > 16**2)] = _HALO
    strip[d2 <= (_LAMP_R + 2) ** 2] = INK
    strip[d2 <= _LAMP_R**2] = _LAMP_ON if state.lamp_on else _LAMP_OFF

    # Sign: a post and a framed board.
    x0, y0, x1, y1 = _SIGN
    strip[y1:SHELF_Y, 118:123] = INK
    strip[y0:y1, x0:x1] = INK
    colour = SIGN_COLOURS[state.sign_colour] if state.sign_colour else _SIGN_BLANK
    strip[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = colour

    # Door: a frame holding a wooden panel with a knob; open shows the dark room and a thin panel.
    x0, y0, x1, y1 = _DOOR
    strip[y0:y1, x0:x1] = INK
    if state.door_open:
        strip[y0 + 2 : y1, x0 + 2 : x1 - 2] = _DOOR_DARK
        strip[y0 + 2 : y1, x0 + 2 : x0 + 9] = _DOOR_WOOD
    else:
        strip[y0 + 2 : y1, x0 + 2 : x1 - 2] = _DOOR_WOOD
        strip[((xx - 213) ** 2 + (yy - 58) ** 2) <= 9] = _KNOB

    # Ball: hangs on a string, then falls to the shelf.
    if state.ball_step < 0:
        strip[0 : _BALL_TOP - _BALL_R, _BALL_X - 1 : _BALL_X + 1] = INK
    by = ball_y(state.ball_step)
    d2 = (xx - _BALL_X) ** 2 + (yy - by) ** 2
    strip[d2 <= (_BALL_R + 1) ** 2] = INK
    strip[d2 <= _BALL_R**2] = _BALL
