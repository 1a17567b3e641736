"""Synthetic clips with exact ground truth: who says which word when.

The pieces are separate so later levels can reuse them: :mod:`.tts` (speech + word timings),
:mod:`.render` (cartoon speakers whose mouths follow their own speech), :mod:`.encode` (a
byte-reproducible mp4) and one module per dataset level (:mod:`.level1`). Run
``python -m vsync_models.synth generate --help`` to build a set.
"""

from __future__ import annotations

__all__ = ["GENERATOR_VERSION", "generate"]

from vsync_models.synth.level1 import GENERATOR_VERSION, generate
