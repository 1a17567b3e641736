"""Comparing two runs item by item: baselines, the regression test, and its table.

    baseline file ─┐
    results file ──┼─ load_run ─▶ Run ─┐
    this run's records ─ run_from_records ─▶ Run ─┴─ compare_runs ─▶ Comparison ─▶ format_comparison

Items are paired by (level, modality, id). An item present in one run only, or with an
infrastructure error in either, is listed and never paired: pairing it would compare
an answer with no answer. Per level × modality the comparison gives McNemar's test on
the items that changed and a paired bootstrap CI of the accuracy difference; a group
*regressed* when its drop is significant at ``alpha`` and at least ``min_drop`` points.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from vsync_models.record import Record
from vsync_models.report.results import write_json_atomic
from vsync_models.report.runs import BASELINE_NAME, resolve_run
from vsync_models.report.stats import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_SEED,
    Estimate,
    McNemarResult,
    mcnemar,
    paired_bootstrap,
)
from vsync_models.types import MODALITY_ORDER, Modality

__all__ = [
    "BASELINE_FORMAT",
    "HEADLINE_MODALITIES",
    "Comparison",
    "GroupComparison",
    "ItemOutcome",
    "Run",
    "RunInfo",
    "baseline_document",
    "compare_runs",
    "file_hash",
    "files_hash",
    "format_comparison",
    "load_run",
    "parse_gate_modalities",
    "run_from_records",
    "save_baseline",
    "stable_hash",
    "text_table",
]

BASELINE_FORMAT = "vsync-baseline"
BASELINE_VERSION = 1
_HASH_LEN = 12

HEADLINE_MODALITIES = ("avt",)
"""What ``--fail-on-regression`` gates by default: the synchronised condition. The ablations ``vt``
and ``at`` are shown but not gated, since a model may rightly abstain without a stream."""


def parse_gate_modalities(text: str) -> tuple[str, ...] | None:
    """``--gate-modalities`` (pytest and ``vsync compare``): ``all`` (``None``: every modality), or a
    comma-separated list of avt, vt, at; a ``ValueError`` names an unknown one."""
    if text.strip().lower() == "all":
        return None
    gated = tuple(Modality.parse(part).value for part in text.split(",") if part.strip())
    if not gated:
        raise ValueError(f"names no modality: {text!r}; use avt, vt, at or all")
    return gated


Key = tuple[int, str, str]
"""(level, modality, item id as text): how items are paired across runs."""


def stable_hash(obj: Any) -> str:
    """Short sha256 of canonical JSON: equal configurations give equal hashes on every machine."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:_HASH_LEN]


def file_hash(path: Path) -> str:
    """Short sha256 of a file's bytes (the dataset JSON)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:_HASH_LEN]


def files_hash(paths: Sequence[Path]) -> str:
    """A dataset's hash over every file its items came from: one file's :func:`file_hash` (as before
    companion sets), several files' hashes hashed together in order."""
    if len(paths) == 1:
        return file_hash(paths[0])
    return stable_hash([file_hash(p) for p in paths])


@dataclass(frozen=True)
class RunInfo:
    """What identifies a run in reports and baselines: the same hashes mean the same question set
    and the same model configuration."""

    model: str
    config_hash: str
    """Hash of the model's fingerprint (id, decoding, frame sampling), the prompts and CircularEval."""
    dataset: str
    dataset_hash: str
    """Hash of the dataset JSON file (with companion sets: of all its files, see :func:`files_hash`)."""


@dataclass(frozen=True)
class ItemOutcome:
    """One item × modality of a run, as far as comparison needs it."""

    id: str
    level: int
    modality: str
    outcome: str
    task: str | None = None
    prediction: str | None = None
    correct_answer: str | None = None
    circular_outcome: str | None = None

    @property
    def key(self) -> Key:
        return (self.level, self.modality, self.id)


@dataclass(frozen=True)
class Run:
    """Per-item outcomes of one run, wherever they were read from."""

    label: str
    items: dict[Key, ItemOutcome]
    model: str | None = None
    config_hash: str | None = None
    dataset_hash: str | None = None
    coverage: float | None = None
    """Percent of its collected items the run answered, when its file says (results files do)."""

    @property
    def circular(self) -> bool:
        return bool(self.items) and all(i.circular_outcome is not None for i in self.items.values())


