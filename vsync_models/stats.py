"""Counting outcomes into accuracy. Errors are counted, shown, and kept out of the denominator."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally", "tally_by"]


@dataclass
class Tally:
    """Outcome counts for one group of items (a modality, a task, a whole run)."""

    correct: int = 0
    wrong: int = 0
    unparseable: int = 0
    error: int = 0
    cached: int = field(default=0, compare=False)

    def add(self, outcome: str, cached: bool = False) -> None:
        if outcome not in ("correct", "wrong", "unparseable", "error"):
            raise ValueError(f"unknown outcome {outcome!r}")
        setattr(self, outcome, getattr(self, outcome) + 1)
        self.cached += bool(cached)

    @property
    def scored(self) -> int:
        """Items the model answered (wrong and unparseable included); the accuracy denominator."""
        return self.correct + self.wrong + self.unparseable

    @property
    def total(self) -> int:
        return self.scored + self.error

    @property
    def accuracy(self) -> float | None:
        """Percent correct of the scored items, ``None`` when nothing was scored."""
        return 100.0 * self.correct / self.scored if self.scored else None


def tally_by(records: Iterable[Mapping[str, Any]], *keys: str) -> dict[tuple[Any, ...], Tally]:
    """Group result records by ``keys`` (e.g. ``"modality", "task"``) and count their outcomes."""
    groups: dict[tuple[Any, ...], Tally] = {}
    for rec in records:
        group = tuple(rec.get(k) for k in keys)
        groups.setdefault(group, Tally()).add(rec["outcome"], bool(rec.get("cached")))
    return groups
