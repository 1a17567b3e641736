"""What a perfect perceiver reaches at a model's frame sampling: the ceilings file, read.

A model that sees one frame per second cannot tell which of four moving mouths follows the sound,
however well it binds sound to picture. The ceilings file (``ceilings.json`` beside this module,
package data) holds, per level, task and modality, the accuracy a perceiver (``av_sync``) reaches
when it is handed only the frames a given :class:`~vsync_models.types.Sampling` keeps; the one
command that regenerates it is in the file. Reports show the row at the sampling the model's adapter
declares (:func:`~vsync_models.models.base.sampling_of`) as "ceiling at this model's sampling".

Nothing else reads the file. A missing file means no ceiling line anywhere; a row is found only for
exactly the model's sampling (no interpolation between rates), else there is no line either.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vsync_models.report.stats import ALL_TASKS, HEADLINE, wilson_interval
from vsync_models.types import Sampling

__all__ = ["CEILINGS_PATH", "Ceiling", "Ceilings", "ceiling_line", "dump_ceilings", "load_ceilings"]

CEILINGS_PATH = Path(__file__).with_name("ceilings.json")


@dataclass(frozen=True)
class Ceiling:
    """One row: the perceiver's accuracy on one level × task × modality at one sampling."""

    level: int
    task: str
    modality: str
    sampling: Sampling
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float

    @classmethod
    def measured(
        cls, level: int, task: str, modality: str, sampling: Sampling, n: int, correct: int
    ) -> Ceiling:
        """A row from a count: ``correct`` of ``n``, with its Wilson 95 % interval."""
        ci = wilson_interval(correct, n)
        if ci is None:
            raise ValueError(f"level {level} {task} {modality}: a ceiling needs items, got n={n}")
        return cls(level, task, modality, sampling, n, correct, correct / n, ci.low, ci.high)

    def file_row(self) -> dict[str, Any]:
        """The row as the ceilings file holds it (fractions rounded to 4 places)."""
        return {
            "level": self.level,
            "task": self.task,
            "modality": self.modality,
            "fps": self.sampling.fps,
            "max_frames": self.sampling.max_frames,
            "n": self.n,
            "correct": self.correct,
            "accuracy": round(self.accuracy, 4),
            "ci_low": round(self.ci_low, 4),
            "ci_high": round(self.ci_high, 4),
        }

    def text(self) -> str:
        """``78.6% [73.4-83.0] of 280``."""
        return f"{100 * self.accuracy:.1f}% [{100 * self.ci_low:.1f}-{100 * self.ci_high:.1f}] of {self.n}"

    def to_json(self) -> dict[str, Any]:
        """The row's numbers for a results file (in percent, as the results' accuracy is)."""
        return {
            "accuracy": round(100 * self.accuracy, 2),
            "ci": [round(100 * self.ci_low, 2), round(100 * self.ci_high, 2)],
            "n": self.n,
        }


@dataclass(frozen=True)
class Ceilings:
    """Every row of the ceilings file; empty when there is none."""

    rows: tuple[Ceiling, ...] = ()
    perceiver: str = ""
    command: str = ""
    """The command that regenerates the file."""

    def lookup(self, sampling: Sampling | None, level: int, task: str, modality: str) -> Ceiling | None:
        """The row for exactly this sampling, level, task and modality, else ``None``."""
        if sampling is None:
            return None
        for row in self.rows:
            if (row.level, row.task, row.modality) == (level, task, modality) and _same(
                row.sampling, sampling
            ):
                return row
        return None


def dump_ceilings(ceilings: Ceilings) -> str:
    """The ceilings file's text: ``{"command", "perceiver", "rows": [...]}``; read back by
    :func:`load_ceilings`."""
    body = {
        "command": ceilings.command,
        "perceiver": ceilings.perceiver,
        "rows": [row.file_row() for row in ceilings.rows],
    }
    return json.dumps(body, indent=1) + "\n"


def _same(a: Sampling, b: Sampling) -> bool:
    """The same sampling; rates compared with a tolerance (``1 / 0.5`` and ``2.0`` are one rate)."""
    if a.max_frames != b.max_frames or (a.fps is None) != (b.fps is None):
        return False
    return a.fps is None or b.fps is None or math.isclose(a.fps, b.fps, rel_tol=1e-6)


def load_ceilings(path: Path | None = None) -> Ceilings:
    """Read the ceilings file (``path``, default :data:`CEILINGS_PATH`); no file: no rows.

    A file that exists but is not a ceilings file is an error naming it (``ValueError``): a broken
    table must not silently drop the line from every report.
    """
    path = CEILINGS_PATH if path is None else Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Ceilings()
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable ceilings file ({exc})") from None
    try:
        rows = tuple(_row(raw) for raw in doc["rows"])
        return Ceilings(
            rows=rows, perceiver=str(doc.get("perceiver") or ""), command=str(doc.get("command") or "")
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a ceilings file ({type(exc).__name__}: {exc})") from None


def _row(raw: dict[str, Any]) -> Ceiling:
    fps, cap = raw["fps"], raw["max_frames"]
    return Ceiling(
        level=int(raw["level"]),
        task=str(raw["task"]),
        modality=str(raw["modality"]),
        sampling=Sampling(
            fps=None if fps is None else float(fps), max_frames=None if cap is None else int(cap)
        ),
        n=int(raw["n"]),
        correct=int(raw["correct"]),
        accuracy=float(raw["accuracy"]),
        ci_low=float(raw["ci_low"]),
        ci_high=float(raw["ci_high"]),
    )


def ceiling_line(
    ceilings: Ceilings, sampling: Sampling | None, level: int, modalities: list[str]
) -> str | None:
    """``ceiling at this model's sampling: level 1 headline (1 fps, <= 8 frames; av_sync): avt 78.6% [...]
    of 178, ...``: the pooled rows of ``level`` for ``modalities``, its ``headline`` rows (the tasks that
    do not leak to late fusion) where it has them, else ``all``; ``None`` when none exists."""
    for task in (HEADLINE, ALL_TASKS):
        found = [(m, ceilings.lookup(sampling, level, task, m)) for m in modalities]
        parts = [f"{m} {row.text()}" for m, row in found if row is not None]
        if parts:
            break
    if not parts or sampling is None:
        return None
    who = f"; {ceilings.perceiver}" if ceilings.perceiver else ""
    name = f"level {level}" + (" headline" if task == HEADLINE else "")
    return f"ceiling at this model's sampling: {name} ({sampling.label}{who}): {', '.join(parts)}"
