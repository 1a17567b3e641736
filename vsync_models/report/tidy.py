"""The tidy table: one row per item × modality × repeat × rotation, for pandas, Parquet or a spreadsheet.

Written beside each results file as ``<results stem>.items.jsonl`` (JSON lines), built from the
same :class:`~vsync_models.record.Record` s. Every column has one type in every row, so

    df = pd.read_json(path, lines=True)
    df.to_parquet("items.parquet")

works as loaded, and ``df[(df.repeat == 0) & (df.rotation == 0)].groupby(["level", "modality"])
.is_correct.mean()`` is the accuracy of the terminal table and the results file (``is_correct`` is
null for an infrastructure error, which is not scored, so the mean leaves it out).

Answers are text: a letter, ``"yes"``/``"no"``, or the JSON of a number or a ``[start, end]``
interval in seconds (:func:`answer_text`); the original-format results file keeps its mixed
``prediction`` field for the original's readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from vsync_models.record import Record
from vsync_models.report.results import write_text_atomic
from vsync_models.types import Outcome

__all__ = ["TIDY_SUFFIX", "TidyRow", "answer_text", "expected_text", "tidy_path", "tidy_rows", "write_tidy"]

TIDY_SUFFIX = ".items.jsonl"


@dataclass(frozen=True)
class TidyRow:
    """One asking of one item under one modality."""

    model: str
    level: int
    modality: str
    task: str | None
    id: str
    """The item id, always as text (datasets may use numbers)."""
    clip: str
    """The clip's path as the dataset gives it (relative to the video directory)."""
    repeat: int
    """``--repeat``: which asking (0 for the first or only one)."""
    rotation: int
    """``--circular``: which rotation of the options (0 is the dataset's order)."""
    expected: str | None
    extracted: str | None
    """``None`` when nothing could be extracted (unparseable) or the call failed."""
    outcome: str
    """``correct``, ``wrong``, ``unparseable`` or ``error``."""
    is_correct: bool | None
    """``None`` for an infrastructure error: not scored."""
    latency_s: float | None
    cached: bool
    error_kind: str | None


def answer_text(value: Any) -> str | None:
    """An answer as text: letters and yes/no as they are, numbers and intervals as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def expected_text(record: Record, correct_answer: str | None = None) -> str | None:
    """The right answer as text: the letter of a choice (``correct_answer``: a rotation's), else
    the truth of a time or yes/no question."""
    if record.answer_type in (None, "choice"):
        return (correct_answer or record.correct_answer) or None
    return answer_text(record.answer)


def tidy_rows(record: Record, model: str) -> list[TidyRow]:
    """The rows of one record: every repeat, and in each every rotation (one row without either)."""
    repeats: Sequence[Any] = record.repeats or (record,)
    rows = []
    for r, rep in enumerate(repeats):
        rotations: Sequence[Any] = rep.rotations or (rep,)
        for i, asking in enumerate(rotations):
            # rotation 0 of repeat 0 is the record itself (its full answer, not only a letter)
            first = r == 0 and i == 0
            correct = getattr(asking, "correct_answer", record.correct_answer)
            outcome = record.outcome if first else asking.outcome
            rows.append(
                TidyRow(
                    model=model,
                    level=record.level,
                    modality=record.modality,
                    task=record.task,
                    id=str(record.id),
                    clip=record.video_path,
                    repeat=rep.repeat,
                    rotation=i,
                    expected=expected_text(record, correct),
                    extracted=answer_text(record.prediction if first else asking.prediction),
                    outcome=outcome.value,
                    is_correct=None if outcome is Outcome.ERROR else outcome is Outcome.CORRECT,
                    latency_s=record.latency_s if first else asking.latency_s,
                    cached=record.cached if first else asking.cached,
                    error_kind=record.error_kind if first else asking.error_kind,
                )
            )
    return rows


def tidy_path(results: Path) -> Path:
    """``results_m_level1.json`` → ``results_m_level1.items.jsonl``, beside it."""
    return Path(results).with_suffix(TIDY_SUFFIX)


def write_tidy(path: Path, model: str, records: Iterable[Record]) -> None:
    """Write the table (a temp file renamed into place, like the results file)."""
    lines = [json.dumps(asdict(row), ensure_ascii=False) for rec in records for row in tidy_rows(rec, model)]
    write_text_atomic(path, "".join(line + "\n" for line in lines))
