"""Models that need no weights, no GPU and no network: the floor every real model must beat.

They never look at the media, so they score chance in every modality — which is
exactly what makes them useful as a sanity check of the harness and the data.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from vsync_models.models.base import ModelOutput
from vsync_models.types import Request

__all__ = ["ConstantModel", "RandomModel"]


class RandomModel:
    """Picks an option uniformly at random, reproducibly.

    The draw is seeded from (seed, item), not from a shared stream, so the answer for an
    item does not depend on test order, ``-k`` selection or xdist workers. It does not
    depend on the modality either: a model that never perceives the media cannot answer
    differently when a stream is withheld, so its three accuracies are equal.
    """

    def __init__(self, name: str = "random", seed: int = 0) -> None:
        self.name = name
        self.seed = seed

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "random", "seed": self.seed}

    def check(self) -> None:
        return None

    def generate(self, request: Request) -> ModelOutput:
        # Each --repeat draws anew (repeat 0 keeps the plain run's draw): a stand-in for sampling.
        repeat = getattr(request, "repeat", 0)
        salt = f"|{repeat}" if repeat else ""
        digest = hashlib.sha256(f"{self.seed}|{request.item_id}{salt}".encode()).digest()
        letter = random.Random(digest).choice([opt[0] for opt in request.options])
        return ModelOutput(text=letter)


class ConstantModel:
    """Always gives the same answer text (default ``"A"``): exposes letter imbalance in a dataset."""

    def __init__(self, name: str = "constant", answer: str = "A") -> None:
        self.name = name
        self.answer = answer

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "constant", "answer": self.answer}

    def check(self) -> None:
        return None

    def generate(self, request: Request) -> ModelOutput:
        return ModelOutput(text=self.answer)
