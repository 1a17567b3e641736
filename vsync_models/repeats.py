"""``--repeat N``: every item asked N times; how much of a score is luck.

One test per item keeps the denominator and the synchrony gain of a plain run
(repeat 0 is the plain request, and its answer is the record's ``outcome``); the
repeats ride in the record. The test passes only when every repeat is correct, as
with CircularEval. Per level × modality the report shows the accuracy of each
repeat (mean and spread), pass@k (any of k right) and pass^k (all k right), and
lists the *flaky* items: those whose answers differ between repeats.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vsync_models.evaluate import circular_verdict
from vsync_models.stats import pass_at_k, pass_hat_k
from vsync_models.types import MODALITY_ORDER, ItemResult, Outcome

__all__ = [
    "RepeatGroup",
    "format_repeats",
    "repeat_record",
    "repeat_verdict",
    "repeats_warning",
    "summarize_repeats",
]


def repeat_verdict(results: Sequence[ItemResult]) -> ItemResult:
    """The repeat that decides the test: the first error, else the first not-correct one, else repeat 0."""
    return circular_verdict(list(results))


def repeat_record(results: Sequence[ItemResult]) -> dict[str, Any]:
    """Repeat 0's ordinary record, the repeat verdict, and a compact line per repeat."""
    record = results[0].to_record()
    record["repeat_outcome"] = repeat_verdict(results).outcome.value
    record["repeats"] = [
        {
            "repeat": r.provenance.get("repeat", i),
            "prediction": r.answer.letter if r.answer else None,
            "outcome": r.outcome.value,
            "raw_response": r.response.text,
            "extraction_rule": r.answer.rule if r.answer else None,
            "latency_s": round(r.response.latency_s, 4),
            "usage": r.response.usage,
            "cached": r.response.cached,
            "error": r.response.error,
        }
        for i, r in enumerate(results)
    ]
    answered = [r for r in results if r.outcome is not Outcome.ERROR]
    record["flaky"] = len({(r.answer.letter if r.answer else None) for r in answered}) > 1
    return record


def repeats_warning(fingerprint: Mapping[str, Any], n: int) -> str | None:
    """Repeats of a deterministic model are identical: say so instead of reporting a spread of zero."""
    if n <= 1:
        return None
    if fingerprint.get("kind") in ("constant", "av_sync"):
        reason = "this model is deterministic"
    elif "temperature" in fingerprint and not (fingerprint["temperature"] or 0) > 0:
        reason = "greedy decoding (temperature 0 or unset)"
    else:
        return None
    return (
        f"--repeat {n}: {reason}, so the repeats will give identical answers "
        "unless sampling is on (models.<name>.temperature > 0)"
    )


@dataclass(frozen=True)
class RepeatGroup:
    """Repeat statistics of one level × modality over the items answered in every repeat."""

    level: int
    modality: str
    repeats: int
    items: int
    accuracies: tuple[float, ...]
    """Accuracy of each repeat, in [0, 1]."""
    pass_at_k: float
    pass_hat_k: float
    flaky: tuple[str, ...]
    """Ids of items whose answers differ between repeats."""

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def spread(self) -> float:
        """Sample standard deviation of the per-repeat accuracies (0 with one repeat)."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0


def summarize_repeats(records: Iterable[Mapping[str, Any]]) -> list[RepeatGroup]:
    """One group per level × modality of records that carry ``repeats``; items with an error in any
    repeat are left out (like errors everywhere, they are the infrastructure's)."""
    buckets: dict[tuple[int, str], list[Mapping[str, Any]]] = {}
    for rec in records:
        reps = rec.get("repeats")
        if not reps or any(r["outcome"] == "error" for r in reps):
            continue
        buckets.setdefault((int(rec.get("level") or 1), str(rec["modality"])), []).append(rec)
    groups = []
    for (level, modality), recs in sorted(
        buckets.items(), key=lambda kv: (kv[0][0], MODALITY_ORDER.get(kv[0][1], 9))
    ):
        n = min(len(r["repeats"]) for r in recs)
        correct = [[rep["outcome"] == "correct" for rep in r["repeats"][:n]] for r in recs]
        accuracies = tuple(sum(row[i] for row in correct) / len(recs) for i in range(n))
        groups.append(
            RepeatGroup(
                level=level,
                modality=modality,
                repeats=n,
                items=len(recs),
                accuracies=accuracies,
                pass_at_k=statistics.fmean(pass_at_k(n, sum(row), n) for row in correct),
                pass_hat_k=statistics.fmean(pass_hat_k(n, sum(row), n) for row in correct),
                flaky=tuple(f"{r['id']}-{modality}" for r in recs if r.get("flaky")),
            )
        )
    return groups


def format_repeats(groups: Sequence[RepeatGroup], limit: int | None = 20) -> list[str]:
    """Plain-text lines for the terminal and the HTML report."""
    if not groups:
        return []
    out = []
    for g in groups:
        out.append(
            f"level {g.level} {g.modality}: {g.repeats} repeats x {g.items} items: "
            f"accuracy {100 * g.mean:.1f}% mean, sd {100 * g.spread:.1f} "
            f"(min {100 * min(g.accuracies):.1f}, max {100 * max(g.accuracies):.1f}); "
            f"pass@{g.repeats} {100 * g.pass_at_k:.1f}%, pass^{g.repeats} {100 * g.pass_hat_k:.1f}%; "
            f"{len(g.flaky)} flaky"
        )
        if g.flaky:
            shown = g.flaky if limit is None else g.flaky[:limit]
            more = len(g.flaky) - len(shown)
            out.append(
                "  flaky (answers differ between repeats): "
                + ", ".join(shown)
                + (f" (+{more} more)" if more else "")
            )
    return out
