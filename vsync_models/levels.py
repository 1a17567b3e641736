"""Which level-2/3 datasets a run loads, and the level-2 scoring thresholds, from the config.

Level 1 keeps its own options (``--dataset``, ``--video-dir``); levels 2 and 3 come from
``benchmark.levelN.dataset_path`` / ``video_dir``. A level whose *default* directory
(``data/level_N``) is absent is simply not part of the run; one whose configured path is absent
is an error, because the user asked for it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vsync_models.config import Config
from vsync_models.dataset import Dataset, load_dataset, resolve_dataset_paths
from vsync_models.errors import ConfigError, DatasetError
from vsync_models.scoring import DEFAULT_IOU_THRESHOLD, DEFAULT_TOLERANCE_S, ScoringSettings

__all__ = ["TIMED_LEVELS", "load_timed_levels", "scoring_settings"]

TIMED_LEVELS = (2, 3)


def load_timed_levels(config: Config, resolve: Callable[[str], Path]) -> tuple[Dataset, ...]:
    """Load and validate every level-2/3 dataset that exists; problems of all levels at once."""
    loaded: list[Dataset] = []
    problems: list[str] = []
    for level in TIMED_LEVELS:
        lvl = config.level(level)
        path = resolve(lvl.dataset_path or f"data/level_{level}")
        video_dir = resolve(lvl.video_dir) if lvl.video_dir else None
        json_path, _ = resolve_dataset_paths(path, video_dir)
        if not json_path.is_file() and lvl.dataset_path is None:
            continue
        try:
            loaded.append(load_dataset(path, video_dir, level=level))
        except DatasetError as exc:
            problems.extend(exc.problems)
    if problems:
        raise DatasetError(problems)
    return tuple(loaded)


def scoring_settings(config: Config) -> ScoringSettings:
    """``benchmark.level2.{iou_threshold, tolerance_s}``, checked so a typo cannot pass everything."""
    lvl = config.level(2)
    iou = lvl.iou_threshold if lvl.iou_threshold is not None else DEFAULT_IOU_THRESHOLD
    tol = lvl.tolerance_s if lvl.tolerance_s is not None else DEFAULT_TOLERANCE_S
    if not 0.0 < iou <= 1.0:
        raise ConfigError(f"benchmark.level2.iou_threshold must be in (0, 1], got {iou:g}")
    if tol < 0:
        raise ConfigError(f"benchmark.level2.tolerance_s must be >= 0, got {tol:g}")
    return ScoringSettings(iou, tol)
