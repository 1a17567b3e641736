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
    """Picks an option (or a yes/no, a time, an interval inside the clip) uniformly at random,
    reproducibly.

    The draw is seeded from (seed, item, and the ``--repeat`` and CircularEval rotation indices
    when not 0), not from a shared stream, so the answer for an item does not depend on test
    order, ``-k`` selection or xdist workers. It does not
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
        # Each --repeat and each CircularEval rotation draws anew (repeat 0, rotation 0 keeps the
        # plain run's draw): a stand-in for sampling, never biased towards one letter.
        repeat, rotation = getattr(request, "repeat", 0), getattr(request, "rotation", 0)
        salt = (f"|{repeat}" if repeat else "") + (f"|r{rotation}" if rotation else "")
        digest = hashlib.sha256(f"{self.seed}|{request.item_id}{salt}".encode()).digest()
        return ModelOutput(text=_random_answer(random.Random(digest), request))


def _random_answer(rng: random.Random, request: Request) -> str:
    if request.answer_type == "yesno":
        return rng.choice(["yes", "no"])
    end = request.duration_s or DEFAULT_DURATION_S
    if request.answer_type == "instant":
        return f"{rng.uniform(0.0, end):.2f} s"
    if request.answer_type == "interval":
        a, b = sorted((rng.uniform(0.0, end), rng.uniform(0.0, end)))
        return f"from {a:.2f} s to {max(b, a + 0.1):.2f} s"
    return rng.choice([opt[0] for opt in request.options])


DEFAULT_DURATION_S = 10.0
"""Where a prompt states no clip length: about the shipped clips' length."""

CONSTANT_ANSWERS = {"choice": "A", "yesno": "yes", "instant": "0 s", "interval": "from 0 s to 2 s"}
"""Per answer type, what ``constant`` says unless configured: a fixed pick exposes an imbalance
(letters, yes/no) or a positional bias (times near the start) in a dataset."""


class ConstantModel:
    """Always gives the same answer text per answer type (``"A"`` for choices, ``"yes"``...)."""

    def __init__(
        self, name: str = "constant", answer: str = "A", answers: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.answers = {**CONSTANT_ANSWERS, **(answers or {}), "choice": answer}

    def fingerprint(self) -> dict[str, Any]:
        return {"kind": "constant", "answers": self.answers}

    def check(self) -> None:
        return None

    def generate(self, request: Request) -> ModelOutput:
        return ModelOutput(text=self.answers.get(request.answer_type, self.answers["choice"]))
