"""Counting outcomes into accuracy, and the statistics that say how far to trust it.

Errors are counted, shown, and kept out of every denominator: they are the
infrastructure's, not the model's. Everything here works on proportions in
``[0, 1]``; :class:`Tally` alone speaks percent, because the results file does.

* :func:`wilson_interval` — the score interval for one proportion (good at small n
  and near 0 or 1, where the textbook normal interval is not).
* :func:`clustered_interval` — the same, with the sample size shrunk by the design
  effect of items that share a clip (their answers are correlated).
* :func:`paired_bootstrap` — percentile CI of any statistic of per-condition
  accuracies over the *same* items, resampling clips; used for the synchrony gain
  and for run-to-run differences.
* :func:`mcnemar` — exact (small n) or continuity-corrected chi-square test of
  paired correct/not-correct changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np

from vsync_models.data.levels import LATE_FUSION_LEAKS, guess_chance
from vsync_models.record import Record
from vsync_models.report.timing_metrics import timing_metrics
from vsync_models.types import MODALITY_ORDER, Outcome

__all__ = [
    "ALL_TASKS",
    "DEFAULT_SEED",
    "HEADLINE",
    "Chance",
    "Estimate",
    "GainSummary",
    "GroupSummary",
    "Interval",
    "McNemarResult",
    "RunSummary",
    "Tally",
    "chance_of",
    "clustered_interval",
    "mcnemar",
    "paired_bootstrap",
    "pass_at_k",
    "pass_hat_k",
    "summarize",
    "synchrony_gain",
    "tally_by",
    "wilson_interval",
]

DEFAULT_SEED = 0
"""Bootstrap seed: the same records always give the same intervals."""
DEFAULT_BOOTSTRAP = 2000
MCNEMAR_EXACT_BELOW = 25
"""Discordant pairs below which McNemar uses the exact binomial test (the usual rule of thumb)."""
ALL_TASKS = "all"
HEADLINE = "headline"
"""The task name of a level's headline rows: every task of the level that does not leak to late
fusion (:data:`~vsync_models.data.levels.LATE_FUSION_LEAKS`). Only a level with a leaking task has
them; there they are the level's headline number, ``all`` still every task."""


@dataclass
class Tally:
    """Outcome counts for one group of items (a modality, a task, a whole run)."""

    correct: int = 0
    wrong: int = 0
    unparseable: int = 0
    error: int = 0
    cached: int = field(default=0, compare=False)

    def add(self, outcome: Outcome | str, cached: bool = False) -> None:
        try:
            name = Outcome(outcome).value
        except ValueError:
            raise ValueError(f"unknown outcome {outcome!r}") from None
        setattr(self, name, getattr(self, name) + 1)
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


def _outcome_of(record: Record, circular: bool = False) -> Outcome | None:
    """The outcome a table counts: the plain one, or with ``circular`` the CircularEval one (``None``
    when the record has none)."""
    return record.circular_outcome if circular else record.outcome


def tally_by(
    records: Iterable[Record], key: Callable[[Record], Hashable] = lambda r: (), circular: bool = False
) -> dict[Hashable, Tally]:
    """Group records by ``key`` (e.g. ``lambda r: r.modality``) and count their outcomes.

    ``circular=True`` counts CircularEval outcomes; records without one are left out.
    """
    groups: dict[Hashable, Tally] = {}
    for rec in records:
        outcome = _outcome_of(rec, circular)
        if outcome is None:
            continue
        groups.setdefault(key(rec), Tally()).add(outcome, rec.cached)
    return groups


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval of a proportion or a difference of proportions."""

    low: float
    high: float


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _wilson(successes: float, n: float, z: float) -> Interval:
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval for ``successes`` of ``n``; ``None`` when ``n`` is 0."""
    if successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    return _wilson(successes, n, _z(confidence)) if n else None


@dataclass(frozen=True)
class ClusteredInterval:
    """A cluster-robust interval, with what it was derived from (for the report's footnote)."""

    interval: Interval
    clusters: int
    design_effect: float
    """Variance inflation from correlated items of a clip; 1.0 means "as if independent"."""


