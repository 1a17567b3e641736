"""One item × modality from request to outcome: the pipeline the pytest plugin drives.

    build_request ─▶ cache? ─▶ claim ─▶ ask(model) ─▶ store ─▶ release ─▶ scoring.score ─▶ ItemResult

A key another process (a second run on the same cache, another worker) is asking for already is
waited for, then read from the cache (:class:`~vsync_models.run.handoff.Claims`).

Kept out of the plugin so it can be used (and tested) without pytest.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request, rotations
from vsync_models.errors import MediaError
from vsync_models.models.base import Model, ask
from vsync_models.record import Record, Repeat, Rotation
from vsync_models.run.cache import ResponseCache, cache_key
from vsync_models.run.handoff import Claims
from vsync_models.run.records import with_provenance
from vsync_models.scoring.score import ScoringSettings, score
from vsync_models.types import Item, ItemResult, Modality, Outcome, Request, Response

__all__ = ["Evaluator", "circular_verdict", "evaluate_case", "repeat_verdict"]


@dataclass
class Evaluator:
    """Everything needed to score items against one model; one per process."""

    model: Model
    prompts: Mapping[int, PromptSettings]
    """The prompt settings of each level the items come from (a run's :attr:`Level.prompts
    <vsync_models.data.levels.Level.prompts>`): level 1's are the original's, levels 2/3 ask for times."""
    preparer: MediaPreparer
    cache: ResponseCache | None = None
    read_cache: bool = True
    """``False`` for ``--refresh``: ask again, but still store the new answers."""
    request_delay_s: float = 0.0
    """The original's ``runtime.request_delay``: a pause before every real model call."""
    sleep: Any = time.sleep
    scoring: ScoringSettings | None = None
    claims: Claims | None = None
    """In-flight markers beside the cache: a request another process is sending is waited for."""

    def evaluate(self, item: Item, modality: Modality, repeat: int = 0, rotation: int = 0) -> ItemResult:
        try:
            prompts = self.prompts[item.level]
        except KeyError:
            raise ValueError(f"no prompt settings for level {item.level} (item {item.key!r})") from None
        request = build_request(item, modality, prompts, self.preparer)
        if repeat or rotation:
            request = replace(request, repeat=repeat, rotation=rotation)
        return with_provenance(self._evaluate(item, modality, request), request)

    def _evaluate(self, item: Item, modality: Modality, request: Request) -> ItemResult:
        key = None
        if self.cache is not None:
            try:
                key = cache_key(
                    self.model.name, self.model.fingerprint(), request, request.media.content_hash
                )
            except MediaError as exc:
                return self._error(item, modality, f"{type(exc).__name__}: {exc}", exc.kind)
            if self.read_cache and (hit := self._cached_or_claimed(key)) is not None:
                return self._score(item, modality, hit, self.scoring)
        try:
            if self.request_delay_s > 0:
                self.sleep(self.request_delay_s)
            response = ask(self.model, request)
            if response.error is None and self.cache is not None and key is not None:
                self.cache.put(key, request, self.model.name, response)
        finally:
            if self.claims is not None and key is not None and self.read_cache:
                self.claims.release(key)
        return self._score(item, modality, response, self.scoring)

    def _cached_or_claimed(self, key: str) -> Response | None:
        """The cached answer; else, with claims, wait while another process asks, then look again.
        ``None``: this process holds the claim (or there are no claims) and asks itself."""
        assert self.cache is not None
        while (hit := self.cache.get(key)) is None:
            if self.claims is None or self.claims.claim(key):
                return None
            self.claims.wait(key)
        return hit

    def evaluate_repeats(self, item: Item, modality: Modality, n: int) -> list[ItemResult]:
        """``--repeat N``: the same request N times, each a separate cache entry (its repeat index)."""
        return [self.evaluate(item, modality, repeat) for repeat in range(n)]

    def evaluate_circular(self, item: Item, modality: Modality, repeat: int = 0) -> list[ItemResult]:
        """CircularEval: one ordinary evaluation (request, cache entry) per rotation of the options;
        with ``--repeat`` each repeat is a whole CircularEval of its own."""
        return [self.evaluate(rotated, modality, repeat, i) for i, rotated in enumerate(rotations(item))]

    @staticmethod
    def _error(item: Item, modality: Modality, message: str, kind: str) -> ItemResult:
        response = Response(text="", latency_s=0.0, error=message, error_kind=kind)
        return ItemResult(item, modality, Outcome.ERROR, None, response)

    @staticmethod
    def _score(
        item: Item, modality: Modality, response: Response, scoring: ScoringSettings | None = None
    ) -> ItemResult:
        if response.error is not None:
            return ItemResult(item, modality, Outcome.ERROR, None, response)
        scored = score(item, response.text, scoring)
        return ItemResult(item, modality, scored.outcome, scored.answer, response, scored.measure)


def circular_verdict(results: list[ItemResult]) -> ItemResult:
    """The rotation that decides the item: the first error, else the first not-correct one, else
    rotation 0. Correct only if every rotation is; its outcome is the item's circular outcome."""
    errors = [r for r in results if r.outcome is Outcome.ERROR]
    if errors:
        return errors[0]
    return next((r for r in results if r.outcome is not Outcome.CORRECT), results[0])


def repeat_verdict(results: Sequence[ItemResult]) -> ItemResult:
    """The answer that decides the test: the first error, else the first not-correct one, else the
    first. With ``--circular`` pass every repeat's rotations in one list: one miss anywhere fails."""
    return circular_verdict(list(results))


def evaluate_case(
    evaluator: Evaluator, item: Item, modality: Modality, circular: bool = False, repeat: int = 1
) -> tuple[ItemResult, Record]:
    """One test: the result that decides it and its :class:`~vsync_models.record.Record`.

    ``--circular`` and ``--repeat`` ask several times and decide once; together, each repeat is a
    whole CircularEval (repeat 0 is exactly a plain ``--circular`` run, so its answers are reused).
    An item is flaky when its answers (with ``--circular``: its rotations' answers) differ between
    repeats that answered.
    """
    if circular and repeat > 1:
        rounds = [evaluator.evaluate_circular(item, modality, r) for r in range(repeat)]
        verdict = repeat_verdict([r for rnd in rounds for r in rnd])
        repeats = [
            replace(
                Repeat.of(i, rnd[0]),
                circular_outcome=circular_verdict(rnd).outcome,
                rotations=tuple(Rotation.of(r) for r in rnd),
            )
            for i, rnd in enumerate(rounds)
        ]
        answered = [
            rep for rep in repeats if all(r.outcome is not Outcome.ERROR for r in rep.rotations or ())
        ]
        flaky = _differ([tuple(r.prediction for r in rep.rotations or ()) for rep in answered])
        record = Record.circular(rounds[0], circular_verdict(rounds[0]).outcome)
        return verdict, record.repeated(repeats, verdict.outcome, flaky)
    if circular:
        rotated = evaluator.evaluate_circular(item, modality)
        verdict = circular_verdict(rotated)
        return verdict, Record.circular(rotated, verdict.outcome)
    if repeat > 1:
        results = evaluator.evaluate_repeats(item, modality, repeat)
        verdict = repeat_verdict(results)
        repeats = [Repeat.of(i, r) for i, r in enumerate(results)]
        flaky = _differ([rep.prediction for rep in repeats if rep.outcome is not Outcome.ERROR])
        return verdict, Record.of(results[0]).repeated(repeats, verdict.outcome, flaky)
    result = evaluator.evaluate(item, modality)
    return result, Record.of(result)


def _differ(answers: Sequence[Any]) -> bool:
    return len(set(answers)) > 1
