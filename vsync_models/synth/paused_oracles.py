"""Level 4's oracles: the proof that ``who_said_1fps`` needs sound and picture together.

Each oracle reads only the ground truth (an item and its clip's manifest record) cut down to one
modality's view, as :mod:`.oracles` does for level 1:

- **video** (every frame, a perfect lip reader): where each character stands and the exact second
  in which each mouth is shut, and that every mouth shapes the same sentence; never the sound.
- **audio**: the sentence and exactly when the voice is heard and when it pauses; nothing on screen.
- **text**: the question and the options.
- **late** (frames at 1 fps plus the transcript, no sound): which whole second shows each mouth
  shut, and the sentence.
- **joint**: sound and picture; the mouth shut exactly while the voice pauses. It must always be
  right, which checks the ground truth.

A single-modality oracle is the best of a panel of *learned* strategies: per option a feature
(its letter, who it names, where that character stands, which second its mouth is shut, when the
voice pauses, the sentence's length, and pairs of them), scored by how often options with the same
value were right in all *other* items (leave-one-out), so any prior the generator leaks is found.
Beside them, fixed rules: "pick the option whose feature has this value" for every value of the
single features (a fixed letter, a fixed character, a fixed place on screen, a fixed shut second).
A tie between k options counts 1/k.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from vsync_models.synth.oracles import MODALITIES, OracleResult, _credit, _loo_scores

__all__ = ["PANELS", "PausedCase", "evaluate_paused", "paused_cases"]


@dataclass(frozen=True)
class PausedCase:
    """One item seen through the ground truth; options are character names in letter order."""

    options: tuple[str, ...]
    answer: int
    sentence: str
    positions: dict[str, int]
    shut_s: dict[str, float]
    """When each character's mouth shuts (the one second it is shut starts here)."""
    span_s: tuple[float, float]
    """When the mouths move (the voice is heard inside this span only)."""
    silence_s: float
    """When the voice pauses (audio)."""


def paused_cases(items: Sequence[dict[str, Any]], clips: Sequence[dict[str, Any]]) -> list[PausedCase]:
    by_path = {c["video_path"]: c for c in clips}
    out = []
    for item in items:
        clip = by_path[item["video_path"]]
        names = [o[3:] for o in item["options"]]
        out.append(
            PausedCase(
                options=tuple(names),
                answer="ABCD".index(item["correct_answer"]),
                sentence=item.get("asr_content") or "",
                positions={c["name"]: c["position"] for c in clip["cast"]},
                shut_s={c["name"]: c["shut_s"][0] for c in clip["cast"]},
                span_s=(clip["span_s"][0], clip["span_s"][1]),
                silence_s=clip["silence_s"][0],
            )
        )
    return out


Key = Callable[[PausedCase, int], Hashable]


def _rank(c: PausedCase, i: int) -> int:
    """Video: in which second of the span the option's mouth is shut."""
    return round(c.shut_s[c.options[i]] - c.span_s[0])


def _second_seen(c: PausedCase, i: int) -> int:
    """Late fusion: the first whole second whose frame shows the option's mouth shut."""
    return math.ceil(c.shut_s[c.options[i]] - 1e-9)


def _heard(c: PausedCase) -> tuple[float, float]:
    """Audio: when the voice starts and when it pauses (a rank-0 pause delays the start)."""
    start = c.span_s[0] + (1.0 if c.silence_s == c.span_s[0] else 0.0)
    return start, c.silence_s


def _audio_rank(c: PausedCase) -> int:
    start, pause = _heard(c)
    return 0 if pause < start else round(pause - start)