def clustered_interval(
    clusters: Iterable[tuple[int, int]], confidence: float = 0.95
) -> ClusteredInterval | None:
    """Wilson interval on the effective sample size ``n / deff``, given ``(correct, scored)`` per clip.

    Questions about one clip are not independent (a model that cannot see a clip's
    speaker fails all of them), so treating them as independent overstates certainty.
    The design effect is the cluster-robust (sandwich) variance of the ratio estimator
    over the binomial one; it is floored at 1 (Korn & Graubard), so clustering can only
    widen the Wilson interval, and clips holding one item each give exactly Wilson.
    """
    pairs = [(int(k), int(m)) for k, m in clusters if m > 0]
    n = sum(m for _, m in pairs)
    if n == 0:
        return None
    k = sum(c for c, _ in pairs)
    p = k / n
    var_srs = p * (1 - p) / n
    var_cluster = sum((c - p * m) ** 2 for c, m in pairs) / (n * n)
    deff = max(1.0, var_cluster / var_srs) if var_srs > 0 else 1.0
    n_eff = n / deff
    return ClusteredInterval(_wilson(p * n_eff, n_eff, _z(confidence)), len(pairs), deff)


# --------------------------------------------------------------------------- paired tests


@dataclass(frozen=True)
class McNemarResult:
    """Paired test of ``b`` (correct → not correct) against ``c`` (not correct → correct)."""

    b: int
    c: int
    p_value: float
    method: str
    """``"exact"`` (two-sided binomial) or ``"chi2"`` (with continuity correction)."""


def mcnemar(b: int, c: int, exact: bool | None = None) -> McNemarResult:
    """McNemar's test on the discordant pairs; exact below 25 of them unless told otherwise.

    The continuity-corrected chi-square is the large-sample stand-in for the exact
    binomial test, so the switch at 25 moves p-values little; the uncorrected one
    would be more liberal than the exact test it replaces.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return McNemarResult(b, c, 1.0, "exact")
    if exact is None:
        exact = n < MCNEMAR_EXACT_BELOW
    if exact:
        tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
        return McNemarResult(b, c, min(1.0, 2 * tail), "exact")
    statistic = (abs(b - c) - 1) ** 2 / n if abs(b - c) > 1 else 0.0
    return McNemarResult(b, c, math.erfc(math.sqrt(statistic / 2)), "chi2")


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a bootstrap percentile interval, over ``n`` paired items."""

    value: float
    interval: Interval
    n: int
    clusters: int


def paired_bootstrap(
    columns: np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    clusters: Sequence[Hashable] | None = None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    rng: np.random.Generator | None = None,
) -> Estimate | None:
    """Percentile bootstrap of ``statistic(accuracies)`` over paired items.

    ``columns`` is ``(items, conditions)`` of 0/1 (one row per item, one column per
    modality or run); ``statistic`` maps a ``(draws, conditions)`` array of accuracies
    to ``(draws,)``. Whole clips are resampled (each item is its own clip when
    ``clusters`` is ``None``), so every draw keeps items paired across conditions and
    keeps a clip's correlated items together.
    """
    x = np.asarray(columns, dtype=float)
    if x.ndim != 2:
        raise ValueError("columns must be a 2-d array (items, conditions)")
    if len(x) == 0:
        return None
    rng = rng if rng is not None else np.random.default_rng(DEFAULT_SEED)
    keys = list(range(len(x))) if clusters is None else list(clusters)
    if len(keys) != len(x):
        raise ValueError("one cluster key per item is needed")
    index: dict[Hashable, int] = {}
    codes = np.array([index.setdefault(key, len(index)) for key in keys])
    n_clusters = len(index)
    sums = np.zeros((n_clusters, x.shape[1]))
    np.add.at(sums, codes, x)
    sizes = np.bincount(codes, minlength=n_clusters).astype(float)
    weights = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=n_boot)
    draws = (weights @ sums) / (weights @ sizes)[:, None]
    values = np.asarray(statistic(draws), dtype=float)
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2])
    point = float(np.asarray(statistic(x.mean(axis=0)[None, :]), dtype=float)[0])
    return Estimate(point, Interval(float(low), float(high)), len(x), n_clusters)


