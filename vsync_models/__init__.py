"""V-SYNC: does an omni model know *when* things are said?

The library half of the benchmark (the pytest plugin lives in ``vsync_pytest/``):
datasets, prompts, media views, models, answer extraction, scoring, cache and results.
It never imports pytest.
"""

from vsync_models.errors import (
    ConfigError,
    DatasetError,
    MediaError,
    ModalityViolation,
    ModelError,
    ModelRequestError,
    ModelUnavailable,
    VsyncError,
)
from vsync_models.types import Answer, Item, ItemResult, Modality, Outcome, Request, Response

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "ConfigError",
    "DatasetError",
    "Item",
    "ItemResult",
    "MediaError",
    "Modality",
    "ModalityViolation",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailable",
    "Outcome",
    "Request",
    "Response",
    "VsyncError",
    "__version__",
]
