"""Ceilings: how well a perfect-enough perceiver does when it sees a clip as a real model does.

``av_sync`` answers every shipped item in ``avt`` from every frame (25 fps); the models V-SYNC is
for see far less (the OpenAI-compatible path: 1 fps, at most 8 frames; Gemini 1 fps; Qwen-Omni
2 fps). :func:`measure` runs ``av_sync`` through the real harness at each sampling of
:data:`SAMPLINGS` (audio whole) over the shipped levels and counts, per level × task × modality,
what it gets right, with a Wilson 95 % interval. What ``av_sync`` cannot answer at a sampling, a
model sampling so cannot be expected to answer from perception: that is the ceiling a report
shows beside a model's number.

    python -m vsync_models.synth ceilings

writes ``vsync_models/report/ceilings.json`` (read by :mod:`vsync_models.report.ceilings`) and
prints the markdown table of ``docs/levels.md``; ``--fresh N`` also renders N fresh clips per level
and prints their table (not written to the file: a report's ceiling is the shipped data's).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from vsync_models.config import Config
from vsync_models.data.dataset import load_dataset
from vsync_models.data.levels import Level, make_level
from vsync_models.data.media import MediaPreparer
from vsync_models.models.av_sync import AVSyncModel
from vsync_models.report.ceilings import CEILINGS_PATH, Ceiling, Ceilings, dump_ceilings, load_ceilings
from vsync_models.report.stats import ALL_TASKS, HEADLINE
from vsync_models.run.evaluate import Evaluator
from vsync_models.scoring.score import ScoringSettings
from vsync_models.types import Modality, Outcome, Sampling

__all__ = ["COMMAND", "DEFAULT_PATH", "SAMPLINGS", "markdown", "measure", "to_json"]

COMMAND = "python -m vsync_models.synth ceilings"
DEFAULT_PATH = CEILINGS_PATH
"""Where the measurement writes: the file the reports read."""
SAMPLINGS = (Sampling(1.0), Sampling(2.0), Sampling(4.0), Sampling(), Sampling(1.0, 8))
"""1, 2 and 4 fps, every frame, and the OpenAI-compatible path's 1 fps with at most 8 frames."""
ALL = ALL_TASKS
"""The task name of a level's pooled row."""


def measure(
    levels: Sequence[Level],
    samplings: Iterable[Sampling] = SAMPLINGS,
    scoring: ScoringSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Ceiling]:
    """``av_sync`` at each sampling on every item × modality of ``levels``; rows per level × task ×
    modality (and the level's pooled ``all`` and, where some task of the level leaks to late fusion,
    ``headline`` over the tasks that do not). An item that ends as an error stops the measurement:
    a ceiling counted over fewer items than the level has would be no ceiling."""
    rows: list[Ceiling] = []
    with tempfile.TemporaryDirectory(prefix="vsync-ceilings-") as tmp:
        preparer = MediaPreparer(Path(tmp))
        for sampling in samplings:
            evaluator = Evaluator(
                AVSyncModel(sampling=sampling),
                {lvl.number: lvl.prompts for lvl in levels},
                preparer,
                scoring=scoring,
            )
            for level in levels:
                split = any(level.leak(item.task) for item in level)
                for modality in Modality:
                    counts: dict[str, list[int]] = {}
                    for item in level:
                        result = evaluator.evaluate(item, modality)
                        if result.outcome is Outcome.ERROR:
                            raise RuntimeError(
                                f"level {level.number} item {item.id} ({modality.value}, {sampling.label}): "
                                f"{result.response.error}"
                            )
                        pooled = (ALL, HEADLINE) if split and not level.leak(item.task) else (ALL,)
                        for task in (item.task or "", *pooled):
                            tally = counts.setdefault(task, [0, 0])
                            tally[0] += 1
                            tally[1] += result.outcome is Outcome.CORRECT
                    rows += [
                        Ceiling.measured(level.number, task, modality.value, sampling, n, correct)
                        for task, (n, correct) in counts.items()
                    ]
                    if progress is not None:
                        pooled = counts[ALL]
                        progress(
                            f"{sampling.label}: level {level.number} {modality.value} "
                            f"{pooled[1]}/{pooled[0]} correct"
                        )
    return rows