def _gain(acc: np.ndarray) -> np.ndarray:
    return acc[:, 0] - np.maximum(acc[:, 1], acc[:, 2])


def synchrony_gain(
    records: Iterable[Record],
    circular: bool = False,
    n_boot: int = DEFAULT_BOOTSTRAP,
    rng: np.random.Generator | None = None,
) -> Estimate | None:
    """acc(avt) − max(acc(vt), acc(at)) over the items scored in all three, with a paired CI.

    Only items the model answered in every modality take part (an error in one
    modality would otherwise change which items each accuracy is computed on).
    ``None`` unless at least one item was scored in all three.
    """
    by_item: dict[tuple[int, str], dict[str, bool]] = {}
    clip: dict[tuple[int, str], str] = {}
    for rec in records:
        outcome = _outcome_of(rec, circular)
        if outcome is None or outcome is Outcome.ERROR or rec.modality not in MODALITY_ORDER:
            continue
        by_item.setdefault(rec.key, {})[rec.modality] = outcome is Outcome.CORRECT
        clip[rec.key] = rec.cluster  # level 3: the cuts of one clip
    keys = [k for k, seen in by_item.items() if len(seen) == 3]
    if not keys:
        return None
    columns = np.array([[by_item[k][m] for m in ("avt", "vt", "at")] for k in keys], dtype=float)
    return paired_bootstrap(columns, _gain, [clip[k] for k in keys], n_boot=n_boot, rng=rng)


# --------------------------------------------------------------------------- run summary


def _kind(rec: Record) -> str:
    if rec.answer_type in (None, "choice"):
        return f"choice of {len(rec.options)}"
    return "yes/no" if rec.answer_type == "yesno" else str(rec.answer_type)


@dataclass(frozen=True)
class Chance:
    """What uniform guessing scores on a row's items (:func:`~vsync_models.data.levels.guess_chance`).

    A row that mixes kinds of question (level 3's ``all``: yes/no and three-way choices) gets the
    mean over its items, i.e. each kind weighted by its count; :attr:`kinds` says the mix. Items
    without a chance level (time answers) are counted in :attr:`without` and left out of the mean.
    """

    value: float
    kinds: tuple[tuple[str, int, float], ...]
    """(kind, items, chance) per kind of question, e.g. ``("yes/no", 96, 0.5)``."""
    without: int = 0
    """Items with no chance level (time answers), not in :attr:`value`."""

    @property
    def mixed(self) -> bool:
        return len(self.kinds) > 1

    def describe(self) -> str:
        """``50.0%``; a mix: ``46.7% (weighted: 24 choice of 3 at 33.3%, 96 yes/no at 50.0%)``."""
        text = f"{100 * self.value:.1f}%"
        parts = [f"{n} {kind} at {100 * p:.1f}%" for kind, n, p in self.kinds] if self.mixed else []
        if self.without:
            parts.append(f"{self.without} time answers have none")
        if parts:
            text += f" ({'weighted: ' if self.mixed else ''}{', '.join(parts)})"
        return text


def chance_of(records: Iterable[Record]) -> Chance | None:
    """The chance level of these items (one answer each counted), or ``None`` if none has one."""
    kinds: dict[str, list[float]] = {}
    without = 0
    for rec in records:
        p = guess_chance(rec.answer_type, len(rec.options))
        if p is None:
            without += 1
        else:
            kinds.setdefault(_kind(rec), []).append(p)
    values = [p for ps in kinds.values() for p in ps]
    if not values:
        return None
    listed = tuple((kind, len(ps), sum(ps) / len(ps)) for kind, ps in sorted(kinds.items()))
    return Chance(sum(values) / len(values), listed, without)


