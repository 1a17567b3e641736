"""The levels a run asks (1, 2 and 3 alike), where each comes from, and the level-2 scoring thresholds.

A :class:`Level` is one loaded dataset with everything the run needs to ask and report it: its
number, its items, their prompts, what they may ask, and how its results files are named. Which
levels a run loads (:func:`load_levels`):

- ``--dataset PATH``: that dataset only, as the level its items declare (their ``level`` field,
  else 1); the shipped and configured levels are not loaded beside it. ``--video-dir`` is its
  video directory; without ``--dataset`` it is level 1's (the original's level-1 option).
- otherwise every level ``N`` whose dataset exists, from ``benchmark.levelN.dataset_path`` /
  ``video_dir`` (default ``data/level_N``). A level whose *default* directory is absent (level 1's
  too) is simply not part of the run; one whose configured path is absent is an error, because the
  user asked for it.

What differs between levels is data (:data:`~vsync_models.data.dataset.LEVEL_ANSWER_TYPES`), never a
test of the level's number outside the definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vsync_models.config import Config
from vsync_models.data.dataset import LEVEL_ANSWER_TYPES, Dataset, asks_times, load_dataset, resolve_dataset_paths
from vsync_models.errors import ConfigError, DatasetError
from vsync_models.data.prompts import PromptSettings, prompt_settings
from vsync_models.scoring.score import DEFAULT_IOU_THRESHOLD, DEFAULT_TOLERANCE_S, ScoringSettings
from vsync_models.types import Item

__all__ = [
    "LATE_FUSION_LEAKS",
    "LEVELS",
    "Level",
    "guess_chance",
    "load_levels",
    "make_level",
    "scoring_settings",
]

LEVELS = tuple(LEVEL_ANSWER_TYPES)
"""Every level V-SYNC knows, in run order."""

LATE_FUSION_LEAKS: dict[tuple[int, str], str] = {
    (1, "said_when_event"): (
        "answered without the sound: the prop changes one per sentence, in the transcript's order, "
        "so frames at 1 fps plus the transcript name the sentence (late-fusion oracle 80/80)"
    ),
    (1, "event_when_said"): (
        "answered without the sound: the quote's place in the transcript is the order of its prop "
        "change, which frames at 1 fps show (late-fusion oracle 80/80)"
    ),
    (2, "event_offset"): (
        "mostly answered without the sound: the quote's place in the transcript names its slot, and "
        "frames at 1 fps bound when that slot's mouths start and when the prop changes (late-fusion "
        "oracle within 0.5 s on 64 % of the shipped items, 65 % on 2,000 planned clips; chance 25 %)"
    ),
}
"""(level, task) → why the task needs no binding of sound to picture: frames at 1 fps plus the
transcript (late fusion, what the OpenAI-compatible path gives in ``avt``) answer it. Measured by
``python -m vsync_models.synth oracles`` on the shipped V-SYNC-Synth sets; a report marks these
task rows, and their synchrony gain measures the transcript's absence in ``vt``, not binding."""


def guess_chance(answer_type: str | None, n_options: int) -> float | None:
    """How often a uniform guess answers one item right, from what the item asks.

    ``choice`` (``None``: level 1's plain multiple choice): one of ``n_options``; ``yesno``: one of
    two. Time answers (``instant``, ``interval``) have no chance level: a guessed time passes or
    not depending on the clip's length and the tolerance, so ``None``.
    """
    if answer_type in (None, "choice"):
        return 1 / n_options if n_options > 0 else None
    if answer_type == "yesno":
        return 0.5
    return None


@dataclass(frozen=True)
class Level:
    """One level of a run: its loaded dataset, the prompts its items get, its results files' names."""

    number: int
    dataset: Dataset
    prompts: PromptSettings
    """Resolved for the run's model (``models.<name>.user_prompt`` beats the level's)."""
    output_pattern: str | None = None
    """``benchmark.levelN.output_pattern``; ``None``: the default ``results_{model}_level{level}.json``."""

    def __post_init__(self) -> None:
        if self.dataset.level != self.number:  # pragma: no cover - a programming error
            raise ValueError(f"level {self.number} given a level-{self.dataset.level} dataset")

    @property
    def video_dir(self) -> Path:
        """The directory the items' ``video_path`` values are relative to (resolved)."""
        return self.dataset.video_dir

    @property
    def answer_types(self) -> tuple[str, ...]:
        """What this level's items may ask (level 1: ``choice`` only)."""
        return LEVEL_ANSWER_TYPES[self.number]

    @property
    def states_duration(self) -> bool:
        """Whether its prompts state the clip's length (levels that ask for times)."""
        return asks_times(self.number)

    def leak(self, task: str | None) -> str | None:
        """Why ``task`` of this level is answered without binding sound to picture, if it is
        (:data:`LATE_FUSION_LEAKS`)."""
        return LATE_FUSION_LEAKS.get((self.number, task or ""))

    def __iter__(self) -> Iterator[Item]:
        return iter(self.dataset)

    def __len__(self) -> int:
        return len(self.dataset)


def make_level(config: Config, dataset: Dataset, model_name: str) -> Level:
    """The level of ``dataset``, with its prompts for ``model_name`` and its output pattern from the config."""
    n = dataset.level
    return Level(n, dataset, prompt_settings(config, n, model_name), config.level(n).output_pattern)


def load_levels(
    config: Config,
    resolve: Callable[[str], Path],
    model_name: str = "",
    dataset: Path | None = None,
    video_dir: Path | None = None,
) -> tuple[Level, ...]:
    """Load and validate the run's levels (see the module docstring); problems of all levels at once.

    ``resolve`` turns a config or default path into an absolute one; ``dataset`` and ``video_dir``
    (``--dataset``, ``--video-dir``) are already absolute.
    """
    if dataset is not None:
        return (make_level(config, load_dataset(dataset, video_dir, level=None), model_name),)
    loaded: list[Level] = []
    problems: list[str] = []
    for level in LEVELS:
        lvl = config.level(level)
        path = resolve(lvl.dataset_path or f"data/level_{level}")
        videos = resolve(lvl.video_dir) if lvl.video_dir else None
        if level == 1 and video_dir is not None:  # --video-dir is the original's level-1 option
            videos = video_dir
        json_path, _ = resolve_dataset_paths(path, videos)
        if not json_path.is_file() and lvl.dataset_path is None:
            continue
        try:
            loaded.append(make_level(config, load_dataset(path, videos, level=level), model_name))
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