def to_json(rows: Sequence[Ceiling], kept: Sequence[Ceiling] = ()) -> str:
    """The ceilings file (see :func:`~vsync_models.report.ceilings.dump_ceilings`); ``kept``: rows of
    other levels already in the file, written first."""
    return dump_ceilings(Ceilings(rows=(*kept, *rows), perceiver="av_sync", command=COMMAND))


def markdown(rows: Sequence[Ceiling], modality: str = "avt") -> str:
    """One table per modality: level × task down, sampling across, ``accuracy [CI]`` in percent."""
    samplings = list(dict.fromkeys(r.sampling for r in rows))
    cells: dict[tuple[int, str], dict[Sampling, str]] = {}
    for r in rows:
        if r.modality != modality:
            continue
        cells.setdefault((r.level, r.task), {})[r.sampling] = (
            f"{100 * r.accuracy:.1f} [{100 * r.ci_low:.0f}, {100 * r.ci_high:.0f}]"
        )
    n_of = {(r.level, r.task): r.n for r in rows if r.modality == modality}
    head = ["level", "task", "n", *(s.label for s in samplings)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (level, task), by in sorted(
        cells.items(), key=lambda kv: (kv[0][0], kv[0][1] in (ALL, HEADLINE), kv[0][1] == ALL)
    ):
        lines.append(
            "| "
            + " | ".join([str(level), task, str(n_of[level, task]), *(by.get(s, "") for s in samplings)])
            + " |"
        )
    return "\n".join(lines)


def main(
    levels: Sequence[Level], out: Path, scoring: ScoringSettings | None = None, keep_others: bool = False
) -> int:
    """Measure ``levels`` and write the file; ``keep_others`` keeps the rows the file already has for
    every other level (``--level N``: remeasure one level without the hours the others take)."""
    rows = measure(levels, scoring=scoring, progress=lambda line: print(line, file=sys.stderr, flush=True))
    kept: list[Ceiling] = []
    if keep_others and out.is_file():
        measured = {lvl.number for lvl in levels}
        kept = [r for r in load_ceilings(out).rows if r.level not in measured]
    out.write_text(to_json(rows, kept), encoding="utf-8")
    for modality in ("avt", "vt", "at"):
        print(f"\n{modality}:\n\n{markdown(rows, modality)}")
    print(f"\nwrote {len(rows)} rows to {out}")
    return 0


def fresh(config: Config, n_clips: int, seed: int, scoring: ScoringSettings | None = None) -> None:
    """Render ``n_clips`` fresh clips per level (``seed``), measure them, print their tables."""
    from vsync_models.synth.level1 import generate
    from vsync_models.synth.paused import generate_paused
    from vsync_models.synth.timed import generate_timed

    with tempfile.TemporaryDirectory(prefix="vsync-ceilings-fresh-") as tmp:
        levels = []
        for number in (1, 2, 3, 4):
            out = Path(tmp) / f"level_{number}"
            if number == 1:
                generate(out, seed=seed, n_clips=n_clips)
            elif number == 4:
                generate_paused(out, seed=seed, n_clips=n_clips)
            else:
                generate_timed(out, number, seed=seed, n_clips=n_clips)
            levels.append(make_level(config, load_dataset(out, level=number), "av_sync"))
        rows = measure(
            levels, scoring=scoring, progress=lambda line: print(line, file=sys.stderr, flush=True)
        )
    for modality in ("avt", "vt", "at"):
        print(f"\nfresh clips (seed {seed}, {n_clips} per level), {modality}:\n\n{markdown(rows, modality)}")