def _item(rec: Record) -> ItemOutcome:
    return ItemOutcome(
        id=str(rec.id),
        level=rec.level,
        modality=rec.modality,
        outcome=rec.outcome.value,
        task=rec.task,
        prediction=rec.prediction,
        correct_answer=rec.correct_answer,
        circular_outcome=rec.circular_outcome.value if rec.circular_outcome else None,
    )


def run_from_records(records: Iterable[Record], label: str, info: RunInfo | None = None) -> Run:
    items = {it.key: it for it in map(_item, records)}
    return Run(
        label=label,
        items=items,
        model=info.model if info else None,
        config_hash=info.config_hash if info else None,
        dataset_hash=info.dataset_hash if info else None,
    )


def baseline_document(
    records: Sequence[Record], info: RunInfo, now: datetime | None = None
) -> dict[str, Any]:
    """Only what pairing and the changed-items table need: small enough to commit next to CI config."""
    items = []
    for rec in records:
        item = {
            "id": rec.id,
            "level": rec.level,
            "modality": rec.modality,
            "task": rec.task,
            "outcome": rec.outcome.value,
            "prediction": rec.prediction,
            "correct_answer": rec.correct_answer,
        }
        if rec.circular_outcome is not None:
            item["circular_outcome"] = rec.circular_outcome.value
        items.append(item)
    return {
        "format": BASELINE_FORMAT,
        "version": BASELINE_VERSION,
        "model": info.model,
        "timestamp": (now or datetime.now()).strftime("%Y%m%d_%H%M%S"),
        "config_hash": info.config_hash,
        "dataset": info.dataset,
        "dataset_hash": info.dataset_hash,
        "items": items,
    }


def save_baseline(path: Path, records: Sequence[Record], info: RunInfo, now: datetime | None = None) -> None:
    """Write atomically, like the results files: a crash never leaves half a baseline behind."""
    write_json_atomic(path, baseline_document(records, info, now), indent=1)


def load_run(path: Path) -> Run:
    """A baseline file, a results file of ours or of the original release, or a run folder (or its
    ``latest`` pointer: :mod:`vsync_models.report.runs`); ValueError otherwise.

    A run folder is read from its baseline candidate when it has one, else from all its results files.
    """
    given = Path(path)
    path = resolve_run(given)
    if not path.is_dir():
        return _load_file(path)
    if (path / BASELINE_NAME).is_file():
        return replace(_load_file(path / BASELINE_NAME), label=str(given))
    files = sorted(p for p in path.glob("*.json") if p.name != BASELINE_NAME and not p.name.startswith("."))
    runs = []
    for file in files:
        try:
            runs.append(_load_file(file))
        except ValueError:
            continue  # an audio canary or other file of the run, not results
    if not runs:
        raise ValueError(f"{given}: a folder with neither a baseline nor a results file")
    coverages = [r.coverage for r in runs if r.coverage is not None]
    return Run(
        label=str(given),
        items={k: v for r in runs for k, v in r.items.items()},
        model=runs[0].model,
        config_hash=runs[0].config_hash,
        dataset_hash=runs[0].dataset_hash,
        coverage=min(coverages) if coverages else None,
    )


def _load_file(path: Path) -> Run:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if isinstance(doc, dict) and doc.get("format") == BASELINE_FORMAT:
        records, modality = doc.get("items") or [], None
    elif isinstance(doc, dict) and isinstance(doc.get("results"), list):
        records, modality = doc["results"], doc.get("modality")
    else:
        raise ValueError(f"{path}: neither a V-SYNC baseline nor a results file")
    try:
        items = {it.key: it for it in (_item(Record.from_json(rec, modality)) for rec in records)}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed item ({exc})") from None
    return Run(
        label=str(path),
        items=items,
        model=doc.get("model"),
        config_hash=doc.get("config_hash"),
        dataset_hash=doc.get("dataset_hash"),
        coverage=doc.get("coverage"),
    )


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class ChangedItem:
    before: ItemOutcome
    after: ItemOutcome
    regressed: bool
    """``True`` when the item was correct before and is not now."""


