"""Results files in the original format, plus our extra fields
(``errors_by_kind`` and ``retries`` total what the infrastructure cost).

One file per model × level × modality. The ``avt`` file keeps the original name
(``results_{model}_level1.json``); ablations add the modality
(``results_{model}_level1_vt.json``), so a ``vt`` run never overwrites the headline
numbers. Each file is exactly what the original produced for that modality: its
reader only needs ``accuracy``, ``correct``, ``total`` and ``results``, and ignores
the rest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from vsync_models.data.levels import LATE_FUSION_LEAKS
from vsync_models.errors import OutputError
from vsync_models.record import Record
from vsync_models.report.reliability import reliability
from vsync_models.report.stats import Tally

__all__ = [
    "DEFAULT_OUTPUT_PATTERN",
    "headline_fields",
    "read_results",
    "results_path",
    "safe_name",
    "write_json_atomic",
    "write_results",
    "write_text_atomic",
]

DEFAULT_OUTPUT_PATTERN = "results_{model}_level{level}.json"


def safe_name(name: str) -> str:
    """Model names like ``openai:gpt-4o`` become file-name safe (``openai_gpt-4o``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def results_path(output_dir: Path, model: str, level: int, modality: str, pattern: str | None = None) -> Path:
    """Where the results of one model × level × modality go (see the module docstring)."""
    name = (pattern or DEFAULT_OUTPUT_PATTERN).format(model=safe_name(model), level=level)
    if modality != "avt":
        stem, dot, ext = name.rpartition(".")
        name = f"{stem}_{modality}.{ext}" if dot else f"{name}_{modality}"
    return Path(output_dir) / name


def write_results(
    path: Path,
    model: str,
    modality: str,
    records: Sequence[Record],
    now: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the original-format document (atomically, see :func:`write_json_atomic`); ``extra``
    top-level fields (e.g. ``rescored_from``) go before the per-item results."""
    tally, costs = Tally(), reliability(records)
    for rec in records:
        tally.add(rec.outcome, rec.cached)
    now = (now or datetime.now()).astimezone()  # a naive time is local time, as the original's
    doc: dict[str, Any] = {
        "model": model,
        "timestamp": now.strftime("%Y%m%d_%H%M%S"),  # the original's format, for its readers
        "accuracy": round(tally.accuracy, 2) if tally.accuracy is not None else 0.0,
        "correct": tally.correct,
        "total": tally.scored,
        "modality": modality,
        "wrong": tally.wrong,
        "unparseable": tally.unparseable,
        "errors": tally.error,
        "errors_by_kind": dict(costs.errors),
        "retries": costs.retries,
        "timestamp_iso": now.isoformat(timespec="seconds"),
        **headline_fields(records),
        **(extra or {}),
        "results": [rec.to_json(shared=True) for rec in records],
    }
    write_json_atomic(path, doc, indent=2)
    return doc


def headline_fields(
    records: Sequence[Record], leaks: Mapping[tuple[int, str], str] = LATE_FUSION_LEAKS
) -> dict[str, Any]:
    """Where some of the records' tasks leak to late fusion: ``headline`` (``accuracy``, ``correct``,
    ``total`` over the tasks that do not leak, and which those are) and ``leaking_tasks`` (task →
    why). ``accuracy`` above them stays every item's, as the original's readers expect."""
    leaking = {r.task: leaks[r.level, r.task] for r in records if r.task and (r.level, r.task) in leaks}
    if not leaking:
        return {}
    tally = Tally()
    for rec in records:
        if rec.task not in leaking:
            tally.add(rec.outcome, rec.cached)
    tasks = sorted({r.task or "" for r in records if r.task not in leaking})
    return {
        "headline": {
            "accuracy": round(tally.accuracy, 2) if tally.accuracy is not None else 0.0,
            "correct": tally.correct,
            "total": tally.scored,
            "tasks": tasks,
        },
        "leaking_tasks": dict(sorted(leaking.items())),
    }


def write_json_atomic(path: Path, doc: Any, indent: int = 2) -> None:
    """Write to a temp file beside ``path`` and rename it into place: a crash, a full disk (raised
    as :class:`~vsync_models.errors.OutputError`), a concurrent writer or a reader at the wrong
    moment never sees half a file; what stood at ``path`` before stays whole until the rename."""
    write_text_atomic(path, json.dumps(doc, ensure_ascii=False, indent=indent) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` atomically (see :func:`write_json_atomic`)."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for sharing
        with open(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise OutputError(path, exc) from exc
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: str | None) -> None:
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def read_results(path: Path) -> dict[str, Any]:
    """Read a results file of ours or of the original release."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    for key in ("model", "accuracy", "correct", "total", "results"):
        if key not in doc:
            raise ValueError(f"{path}: not a V-SYNC results file (missing {key!r})")
    return doc
