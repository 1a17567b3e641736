"""What one pytest process knows about the benchmark run, and where it is kept (``config.stash``).

Apart from :mod:`vsync_pytest.session`, which builds it, so that every part of the plugin can read
it without importing the fixtures.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from vsync_models.config import Config
from vsync_models.data.dataset import Dataset
from vsync_models.data.levels import Level
from vsync_models.models.base import Model
from vsync_models.models.omni_server import AudioCanary
from vsync_models.models.settings import ResolvedSettings
from vsync_models.report.runs import model_dir
from vsync_models.serve.serving import Serving
from vsync_models.types import Modality
from vsync_pytest.rescore import Rescore

__all__ = ["ALL_MODALITIES", "RUN_KEY", "RunState"]

ALL_MODALITIES = (Modality.AVT, Modality.VT, Modality.AT)


@dataclass(frozen=True)
class RunState:
    """What one pytest process knows about the benchmark run."""

    config: Config
    levels: tuple[Level, ...]
    """Every level this run loaded, in level order (see :func:`vsync_models.data.levels.load_levels`)."""
    modalities: tuple[Modality, ...]
    model_name: str | None
    model: Model | None
    cache_dir: Path
    results_dir: Path
    """This run's own folder (``reports/<model>/<timestamp>/`` or ``--run-dir``): every file it writes."""
    use_cache: bool
    refresh: bool
    fail_under: float | None
    circular: bool = False
    """``--circular``: ask every rotation of the options; the item passes only if all are right."""
    server_url: str | list[str] | None = None
    """The local model server (or its replicas) this run uses (started or found on the controller), for the workers."""
    serving: Serving | None = None
    """How the model is served (:mod:`vsync_models.serve.serving`); ``None`` without a model."""
    audio_canary: AudioCanary | None = None
    """Did audio reach the model (controller only; see vsync_pytest.server.check_audio)."""
    repeat: int = 1
    """``--repeat N``: every item asked N times (separate cached requests)."""
    rescore: Rescore | None = None
    """``--rescore``: the model is a replay of these records; nothing is asked."""
    reports_dir: Path | None = None
    """Where the run folders of every model are (``reports/``, or ``benchmark.level1.output_dir``)."""
    settings: ResolvedSettings | None = None
    """The model's effective typed settings (``models.<name>`` and ``--model-arg``)."""
    limit: int | None = None
    """``--limit N``: each level's dataset is a stratified choice of N of its items (see ``selected_from``)."""

    @property
    def points_latest(self) -> bool:
        """Whether this run moves ``reports/<model>/latest`` (a run folder of the default layout)."""
        return (
            self.model_name is not None
            and self.reports_dir is not None
            and self.results_dir.parent == model_dir(self.reports_dir, self.model_name)
        )

    @property
    def datasets(self) -> tuple[Dataset, ...]:
        """The datasets of :attr:`levels`, in level order."""
        return tuple(level.dataset for level in self.levels)

    def level(self, number: int) -> Level:
        """The loaded level ``number`` (its items, prompts and results files)."""
        for level in self.levels:
            if level.number == number:
                return level
        raise KeyError(f"level {number} is not part of this run")


RUN_KEY = pytest.StashKey[RunState]()