@dataclass(frozen=True)
class GroupComparison:
    """A level × modality in both runs, over the paired items only."""

    level: int
    modality: str
    n: int
    correct_a: int
    correct_b: int
    difference: Estimate
    """acc(B) − acc(A) as a proportion, with its paired bootstrap CI."""
    test: McNemarResult

    @property
    def drop_points(self) -> float:
        """How many accuracy points B lost against A (negative when it gained)."""
        return 100.0 * (self.correct_a - self.correct_b) / self.n

    def regressed(self, alpha: float, min_drop: float) -> bool:
        return self.drop_points > 0 and self.drop_points >= min_drop and self.test.p_value < alpha

    def verdict(self, alpha: float, min_drop: float, gated: bool = True) -> str:
        if self.regressed(alpha, min_drop):
            return "REGRESSION" if gated else "regression (not gated)"
        if self.test.p_value >= alpha:
            return "no significant change"
        if self.drop_points < 0:
            return "improved"
        return f"significant drop below --min-drop {min_drop:g}"


@dataclass(frozen=True)
class Comparison:
    a: Run
    b: Run
    field: str
    """Which outcome is compared: ``outcome``, or ``circular_outcome`` when both runs have it."""
    groups: list[GroupComparison]
    changed: list[ChangedItem]
    only_a: list[Key] = field(default_factory=list)
    only_b: list[Key] = field(default_factory=list)
    unpaired_errors: list[Key] = field(default_factory=list)
    """Items in both runs with an infrastructure error in at least one of them."""

    def regressions(
        self, alpha: float, min_drop: float, gated: Sequence[str] | None = None
    ) -> list[GroupComparison]:
        """The groups that regressed, among the modalities in ``gated`` (every modality when ``None``)."""
        return [
            g for g in self.groups if g.regressed(alpha, min_drop) and (gated is None or g.modality in gated)
        ]


def _order(key: Key) -> tuple[int, int, str, str]:
    level, modality, ident = key
    return level, MODALITY_ORDER.get(modality, 9), modality, ident


def _diff(acc: np.ndarray) -> np.ndarray:
    return acc[:, 1] - acc[:, 0]


def compare_runs(a: Run, b: Run, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = DEFAULT_SEED) -> Comparison:
    """Pair A (the baseline) with B (the candidate); see the module docstring."""
    circular = a.circular and b.circular
    fld = "circular_outcome" if circular else "outcome"
    shared = sorted(a.items.keys() & b.items.keys(), key=_order)
    paired: dict[tuple[int, str], list[tuple[ItemOutcome, ItemOutcome]]] = {}
    errors: list[Key] = []
    changed: list[ChangedItem] = []
    for key in shared:
        before, after = a.items[key], b.items[key]
        ob, oa = getattr(before, fld), getattr(after, fld)
        if "error" in (ob, oa):
            errors.append(key)
            continue
        paired.setdefault(key[:2], []).append((before, after))
        if ob != oa:
            changed.append(ChangedItem(before, after, regressed=ob == "correct" and oa != "correct"))
    groups = []
    for (level, modality), pairs in sorted(paired.items(), key=lambda kv: _order((*kv[0], ""))):
        cols = np.array(
            [[getattr(x, fld) == "correct", getattr(y, fld) == "correct"] for x, y in pairs], dtype=float
        )
        lost = int(((cols[:, 0] == 1) & (cols[:, 1] == 0)).sum())
        gained = int(((cols[:, 0] == 0) & (cols[:, 1] == 1)).sum())
        estimate = paired_bootstrap(cols, _diff, n_boot=n_boot, rng=np.random.default_rng(seed))
        assert estimate is not None  # pairs is never empty
        groups.append(
            GroupComparison(
                level=level,
                modality=modality,
                n=len(pairs),
                correct_a=int(cols[:, 0].sum()),
                correct_b=int(cols[:, 1].sum()),
                difference=estimate,
                test=mcnemar(lost, gained),
            )
        )
    return Comparison(
        a=a,
        b=b,
        field=fld,
        groups=groups,
        changed=changed,
        only_a=sorted(a.items.keys() - b.items.keys(), key=_order),
        only_b=sorted(b.items.keys() - a.items.keys(), key=_order),
        unpaired_errors=errors,
    )


