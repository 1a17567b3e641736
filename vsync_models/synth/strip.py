"""A contact sheet of one clip: what a reader (or a reviewer of the README) needs to see to get
what the items look like, one frame per moment worth seeing, each labelled with its time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from vsync_models.synth.layout import FPS
from vsync_models.synth.measure import decode

__all__ = ["frame_strip", "interesting_frames"]


def interesting_frames(clip: dict[str, Any]) -> list[int]:
    """Per slot: the middle of the heard sentence and the event frame (from a manifest record)."""
    frames = []
    for u, e in zip(clip["utterances"], clip["events"], strict=True):
        frames += [round((u["start_s"] + u["end_s"]) / 2 * FPS), e["frame"]]
    return sorted(frames)


def frame_strip(path: Path, frames: Sequence[int], columns: int = 4, scale: int = 1) -> Image.Image:
    """Tile the given frames of the clip at ``path``, ``columns`` per row, each with its time."""
    video, _, _ = decode(path)
    tiles = []
    for index in frames:
        tile = Image.fromarray(np.ascontiguousarray(video[min(index, len(video) - 1)]))
        ImageDraw.Draw(tile).text((4, 226), f"t = {index / FPS:.2f} s", fill=(35, 25, 25))
        tiles.append(tile)
    w, h = tiles[0].size
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (columns * w + (columns - 1) * 4, rows * h + (rows - 1) * 4), (255, 255, 255))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % columns) * (w + 4), (i // columns) * (h + 4)))
    return sheet.resize((sheet.width * scale, sheet.height * scale), Image.NEAREST) if scale > 1 else sheet