@dataclass(frozen=True)
class GroupSummary:
    """One row of the accuracy table: a level × modality × task (``task="all"`` for the whole)."""

    level: int
    modality: str
    task: str
    tally: Tally
    wilson: Interval | None
    clustered: ClusteredInterval | None
    circular: Tally | None = None
    circular_clustered: ClusteredInterval | None = None
    chance: Chance | None = None
    """Expected accuracy of uniform guessing over the row's items, weighted by kind of question."""
    leak: str | None = None
    """Why this task needs no binding of sound to picture (late fusion answers it), if it leaks."""

    @property
    def ci(self) -> Interval | None:
        """The interval to quote: cluster-robust (equal to Wilson when no clip is shared)."""
        return self.clustered.interval if self.clustered else self.wilson


@dataclass(frozen=True)
class GainSummary:
    """The synchrony gain of one level (and task), plain and, with ``--circular``, circular."""

    level: int
    task: str
    plain: Estimate
    circular: Estimate | None = None
    leak: str | None = None
    """As :attr:`GroupSummary.leak`."""


@dataclass(frozen=True)
class RunSummary:
    groups: list[GroupSummary]
    gains: list[GainSummary]
    timing: list[Any] = field(default_factory=list)
    """Levels 2/3: :mod:`vsync_models.report.timing_metrics` (IoU, errors, first-"yes" timing)."""

    @property
    def circular(self) -> bool:
        return any(g.circular is not None for g in self.groups)

    @property
    def headline_levels(self) -> set[int]:
        """The levels whose headline is their :data:`HEADLINE` rows (some task of theirs leaks)."""
        return {g.level for g in self.groups if g.task == HEADLINE}

    def headline(self) -> list[tuple[str, str]]:
        """``accuracy.level1.avt`` (percent, 95 % CI, n) and ``synchrony_gain.level1`` (points, CI,
        n), as the key = value facts of reports that cannot show a table (Allure, JUnit). A level
        with a leaking task gives its :data:`HEADLINE` rows there, and every task's under
        ``accuracy.level1.avt.all`` / ``synchrony_gain.level1.all``."""
        split = self.headline_levels
        out = []
        for g in self.groups:
            if g.task not in (ALL_TASKS, HEADLINE) or not g.tally.scored:
                continue
            ci = f" [95% CI {100 * g.ci.low:.1f}-{100 * g.ci.high:.1f}]" if g.ci else ""
            acc = f"{100 * g.tally.correct / g.tally.scored:.1f}%"
            key = f"accuracy.level{g.level}.{g.modality}" + (
                ".all" if g.task == ALL_TASKS and g.level in split else ""
            )
            out.append((key, f"{acc}{ci} n={g.tally.scored}"))
        for gain in self.gains:
            if gain.task in (ALL_TASKS, HEADLINE):
                p = gain.plain
                key = f"synchrony_gain.level{gain.level}" + (
                    ".all" if gain.task == ALL_TASKS and gain.level in split else ""
                )
                out.append(
                    (
                        key,
                        f"{100 * p.value:+.1f} points [95% CI {100 * p.interval.low:+.1f}, "
                        f"{100 * p.interval.high:+.1f}] n={p.n}",
                    )
                )
        return sorted(out, key=lambda kv: (kv[0].startswith("synchrony"), kv[0]))


def _clusters(records: Sequence[Record], circular: bool) -> list[tuple[int, int]]:
    per_clip: dict[str, list[int]] = {}
    for rec in records:
        outcome = _outcome_of(rec, circular)
        if outcome is None or outcome is Outcome.ERROR:
            continue
        # a level-3 clip's cuts are separate files but one clip ("group"): cluster them together
        counts = per_clip.setdefault(rec.cluster, [0, 0])
        counts[0] += outcome is Outcome.CORRECT
        counts[1] += 1
    return [(c, m) for c, m in per_clip.values()]


def _group(
    level: int, modality: str, task: str, recs: Sequence[Record], leak: str | None = None
) -> GroupSummary:
    tally = tally_by(recs).get((), Tally())
    circular = tally_by(recs, circular=True).get(())
    return GroupSummary(
        level=level,
        modality=modality,
        task=task,
        tally=tally,
        wilson=wilson_interval(tally.correct, tally.scored),
        clustered=clustered_interval(_clusters(recs, circular=False)),
        circular=circular,
        circular_clustered=clustered_interval(_clusters(recs, circular=True)) if circular else None,
        chance=chance_of(recs),
        leak=leak,
    )