# --------------------------------------------------------------------------- text


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Columns padded to width; numbers right-aligned, words left-aligned."""
    rows = [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in [list(header), *rows]) for i in range(len(header))]

    def numeric(cell: str) -> bool:
        return cell[:1].isdigit() or (cell[:1] in "+-" and cell[1:2].isdigit()) or cell == "-"

    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        cells = (c.rjust(w) if numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True))
        out.append("  ".join(cells).rstrip())
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _p(p: float) -> str:
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def _answer(item: ItemOutcome, fld: str) -> str:
    outcome = getattr(item, fld)
    return f"{outcome} ({item.prediction})" if item.prediction else str(outcome)


def _key_groups(keys: Sequence[Key], limit: int = 5) -> str:
    by_group: dict[tuple[int, str], list[str]] = {}
    for level, modality, ident in keys:
        by_group.setdefault((level, modality), []).append(ident)
    parts = []
    for (level, modality), ids in by_group.items():
        more = f", … {len(ids) - limit} more" if len(ids) > limit else ""
        parts.append(f"level {level} {modality}: {', '.join(ids[:limit])}{more}")
    return "; ".join(parts)


def format_comparison(
    cmp: Comparison,
    alpha: float = 0.05,
    min_drop: float = 0.0,
    limit: int | None = None,
    gated: Sequence[str] | None = None,
    more_hint: str = "vsync compare A B shows them all",
) -> list[str]:
    """The table the gate prints and ``vsync compare`` prints: per group, then every changed item (up
    to ``limit``, then ``more_hint``), then what could not be paired. A regression of a modality
    outside ``gated`` (when given) is shown as not gated."""
    label = "circular accuracy" if cmp.field == "circular_outcome" else "accuracy"
    out = [f"A (baseline): {cmp.a.label}" + (f" [{cmp.a.model}]" if cmp.a.model else "")]
    out.append(f"B (compared): {cmp.b.label}" + (f" [{cmp.b.model}]" if cmp.b.model else ""))
    for what in ("dataset_hash", "config_hash"):
        ha, hb = getattr(cmp.a, what), getattr(cmp.b, what)
        if ha and hb and ha != hb:
            out.append(f"note: {what.replace('_', ' ')} differs (A {ha}, B {hb})")
    header = (
        "level",
        "modality",
        "paired",
        "A",
        "B",
        "B-A [95% CI]",
        "lost",
        "gained",
        "p",
        "test",
        "verdict",
    )
    rows = []
    for g in cmp.groups:
        d = g.difference
        rows.append(
            (
                str(g.level),
                g.modality,
                str(g.n),
                _pct(g.correct_a / g.n),
                _pct(g.correct_b / g.n),
                f"{_pts(d.value)} [{_pts(d.interval.low)}, {_pts(d.interval.high)}]",
                str(g.test.b),
                str(g.test.c),
                _p(g.test.p_value),
                g.test.method,
                g.verdict(alpha, min_drop, gated is None or g.modality in gated),
            )
        )
    out += text_table(header, rows) if rows else ["no items could be paired"]
    out.append(
        f"{label} on paired items; B-A in points with a paired bootstrap CI; lost/gained = items correct "
        f"only in A/B; p = McNemar (exact below 25 changed items); regression = drop with p < {alpha:g} "
        f"and >= {min_drop:g} points"
    )
    if cmp.changed:
        shown = cmp.changed if limit is None else cmp.changed[:limit]
        out.append(f"changed items ({len(cmp.changed)}):")
        out += text_table(
            ("level", "modality", "id", "task", "A", "B", "change"),
            (
                (
                    str(c.before.level),
                    c.before.modality,
                    c.before.id,
                    c.after.task or c.before.task or "",
                    _answer(c.before, cmp.field),
                    _answer(c.after, cmp.field),
                    "regressed"
                    if c.regressed
                    else "improved"
                    if getattr(c.after, cmp.field) == "correct"
                    else "",
                )
                for c in shown
            ),
        )
        if len(shown) < len(cmp.changed):
            out.append(f"… {len(cmp.changed) - len(shown)} more changed items ({more_hint})")
    for what, keys in (
        ("only in A (not paired)", cmp.only_a),
        ("only in B (not paired)", cmp.only_b),
        ("error in A or B (not paired)", cmp.unpaired_errors),
    ):
        if keys:
            out.append(f"{what}: {len(keys)} items — {_key_groups(keys)}")
    return out
