"""Where a run's files go, and how a later command finds them again.

Every run writes into a folder of its own, ``<reports>/<model>/<YYYYmmdd-HHMMSS>/`` (or the folder
``--run-dir`` names), under the original file names: results files, records, the HTML report, the
baseline candidate, server logs. Nothing of an earlier run is ever overwritten. Beside the run
folders, ``<reports>/<model>/latest`` points at the last run that wrote results: a relative
symlink, or, where symlinks cannot be made, a small text file holding the folder's name.

This module is the one place that computes a run's folder (:func:`new_run_dir`) and the one place
that reads a run back from a path (:func:`resolve_run`): a run folder, a ``latest`` pointer, or
any file inside a run.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from vsync_models.report.results import safe_name

__all__ = ["BASELINE_NAME", "LATEST", "latest_run", "model_dir", "new_run_dir", "point_latest", "resolve_run"]

LATEST = "latest"
BASELINE_NAME = "baseline.json"
"""Each run's baseline candidate, in its folder: copy it to adopt it as the baseline."""
_STAMP = "%Y%m%d-%H%M%S"


def model_dir(reports: Path, model: str) -> Path:
    """``<reports>/<model>``: the runs of one model."""
    return Path(reports) / safe_name(model)


def new_run_dir(reports: Path, model: str, now: datetime | None = None) -> Path:
    """Create and return a fresh folder ``<reports>/<model>/<timestamp>`` (``-2``, ``-3``, … when two
    runs start in the same second); it never names an existing folder."""
    parent = model_dir(reports, model)
    parent.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now()).strftime(_STAMP)
    for n in range(1, 10_000):
        path = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free run folder for {stamp} in {parent}")  # pragma: no cover


def point_latest(run_dir: Path) -> None:
    """Make ``<run_dir>/../latest`` point at ``run_dir``, replacing the pointer atomically."""
    run_dir = Path(run_dir)
    pointer = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    try:
        tmp.symlink_to(run_dir.name, target_is_directory=True)
    except OSError:  # no symlinks here (some Windows and network file systems): a text pointer
        tmp.write_text(run_dir.name + "\n", encoding="utf-8")
    if pointer.is_dir() and not pointer.is_symlink():
        tmp.unlink()
        raise FileExistsError(f"{pointer} is a folder, not a latest pointer; leaving it alone")
    os.replace(tmp, pointer)


def resolve_run(path: Path) -> Path:
    """A ``latest`` pointer (symlink or text file) → the run folder it names; anything else as given."""
    path = Path(path)
    if path.name == LATEST and path.is_file() and not path.is_symlink():
        return path.parent / path.read_text(encoding="utf-8").strip()
    return path.resolve() if path.is_symlink() else path


def latest_run(reports: Path, model: str) -> Path | None:
    """The folder of ``model``'s last run under ``reports``, or ``None``."""
    run = resolve_run(model_dir(reports, model) / LATEST)
    return run if run.is_dir() else None
