"""Level-2/3 metrics beside accuracy: how close the times were, and when the model would speak.

Level 2 (per modality): over interval items, the **mean IoU** and **R@0.3/0.5/0.7** (the share
with IoU at least that; an unparseable answer counts as IoU 0, as it would as a wrong answer);
over instant items, the **mean absolute error** in seconds of the answers that could be read
(how many could is shown beside it: an error over a few parsed answers says little).

Level 3 (per modality): besides accuracy, the **first-"yes" timing error** per clip: the cut at
which the model first says "yes" minus the first cut at which it should have. Negative is an
*interruption* (too early), positive *latency* (too late); they are reported separately, with
the clips answered on time and those where the model never said yes (missed). Clips without a
right moment are left out.

Reads :class:`~vsync_models.record.Record` s only (their answer type, measure, group and cut).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from vsync_models.record import Record
from vsync_models.types import MODALITY_ORDER, Outcome

__all__ = ["RECALL_AT", "GroundingMetrics", "TurnMetrics", "format_timing", "timing_metrics"]

RECALL_AT = (0.3, 0.5, 0.7)


@dataclass(frozen=True)
class GroundingMetrics:
    """Level 2, one modality."""

    level: int
    modality: str
    intervals: int
    mean_iou: float | None
    recall: dict[float, float] = field(default_factory=dict)
    instants: int = 0
    parsed_instants: int = 0
    mae_s: float | None = None


@dataclass(frozen=True)
class TurnMetrics:
    """Level 3, one modality: first-"yes" timing over the clips that have a right moment."""

    level: int
    modality: str
    clips: int
    on_time: int
    early_s: tuple[float, ...]
    """Per interrupting clip, how many seconds too early (positive numbers)."""
    late_s: tuple[float, ...]
    """Per late clip, how many seconds too late."""
    missed: int

    @property
    def mean_interruption_s(self) -> float | None:
        return statistics.fmean(self.early_s) if self.early_s else None

    @property
    def mean_latency_s(self) -> float | None:
        return statistics.fmean(self.late_s) if self.late_s else None


def _grounding(level: int, modality: str, recs: list[Record]) -> GroundingMetrics | None:
    intervals = [float(r.measure or 0.0) for r in recs if r.answer_type == "interval"]
    instants = [r for r in recs if r.answer_type == "instant"]
    errors = [float(r.measure) for r in instants if r.measure is not None]
    if not intervals and not instants:
        return None
    return GroundingMetrics(
        level=level,
        modality=modality,
        intervals=len(intervals),
        mean_iou=statistics.fmean(intervals) if intervals else None,
        recall={t: sum(x >= t for x in intervals) / len(intervals) for t in RECALL_AT} if intervals else {},
        instants=len(instants),
        parsed_instants=len(errors),
        mae_s=statistics.fmean(errors) if errors else None,
    )


def _turns(level: int, modality: str, recs: list[Record]) -> TurnMetrics | None:
    by_clip: dict[str, list[Record]] = {}
    for r in recs:
        if r.answer_type == "yesno" and r.group is not None and r.cut_s is not None:
            by_clip.setdefault(r.group, []).append(r)
    if not by_clip:
        return None
    clips = on_time = missed = 0
    early: list[float] = []
    late: list[float] = []
    for cuts in by_clip.values():
        cuts = sorted(cuts, key=lambda r: float(r.cut_s or 0.0))
        truth = next((float(r.cut_s or 0.0) for r in cuts if r.answer == "yes"), None)
        if truth is None:
            continue
        clips += 1
        said = next((float(r.cut_s or 0.0) for r in cuts if r.prediction == "yes"), None)
        if said is None:
            missed += 1
        elif said < truth:
            early.append(round(truth - said, 4))
        elif said > truth:
            late.append(round(said - truth, 4))
        else:
            on_time += 1
    return TurnMetrics(level, modality, clips, on_time, tuple(early), tuple(late), missed)


def timing_metrics(records: Iterable[Record]) -> list[GroundingMetrics | TurnMetrics]:
    """Every level x modality that has time or turn-taking items, levels in order, avt first."""
    buckets: dict[tuple[int, str], list[Record]] = {}
    for r in records:
        if r.outcome is Outcome.ERROR or r.answer_type in (None, "choice"):
            continue
        buckets.setdefault((r.level, r.modality), []).append(r)
    out: list[GroundingMetrics | TurnMetrics] = []
    for level, modality in sorted(buckets, key=lambda k: (k[0], MODALITY_ORDER.get(k[1], 9), k[1])):
        recs = buckets[(level, modality)]
        for metric in (_grounding(level, modality, recs), _turns(level, modality, recs)):
            if metric is not None:
                out.append(metric)
    return out


def _s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def format_timing(metrics: Iterable[GroundingMetrics | TurnMetrics]) -> list[str]:
    """One line per level x modality, under the accuracy table."""
    lines: list[str] = []
    for m in metrics:
        head = f"  level {m.level} {m.modality:<3}"
        if isinstance(m, GroundingMetrics):
            parts = []
            if m.intervals:
                recall = " ".join(f"R@{t:g} {100 * r:.1f}%" for t, r in m.recall.items())
                parts.append(f"intervals n={m.intervals}: mean IoU {m.mean_iou:.2f}, {recall}")
            if m.instants:
                parts.append(f"instants n={m.instants}: MAE {_s(m.mae_s)} over {m.parsed_instants} parsed")
            lines.append(f"{head}  " + "; ".join(parts))
        else:
            lines.append(
                f"{head}  first yes over {m.clips} clips: on time {m.on_time}, "
                f"too early (interruption) {len(m.early_s)} mean {_s(m.mean_interruption_s)}, "
                f"too late (latency) {len(m.late_s)} mean {_s(m.mean_latency_s)}, never {m.missed}"
            )
    if lines:
        lines.insert(0, "timing (levels 2/3):")
    return lines