_BASE: dict[str, Key] = {
    "letter": lambda c, i: i,
    "name": lambda c, i: c.options[i],
}
_VIDEO: dict[str, Key] = {
    "position": lambda c, i: c.positions[c.options[i]],
    "shut rank": _rank,
    "shut rank x position": lambda c, i: (_rank(c, i), c.positions[c.options[i]]),
    "shut rank x name": lambda c, i: (_rank(c, i), c.options[i]),
    "shut rank x letter": lambda c, i: (_rank(c, i), i),
    "position x name": lambda c, i: (c.positions[c.options[i]], c.options[i]),
    "shut time (0.1 s)": lambda c, i: round(c.shut_s[c.options[i]], 1),
    "span start x shut rank": lambda c, i: (round(c.span_s[0], 1), _rank(c, i)),
}
_AUDIO: dict[str, Key] = {
    "pause second x letter": lambda c, i: (_audio_rank(c), i),
    "pause second x name": lambda c, i: (_audio_rank(c), c.options[i]),
    "pause time x letter": lambda c, i: (math.floor(c.silence_s), i),
    "voice onset x name": lambda c, i: (round(_heard(c)[0], 1), c.options[i]),
    "sentence x letter": lambda c, i: (len(c.sentence) // 6, i),
    "sentence x name": lambda c, i: (len(c.sentence) // 6, c.options[i]),
}
_TEXT: dict[str, Key] = {
    "name x letter": lambda c, i: (c.options[i], i),
    "sentence x letter": _AUDIO["sentence x letter"],
    "sentence x name": _AUDIO["sentence x name"],
}
_LATE: dict[str, Key] = {
    "position": _VIDEO["position"],
    "second shut": _second_seen,
    "second shut x position": lambda c, i: (_second_seen(c, i), c.positions[c.options[i]]),
    "second shut x name": lambda c, i: (_second_seen(c, i), c.options[i]),
    "second shut x letter": lambda c, i: (_second_seen(c, i), i),
    "first/last shut seen": lambda c, i: (
        _second_seen(c, i) == min(_second_seen(c, k) for k in range(4)),
        _second_seen(c, i) == max(_second_seen(c, k) for k in range(4)),
    ),
    "sentence x second shut": lambda c, i: (
        len(c.sentence) // 6,
        _second_seen(c, i) - math.ceil(c.span_s[0]),
    ),
    "sentence x position": lambda c, i: (len(c.sentence) // 6, c.positions[c.options[i]]),
}
PANELS: dict[str, dict[str, Key]] = {
    "video": _BASE | _VIDEO,
    "audio": _BASE | _AUDIO,
    "text": _BASE | _TEXT,
    "late": _BASE | _LATE,
}
"""Per single modality, its strategies (name → the feature of an option that it learns)."""


_FIXED: dict[str, tuple[str, ...]] = {
    "video": ("letter", "name", "position", "shut rank"),
    "audio": ("letter", "name"),
    "text": ("letter", "name"),
    "late": ("letter", "name", "position", "second shut"),
}
"""Per modality, the single features whose every value is also tried as a fixed rule."""


def _joint(c: PausedCase) -> list[float]:
    return [float(c.shut_s[name] == c.silence_s) for name in c.options]


def evaluate_paused(cases: Sequence[PausedCase], task: str = "who_said_1fps") -> list[OracleResult]:
    """Every modality's best strategy (joint: the exact rule) over the cases."""
    results = []
    for modality in MODALITIES:
        if modality == "joint":
            acc = statistics.fmean(_credit(_joint(c), c.answer) for c in cases)
            results.append(OracleResult(task, modality, len(cases), acc, "exact", {"exact": acc}))
            continue
        accs = {}
        for name, key in PANELS[modality].items():
            keys = [[key(c, i) for i in range(len(c.options))] for c in cases]
            scores = _loo_scores(keys, list(cases))  # type: ignore[arg-type]
            accs[name] = statistics.fmean(_credit(s, c.answer) for s, c in zip(scores, cases, strict=True))
        for name in _FIXED[modality]:
            key = PANELS[modality][name]
            for value in sorted({key(c, i) for c in cases for i in range(len(c.options))}, key=repr):
                scores = [[float(key(c, i) == value) for i in range(len(c.options))] for c in cases]
                accs[f"{name} = {value}"] = statistics.fmean(
                    _credit(s, c.answer) for s, c in zip(scores, cases, strict=True)
                )
        best = max(accs, key=lambda k: (accs[k], k))
        results.append(OracleResult(task, modality, len(cases), accs[best], best, accs))
    return results
