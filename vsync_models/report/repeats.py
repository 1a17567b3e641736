"""``--repeat N``: every item asked N times; how much of a score is luck.

One test per item keeps the denominator and the synchrony gain of a plain run
(repeat 0 is the plain request, and its answer is the record's ``outcome``); the
repeats ride in the record. The test passes only when every repeat is correct, as
with CircularEval. Per level × modality the report shows the accuracy of each
repeat (mean and spread), pass@k (any of k right) and pass^k (all k right), and
lists the *flaky* items: those whose answers differ between repeats.

With ``--circular`` too, each repeat is a whole CircularEval (every rotation of the
options, each its own request and cache entry): a repeat is correct only when all its
rotations are, and pass@k, pass^k and the per-repeat accuracies count those circular
verdicts. Repeat 0 is exactly a plain ``--circular`` run, so its answers are reused.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vsync_models.record import Record
from vsync_models.report.stats import pass_at_k, pass_hat_k
from vsync_models.types import MODALITY_ORDER, Outcome

__all__ = [
    "RepeatGroup",
    "format_repeats",
    "pass_k_curves",
    "repeat_results_fields",
    "repeats_warning",
    "summarize_repeats",
]


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


def pass_k_curves(correct: Sequence[Sequence[bool]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """pass@k and pass^k for every k in 1..N, averaged over items (rows of N repeats each).

    Each is the unbiased estimator from the row's count of correct repeats, so pass@1 = pass^1 =
    the mean accuracy over repeats; pass@k can only rise with k and pass^k only fall.
    """
    if not correct:
        return (), ()
    n = len(correct[0])
    counts = [sum(row) for row in correct]
    ks = range(1, n + 1)
    at = tuple(statistics.fmean(pass_at_k(n, c, k) for c in counts) for k in ks)
    hat = tuple(statistics.fmean(pass_hat_k(n, c, k) for c in counts) for k in ks)
    return at, hat


@dataclass(frozen=True)
class RepeatGroup:
    """Repeat statistics of one level × modality over the items answered in every repeat."""

    level: int
    modality: str
    repeats: int
    items: int
    accuracies: tuple[float, ...]
    """Accuracy of each repeat, in [0, 1] (with ``--circular``: every rotation of the repeat right)."""
    pass_at: tuple[float, ...]
    """pass@k for k = 1..N (index k - 1)."""
    pass_hat: tuple[float, ...]
    """pass^k for k = 1..N (index k - 1)."""
    flaky: tuple[str, ...]
    """Ids of items whose answers differ between repeats."""
    circular: bool = False
    """Each repeat was a CircularEval."""

    @property
    def pass_at_k(self) -> float:
        """pass@N, the headline: any repeat right."""
        return self.pass_at[-1]

    @property
    def pass_hat_k(self) -> float:
        """pass^N, the headline: every repeat right."""
        return self.pass_hat[-1]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def spread(self) -> float:
        """Sample standard deviation of the per-repeat accuracies (0 with one repeat)."""
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0


def summarize_repeats(records: Iterable[Record]) -> list[RepeatGroup]:
    """One group per level × modality of records that carry repeats; items with an error in any
    repeat (or any rotation of one) are left out (like errors everywhere, they are the infrastructure's)."""
    buckets: dict[tuple[int, str], list[Record]] = {}
    for rec in records:
        if not rec.repeats or any(r.verdict is Outcome.ERROR for r in rec.repeats):
            continue
        buckets.setdefault((rec.level, rec.modality), []).append(rec)
    groups = []
    for (level, modality), recs in sorted(
        buckets.items(), key=lambda kv: (kv[0][0], MODALITY_ORDER.get(kv[0][1], 9))
    ):
        n = min(len(r.repeats or ()) for r in recs)
        correct = [[rep.verdict is Outcome.CORRECT for rep in (r.repeats or ())[:n]] for r in recs]
        accuracies = tuple(sum(row[i] for row in correct) / len(recs) for i in range(n))
        at, hat = pass_k_curves(correct)
        groups.append(
            RepeatGroup(
                level=level,
                modality=modality,
                repeats=n,
                items=len(recs),
                accuracies=accuracies,
                pass_at=at,
                pass_hat=hat,
                flaky=tuple(f"{r.id}-{modality}" for r in recs if r.flaky),
                circular=any(rep.circular_outcome is not None for r in recs for rep in r.repeats or ()),
            )
        )
    return groups


def _curve(values: Sequence[float]) -> str:
    return " ".join(f"{k}:{100 * v:.1f}" for k, v in enumerate(values, start=1))


def format_repeats(groups: Sequence[RepeatGroup], limit: int | None = 20) -> list[str]:
    """Plain-text lines for the terminal and the HTML report: the headline (k = N), then pass@k and
    pass^k for every k on one compact line."""
    if not groups:
        return []
    out = []
    for g in groups:
        kind = " (circular: a repeat is right only if every rotation is)" if g.circular else ""
        out.append(
            f"level {g.level} {g.modality}: {g.repeats} repeats x {g.items} items{kind}: "
            f"accuracy {100 * g.mean:.1f}% mean, sd {100 * g.spread:.1f} "
            f"(min {100 * min(g.accuracies):.1f}, max {100 * max(g.accuracies):.1f}); "
            f"pass@{g.repeats} {100 * g.pass_at_k:.1f}%, pass^{g.repeats} {100 * g.pass_hat_k:.1f}%; "
            f"{len(g.flaky)} flaky"
        )
        out.append(f"  pass@k {_curve(g.pass_at)}; pass^k {_curve(g.pass_hat)}")
        if g.flaky:
            shown = g.flaky if limit is None else g.flaky[:limit]
            more = len(g.flaky) - len(shown)
            out.append(
                "  flaky (answers differ between repeats): "
                + ", ".join(shown)
                + (f" (+{more} more)" if more else "")
            )
    return out


def repeat_results_fields(group: RepeatGroup) -> dict[str, Any]:
    """Top-level fields of a level × modality's results file: pass@k and pass^k for every k, in
    percent like ``accuracy``, keyed by k (JSON keys are strings)."""
    return {
        "pass_at_k": {str(k): round(100 * v, 2) for k, v in enumerate(group.pass_at, start=1)},
        "pass_hat_k": {str(k): round(100 * v, 2) for k, v in enumerate(group.pass_hat, start=1)},
    }
