"""Seeded choices that stay the same across Python versions, and balanced dealing of answers.

Only ``random.Random.random()`` is used: it is the one part of :mod:`random` whose sequence Python
promises to keep, so a seed names the same dataset on every interpreter.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterable, Sequence
from typing import Generic, TypeVar

__all__ = ["Balancer", "Rng"]

_T = TypeVar("_T")
_K = TypeVar("_K", bound=Hashable)


class Rng:
    """Integers, floats, choices and shuffles built on ``random()`` alone."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def below(self, n: int) -> int:
        if n < 1:
            raise ValueError("need at least one choice")
        return min(int(self._random.random() * n), n - 1)

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self._random.random()

    def choice(self, items: Sequence[_T]) -> _T:
        return items[self.below(len(items))]

    def shuffled(self, items: Iterable[_T]) -> list[_T]:
        out = list(items)
        for i in range(len(out) - 1, 0, -1):
            j = self.below(i + 1)
            out[i], out[j] = out[j], out[i]
        return out


class Balancer(Generic[_K]):
    """Deal values so that each is used in proportion to its weight, ties broken at random.

    Greedy (always a least-used allowed value), so every prefix of a run is balanced to within
    one use per value: a fixed-letter or fixed-position guess can never beat chance by more than
    rounding, however many items are drawn.
    """

    def __init__(
        self,
        rng: Rng,
        values: Iterable[_K],
        weights: Iterable[float] | None = None,
        parent: Balancer[_K] | None = None,
    ) -> None:
        """``parent``, if given, deals the same values over a larger group: ties here go to the value
        least used there, so the group stays balanced as well as each of its parts."""
        self._rng = rng
        self._parent = parent
        self._values = list(values)
        self._weights = list(weights) if weights is not None else [1.0] * len(self._values)
        if not self._values or len(self._weights) != len(self._values):
            raise ValueError("need values and one weight per value")
        self.counts: dict[_K, int] = dict.fromkeys(self._values, 0)

    def pick(self, exclude: Iterable[_K] = ()) -> _K:
        banned = set(exclude)
        allowed = [(v, w) for v, w in zip(self._values, self._weights, strict=True) if v not in banned]
        if not allowed:
            raise ValueError("every value is excluded")
        load = min(self.counts[v] / w for v, w in allowed)
        tied = [v for v, w in allowed if self.counts[v] / w == load]
        if self._parent is not None:
            least = min(self._parent.counts[v] for v in tied)
            tied = [v for v in tied if self._parent.counts[v] == least]
        value = self._rng.choice(tied)
        self.counts[value] += 1
        if self._parent is not None:
            self._parent.counts[value] += 1
        return value