def _order(level: Any, modality: Any) -> tuple[int, int, str]:
    return int(level or 0), MODALITY_ORDER.get(str(modality), 9), str(modality)


def summarize(
    records: Iterable[Record],
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = DEFAULT_SEED,
    leaks: Mapping[tuple[int, str], str] = LATE_FUSION_LEAKS,
) -> RunSummary:
    """Everything the terminal, HTML and Allure summaries show, computed once from the records.

    Groups come per level × modality (task ``"all"``), per level × modality × task (unless one
    task covers them all) and, for a level with a task in ``leaks`` (late fusion answers it without
    the sound), per level × modality over the tasks that do not leak (task :data:`HEADLINE`, the
    level's headline); a leaking task's rows carry the reason. Gains per level (all tasks, and the
    headline tasks where they differ) and per level × task, each bootstrapped from its own seeded
    generator so adding a task never changes another row's interval.
    """
    records = list(records)

    def leak(level: int, task: str | None) -> str | None:
        return leaks.get((level, task or ""))

    split = {rec.level for rec in records if leak(rec.level, rec.task)}
    buckets: dict[tuple[int, str, str], list[Record]] = {}
    for rec in records:
        buckets.setdefault((rec.level, rec.modality, ALL_TASKS), []).append(rec)
        if rec.level in split and not leak(rec.level, rec.task):
            buckets.setdefault((rec.level, rec.modality, HEADLINE), []).append(rec)
        if rec.task:
            buckets.setdefault((rec.level, rec.modality, rec.task), []).append(rec)
    for level, modality, task in list(buckets):
        whole = buckets[(level, modality, ALL_TASKS)]
        if task not in (ALL_TASKS, HEADLINE) and len(buckets[(level, modality, task)]) == len(whole):
            del buckets[(level, modality, task)]  # a single task would only repeat "all"

    def rank(task: str) -> tuple[bool, bool, str]:
        return task != ALL_TASKS, task != HEADLINE, task

    keys = sorted(buckets, key=lambda k: (*_order(k[0], k[1]), *rank(k[2])))
    groups = [
        _group(level, modality, task, buckets[(level, modality, task)], leak(level, task))
        for level, modality, task in keys
    ]

    def member(rec: Record, task: str) -> bool:
        if task == ALL_TASKS:
            return True
        if task == HEADLINE:
            return not leak(rec.level, rec.task)
        return rec.task == task

    gains: list[GainSummary] = []
    for level, task in sorted({(k[0], k[2]) for k in keys}, key=lambda lt: (lt[0], *rank(lt[1]))):
        subset = [r for r in records if r.level == level and member(r, task)]
        plain = synchrony_gain(subset, n_boot=n_boot, rng=np.random.default_rng(seed))
        if plain is None:
            continue
        circular = synchrony_gain(subset, circular=True, n_boot=n_boot, rng=np.random.default_rng(seed))
        gains.append(GainSummary(level, task, plain, circular, leak(level, task)))
    return RunSummary(groups, gains, timing_metrics(records))


# --------------------------------------------------------------------------- repeats


def pass_at_k(n: int, c: int, k: int) -> float:
    """Probability that at least one of ``k`` answers drawn from ``n`` (``c`` correct) is correct.

    The unbiased estimator of Chen et al. (2021), ``1 - C(n-c, k) / C(n, k)``: with
    ``k = n`` it is "any repeat right".
    """
    _check_nck(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Probability that all of ``k`` answers drawn from ``n`` (``c`` correct) are correct (pass^k).

    ``C(c, k) / C(n, k)`` (Yao et al., tau-bench, 2024): with ``k = n`` it is "every repeat
    right", the reliability a user of one answer experiences. Never above :func:`pass_at_k`.
    """
    _check_nck(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check_nck(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
