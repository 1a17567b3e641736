"""Information-restricted oracles: the proof that one modality alone cannot answer.

Each oracle reads only the generator's ground truth (an item plus its clip's record, as written to
``dataset.json`` and ``manifest.json``), cut down to what one modality could perceive:

- **video**: the cast and where each character stands, every mouthing span (who moves the mouth
  from when to when) *and the sentence each mouth is shaping*, as a perfect lip reader would see
  it, and each event's time; never the sound, never which mouthing was heard.
- **audio**: the heard utterances, their texts and exact timings (so the transcript, speaking
  order, counts and durations); never who said them or anything on screen.
- **text**: the question and the options only.
- **late** (late fusion): frames at 1 fps plus the transcript, no sound: what the
  OpenAI-compatible path gives a model in ``avt``. Every time is seen at the next whole second,
  mouths show that they move but not what they say, and the transcript lists the heard sentences
  in order. Where this oracle answers, a model needs no binding of sound to picture (see
  :data:`~vsync_models.data.levels.LATE_FUSION_LEAKS`).
- **joint**: both video and audio; it must always be right, which checks the ground truth.

A single-modality oracle is a panel of strategies, each a statistic a clever model could exploit
(answer letter, option length, screen position, speaking order, slot or time of the answer,
mouth-motion durations and onsets, where the quoted sentence is mouthed, event timing), many of
them *learned*: the rate at which options with the same feature are right in all *other* items
of the task (leave-one-out), which picks up any prior the generator might leak. The oracle's
accuracy is that of its best strategy on the set; a tie between k options counts 1/k.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from vsync_models.synth.speaker_items import SPEAKER_TASK, asked_speaker
from vsync_models.synth.strategies import Strategy, asked_event, event_of, panel
from vsync_models.synth.views import Case, bare, cases

__all__ = [
    "CHANCE",
    "MODALITIES",
    "Case",
    "OracleResult",
    "cases",
    "evaluate",
    "format_table",
    "left_aligned",
]

MODALITIES = ("video", "audio", "text", "late", "joint")
CHANCE = 0.25


def _loo_scores(keys: Sequence[list[Any]], group: Sequence[Case]) -> list[list[float]]:
    """Per case, per option: how often options with that value were right in the *other* cases."""
    right: Counter[Hashable] = Counter()
    seen: Counter[Hashable] = Counter()
    for c, ks in zip(group, keys, strict=True):
        for i, k in enumerate(ks):
            seen[k] += 1
            right[k] += i == c.answer
    out = []
    for c, ks in zip(group, keys, strict=True):
        own = Counter(ks)
        own_right = ks[c.answer]
        out.append([(right[k] - (k == own_right) + 1) / (seen[k] - own[k] + 4) for k in ks])
    return out


def _credit(scores: Sequence[float], answer: int) -> float:
    best = max(scores)
    winners = [i for i, x in enumerate(scores) if x == best]
    return 1 / len(winners) if answer in winners else 0.0


# --- the joint oracle: must always be right ------------------------------------------------------


def _joint(case: Case) -> list[float]:
    """Exact answer from both views: the heard onset names the mouth, the event time the sentence."""
    v, a = case.video, case.audio
    t = case.task
    if t == "who_said":
        slot = a.slot_of(case.quote or "")
        onset = a.utterances[slot][2]
        return [float(v.mouth(o, slot).start_s == onset) for o in case.options]
    if t == "in_sync":
        return [float(all(v.mouth(o, s).start_s == on for s, _, on, _ in a.utterances)) for o in case.options]
    if t == "said_when_event":
        _, time = event_of(v, asked_event(case))
        heard = next(text for _, text, on, off in a.utterances if on <= time < off)
        return [float(bare(o) == bare(heard)) for o in case.options]
    if t == "event_when_said":
        _, _, on, off = a.utterances[a.slot_of(case.quote or "")]
        return [float(any(on <= x < off and e == o for _, e, x in v.events)) for o in case.options]
    if t == SPEAKER_TASK:
        who = asked_speaker(str(case.item["question"])) or ""
        spans = [(on, off) for s, _, on, off in a.utterances if v.mouth(who, s).start_s == on]
        return [
            float(any(on <= x < off and e == o for _, e, x in v.events for on, off in spans))
            for o in case.options
        ]
    raise ValueError(f"unknown task {t!r}")


# --- evaluation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OracleResult:
    task: str
    modality: str
    n: int
    accuracy: float
    """The best strategy's accuracy (ties credited 1/k)."""
    strategy: str
    strategies: dict[str, float]
    """Every strategy's accuracy, so a report can show how close the runners-up came."""


def _scores(strategy: Strategy, group: Sequence[Case]) -> list[list[float]]:
    values = [strategy.values(c) for c in group]
    if strategy.mode == "learned":
        return _loo_scores(values, group)
    sign = 1.0 if strategy.mode == "max" else -1.0
    return [[sign * float(x) for x in vs] for vs in values]


def evaluate(all_cases: Sequence[Case]) -> list[OracleResult]:
    """Every task x modality: the best strategy's accuracy (joint: the exact solver's)."""
    by_task: dict[str, list[Case]] = {}
    for c in all_cases:
        by_task.setdefault(c.task, []).append(c)
    results = []
    for task in sorted(
        by_task, key=lambda t: (_TASK_ORDER.index(t) if t in _TASK_ORDER else len(_TASK_ORDER), t)
    ):
        group = by_task[task]
        for modality in MODALITIES:
            if modality == "joint":
                acc = statistics.fmean(_credit(_joint(c), c.answer) for c in group)
                results.append(OracleResult(task, modality, len(group), acc, "exact", {"exact": acc}))
                continue
            accs = {
                strat.name: statistics.fmean(
                    _credit(s, c.answer) for s, c in zip(_scores(strat, group), group, strict=True)
                )
                for strat in panel(modality)
                if task in strat.tasks
            }
            best = max(accs, key=lambda k: (accs[k], k))
            results.append(OracleResult(task, modality, len(group), accs[best], best, accs))
    return results


_TASK_ORDER = ["who_said", "said_when_event", "event_when_said", "in_sync", SPEAKER_TASK]


def format_table(results: Sequence[OracleResult]) -> str:
    rows = [("task", "n", "modality", "best accuracy", "best strategy")]
    rows += [(r.task, str(r.n), r.modality, f"{100 * r.accuracy:.1f}%", r.strategy) for r in results]
    return left_aligned(rows)


def left_aligned(rows: Sequence[Sequence[str]]) -> str:
    """A header row, a rule, and the rows, every column padded to its widest cell."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
