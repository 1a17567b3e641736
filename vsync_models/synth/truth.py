"""A clip's ground truth as plain JSON: what the manifest records and what the oracles read.

Kept separate from rendering so that the oracles can be run on thousands of planned clips without
drawing a frame, and on the shipped set from its manifest alone.
"""

from __future__ import annotations

from typing import Any

from vsync_models.synth.layout import (
    FPS,
    HEIGHT,
    POSITIONS,
    PROP_BOXES,
    ROSTER,
    WIDTH,
    character_centre,
    mouth_box,
)
from vsync_models.synth.plan import ClipPlan
from vsync_models.synth.speech import FittedVoice

__all__ = ["clip_truth", "layout_record"]


def layout_record() -> dict[str, Any]:
    """The fixed screen layout, once per manifest: where each position's character and mouth are,
    what each character looks like, and each prop's box."""
    return {
        "size": [WIDTH, HEIGHT],
        "fps": FPS,
        "positions": [
            {"position": p, "centre": list(character_centre(p)), "mouth_box": list(mouth_box(p))}
            for p in range(POSITIONS)
        ],
        "characters": [
            {"name": c.name, "colour": c.colour, "shape": c.shape, "rgb": list(c.rgb)} for c in ROSTER
        ],
        "props": {kind: list(box) for kind, box in PROP_BOXES.items()},
    }


def _s(frame: int) -> float:
    return round(frame / FPS, 4)


def clip_truth(plan: ClipPlan, voice: FittedVoice | None = None) -> dict[str, Any]:
    """Who stands where, heard utterances (with word timings if ``voice`` is given), every mouthing
    span (heard or not), and the events; times in seconds from the first frame."""
    utterances = []
    for slot in plan.slots:
        heard = slot.heard
        start = heard.start_frame / FPS
        record: dict[str, Any] = {
            "slot": slot.index,
            "speaker": heard.character.name,
            "text": heard.sentence,
            "start_s": _s(heard.start_frame),
            "end_s": _s(heard.end_frame),
        }
        if voice is not None:
            record["rate_wpm"] = voice.rate(heard.sentence)
            record["words"] = [
                [w.text, round(start + w.start_s, 4), round(start + w.end_s, 4)]
                for w in voice(heard.sentence).words
            ]
        utterances.append(record)
    return {
        "video_path": plan.video_path,
        "kind": plan.kind,
        "duration_s": _s(plan.n_frames),
        "n_frames": plan.n_frames,
        "cast": [{"name": c.name, "position": p} for p, c in enumerate(plan.cast)],
        "utterances": utterances,
        "mouthing": [
            {
                "slot": slot.index,
                "character": m.character.name,
                "text": m.sentence,
                "start_s": _s(m.start_frame),
                "end_s": _s(m.end_frame),
                "heard": m.heard,
            }
            for slot in plan.slots
            for m in slot.mouthing
        ],
        "events": [
            {"slot": k, "kind": e.kind, "text": e.text, "frame": e.frame, "time_s": _s(e.frame)}
            for k, e in enumerate(plan.events)
        ],
    }
