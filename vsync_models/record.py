"""The record of one benchmark test: the one contract between running an item and every report.

    ItemResult(s) ──Record.of / circular / repeated──▶ Record ──▶ terminal · results JSON · records JSONL
                                                              · HTML · Allure · JUnit · compare · gates · rescore

A :class:`Record` is built once, where the answer is scored (:func:`vsync_models.run.evaluate.evaluate_case`),
travels from an xdist worker to the controller as JSON, and is written to the results file and
the records file. This module is the only place that turns a record into JSON and back
(:meth:`Record.to_json`, :meth:`Record.from_json`); every other module reads attributes.

The JSON layout is the original release's results entry first (``id`` … ``is_correct``), then
ours, in a fixed order; optional parts appear only when they apply, so a plain level-1 run's
files look exactly as the original's plus our fields:

* ``replica`` — when a replica set answered;
* ``prompt_sha256``, ``media_sha256`` (and ``repeat`` for a repeat > 0) — what was asked;
* ``answer_type``, ``answer``, ``iou`` / ``abs_error_s``, ``group``, ``cut_s`` — levels 2 and 3;
* ``circular_outcome``, ``rotations`` — ``--circular`` (:class:`Rotation`);
* ``repeat_outcome``, ``repeats``, ``flaky`` — ``--repeat N`` (:class:`Repeat`);
* ``model``, ``fingerprint``, ``decoding`` — first, in the records file (:meth:`Record.for_run`).

``clip`` (the resolved path of the item's clip) travels to the controller and into the records
file, so a report shows the item's own clip; it is left out of the results file, which is for
sharing. A file read back keeps fields this module does not know in :attr:`Record.extra`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vsync_models.types import Answer, ItemResult, Outcome

__all__ = ["DECODING_KEYS", "Record", "Repeat", "Rotation", "read_records"]

DECODING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "thinking_budget")
"""Fingerprint keys that are decoding parameters, repeated under ``decoding`` for readers."""

_TIME_KINDS = {"interval": "iou", "instant": "abs_error_s"}


@dataclass(frozen=True)
class Rotation:
    """One rotation of the options under ``--circular`` (rotation 0 is the dataset's order)."""

    options: tuple[str, ...]
    correct_answer: str
    prediction: Any
    outcome: Outcome
    raw_response: str
    latency_s: float | None = None
    cached: bool = False
    error_kind: str | None = None
    """Why this rotation's call failed (written only when it did)."""

    @classmethod
    def of(cls, result: ItemResult) -> Rotation:
        return cls(
            options=result.item.options,
            correct_answer=result.item.correct_answer,
            prediction=_letter(result.answer),
            outcome=result.outcome,
            raw_response=result.response.text,
            latency_s=round(result.response.latency_s, 4),
            cached=result.response.cached,
            error_kind=result.response.error_kind,
        )

    def to_json(self) -> dict[str, Any]:
        out = {
            "options": list(self.options),
            "correct_answer": self.correct_answer,
            "prediction": self.prediction,
            "outcome": self.outcome.value,
            "raw_response": self.raw_response,
            "latency_s": self.latency_s,
            "cached": self.cached,
        }
        if self.error_kind is not None:
            out["error_kind"] = self.error_kind
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Rotation:
        return cls(
            options=tuple(d.get("options") or ()),
            correct_answer=str(d.get("correct_answer") or ""),
            prediction=d.get("prediction"),
            outcome=Outcome(d["outcome"]),
            raw_response=str(d.get("raw_response") or ""),
            latency_s=d.get("latency_s"),
            cached=bool(d.get("cached")),
            error_kind=d.get("error_kind"),
        )


@dataclass(frozen=True)
class Repeat:
    """One asking of the item under ``--repeat N``; with ``--circular`` it holds all its rotations."""

    repeat: int
    prediction: Any
    outcome: Outcome
    raw_response: str
    extraction_rule: str | None = None
    latency_s: float | None = None
    usage: dict[str, int] | None = None
    cached: bool = False
    error: str | None = None
    circular_outcome: Outcome | None = None
    rotations: tuple[Rotation, ...] | None = None
    error_kind: str | None = None
    """Why this repeat's call failed (written only when it did)."""

    @property
    def verdict(self) -> Outcome:
        """How this repeat ended: its circular outcome under ``--circular``, else its outcome."""
        return self.circular_outcome or self.outcome

    @classmethod
    def of(cls, index: int, result: ItemResult) -> Repeat:
        return cls(
            repeat=result.provenance.repeat if result.provenance else index,
            prediction=_letter(result.answer),
            outcome=result.outcome,
            raw_response=result.response.text,
            extraction_rule=result.answer.rule if result.answer else None,
            latency_s=round(result.response.latency_s, 4),
            usage=result.response.usage,
            cached=result.response.cached,
            error=result.response.error,
            error_kind=result.response.error_kind,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "repeat": self.repeat,
            "prediction": self.prediction,
            "outcome": self.outcome.value,
            "raw_response": self.raw_response,
            "extraction_rule": self.extraction_rule,
            "latency_s": self.latency_s,
            "usage": self.usage,
            "cached": self.cached,
            "error": self.error,
        }
        if self.error_kind is not None:
            out["error_kind"] = self.error_kind
        if self.circular_outcome is not None:
            out["circular_outcome"] = self.circular_outcome.value
        if self.rotations is not None:
            out["rotations"] = [r.to_json() for r in self.rotations]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Repeat:
        rotations = d.get("rotations")
        return cls(
            repeat=int(d.get("repeat") or 0),
            prediction=d.get("prediction"),
            outcome=Outcome(d["outcome"]),
            raw_response=str(d.get("raw_response") or ""),
            extraction_rule=d.get("extraction_rule"),
            latency_s=d.get("latency_s"),
            usage=d.get("usage"),
            cached=bool(d.get("cached")),
            error=d.get("error"),
            circular_outcome=_outcome(d.get("circular_outcome")),
            rotations=None if rotations is None else tuple(Rotation.from_json(r) for r in rotations),
            error_kind=d.get("error_kind"),
        )


@dataclass(frozen=True)
class Record:
    """How one benchmark test (an item under one modality) ended, with what was asked and answered."""

    # the original release's results entry
    id: str | int
    video_path: str
    question: str
    options: tuple[str, ...]
    correct_answer: str
    prediction: Any
    raw_response: str
    is_correct: bool
    # ours
    modality: str
    level: int = 1
    task: str | None = None
    outcome: Outcome = Outcome.WRONG
    extraction_rule: str | None = None
    latency_s: float | None = None
    usage: dict[str, int] | None = None
    cached: bool = False
    error: str | None = None
    error_kind: str | None = None
    retries: int = 0
    replica: str | None = None
    prompt_sha256: str | None = None
    """With :attr:`media_sha256`, what was asked; ``None`` when the record does not say."""
    media_sha256: str | None = None
    repeat: int = 0
    """Which asking this is (``--repeat``); 0 for the first or only one."""
    answer_type: str | None = None
    """Levels 2 and 3: ``choice``, ``interval``, ``instant`` or ``yesno``; ``None`` on level 1."""
    answer: Any = None
    """Levels 2 and 3: the truth (``[start, end]``, seconds, ``"yes"``/``"no"`` or a letter)."""
    measure: float | None = None
    """IoU of an ``interval`` answer, absolute error in seconds of an ``instant`` one."""
    group: str | None = None
    """Level 3: the clip whose cuts these items are (they share it in clustered intervals)."""
    cut_s: float | None = None
    """Level 3: where the clip was cut."""
    circular_outcome: Outcome | None = None
    rotations: tuple[Rotation, ...] | None = None
    repeat_outcome: Outcome | None = None
    repeats: tuple[Repeat, ...] | None = None
    flaky: bool | None = None
    clip: str | None = None
    """The resolved path of the item's clip (not in results files)."""
    model: str | None = None
    """Records file only: who answered, with :attr:`fingerprint`."""
    fingerprint: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    """Fields of a file read back that this module does not know, written back as they were."""

    # -- built where the answer is scored -------------------------------------------------

    @classmethod
    def of(cls, result: ItemResult) -> Record:
        """The record of one asking."""
        it, response, answer = result.item, result.response, result.answer
        provenance = result.provenance
        timed = not (it.answer_type == "choice" and it.level == 1)
        return cls(
            id=it.id,
            video_path=it.video_path,
            question=it.question,
            options=it.options,
            correct_answer=it.correct_answer,
            prediction=_prediction(answer),
            raw_response=response.text,
            is_correct=result.outcome is Outcome.CORRECT,
            modality=result.modality.value,
            level=it.level,
            task=it.task,
            outcome=result.outcome,
            extraction_rule=answer.rule if answer else None,
            latency_s=round(response.latency_s, 4),
            usage=response.usage,
            cached=response.cached,
            error=response.error,
            error_kind=response.error_kind,
            retries=response.retries,
            replica=response.replica or None,
            prompt_sha256=provenance.prompt_sha256 if provenance else None,
            media_sha256=provenance.media_sha256 if provenance else None,
            repeat=provenance.repeat if provenance else 0,
            answer_type=it.answer_type if timed else None,
            answer=_plain(it.answer) if timed else None,
            measure=result.measure if timed else None,
            group=it.extra.get("group") if timed else None,
            cut_s=it.extra.get("cut_s") if timed else None,
            clip=str(it.video_file),
        )

    @classmethod
    def circular(cls, results: Sequence[ItemResult], verdict: Outcome) -> Record:
        """Rotation 0's record (plain accuracy, original format), the circular verdict and each rotation."""
        return replace(
            cls.of(results[0]),
            circular_outcome=verdict,
            rotations=tuple(Rotation.of(r) for r in results),
        )

    def repeated(self, repeats: Sequence[Repeat], verdict: Outcome, flaky: bool) -> Record:
        """This record (repeat 0's) with every repeat, the verdict over them all and whether answers differ."""
        return replace(self, repeat_outcome=verdict, repeats=tuple(repeats), flaky=flaky)

    # -- read by the reports ----------------------------------------------------------------

    @property
    def verdict(self) -> Outcome:
        """How the test ended: an error in any rotation or repeat makes it an error; else the
        repeat verdict, else the circular one, else the outcome."""
        if Outcome.ERROR in (self.outcome, self.circular_outcome, self.repeat_outcome):
            return Outcome.ERROR
        return self.repeat_outcome or self.circular_outcome or self.outcome

    @property
    def key(self) -> tuple[int, str]:
        """(level, id as text): ids are unique within a level."""
        return self.level, str(self.id)

    @property
    def cluster(self) -> str:
        """What questions share for clustered intervals: a level-3 clip's cuts, else the clip."""
        return self.group or self.video_path or str(self.id)

    @property
    def iou(self) -> float | None:
        return self.measure if self.answer_type == "interval" else None

    @property
    def abs_error_s(self) -> float | None:
        return self.measure if self.answer_type == "instant" else None

    def askings(self) -> list[tuple[str, str]]:
        """Every raw response behind the verdict, named by its repeat and rotation where there are several."""
        repeats: Sequence[Repeat | Record] = self.repeats or (self,)
        out = []
        for r, rep in enumerate(repeats):
            rotations: Sequence[Any] = rep.rotations or (rep,)
            for i, rot in enumerate(rotations):
                where = [f"repeat {r}"] * (len(repeats) > 1) + [f"rotation {i}"] * (len(rotations) > 1)
                out.append(("raw response" + (f" ({', '.join(where)})" if where else ""), rot.raw_response))
        return out

    def for_run(self, model: str, fingerprint: Mapping[str, Any]) -> Record:
        """The records file's line: who answered, then the record."""
        return replace(self, model=model, fingerprint=dict(fingerprint))

    # -- JSON: the only place -----------------------------------------------------------------

    def to_json(self, *, shared: bool = False) -> dict[str, Any]:
        """JSON-ready, in the layout of the module docstring; ``shared=True`` for the results file
        (no local clip path, no run header)."""
        out: dict[str, Any] = {}
        if self.model is not None and not shared:
            fingerprint = self.fingerprint or {}
            out["model"] = self.model
            out["fingerprint"] = fingerprint
            out["decoding"] = {k: fingerprint[k] for k in DECODING_KEYS if k in fingerprint}
        out.update(
            {
                "id": self.id,
                "video_path": self.video_path,
                "question": self.question,
                "options": list(self.options),
                "correct_answer": self.correct_answer,
                "prediction": self.prediction,
                "raw_response": self.raw_response,
                "is_correct": self.is_correct,
                "modality": self.modality,
                "level": self.level,
                "task": self.task,
                "outcome": self.outcome.value,
                "extraction_rule": self.extraction_rule,
                "latency_s": self.latency_s,
                "usage": self.usage,
                "cached": self.cached,
                "error": self.error,
                "error_kind": self.error_kind,
                "retries": self.retries,
            }
        )
        if self.replica:
            out["replica"] = self.replica
        if self.prompt_sha256 is not None:
            out["prompt_sha256"] = self.prompt_sha256
            out["media_sha256"] = self.media_sha256
        if self.repeat:
            out["repeat"] = self.repeat
        if self.answer_type is not None:
            out["answer_type"] = self.answer_type
            out["answer"] = self.answer
            if self.answer_type in _TIME_KINDS:
                out[_TIME_KINDS[self.answer_type]] = self.measure
            if self.group is not None:
                out["group"] = self.group
            if self.cut_s is not None:
                out["cut_s"] = self.cut_s
        if self.circular_outcome is not None:
            out["circular_outcome"] = self.circular_outcome.value
        if self.rotations is not None:
            out["rotations"] = [r.to_json() for r in self.rotations]
        if self.repeat_outcome is not None:
            out["repeat_outcome"] = self.repeat_outcome.value
        if self.repeats is not None:
            out["repeats"] = [r.to_json() for r in self.repeats]
        if self.flaky is not None:
            out["flaky"] = self.flaky
        out.update(self.extra)
        if self.clip is not None and not shared:
            out["clip"] = self.clip
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any], modality: str | None = None) -> Record:
        """A record of ours, or an entry of the original release's results (no ``outcome``: it is
        read from ``is_correct``; no ``modality``: ``modality`` or ``avt``). KeyError, TypeError or
        ValueError when a required field is missing or malformed."""
        outcome = _outcome(d.get("outcome")) or (Outcome.CORRECT if d.get("is_correct") else Outcome.WRONG)
        answer_type = d.get("answer_type")
        rotations, repeats = d.get("rotations"), d.get("repeats")
        return cls(
            id=_id(d["id"]),
            video_path=str(d.get("video_path") or ""),
            question=str(d.get("question") or ""),
            options=tuple(d.get("options") or ()),
            correct_answer=d.get("correct_answer") or "",
            prediction=d.get("prediction"),
            raw_response=str(d.get("raw_response") or ""),
            is_correct=bool(d.get("is_correct", outcome is Outcome.CORRECT)),
            modality=str(d.get("modality") or modality or "avt"),
            level=int(d.get("level") or 1),
            task=d.get("task"),
            outcome=outcome,
            extraction_rule=d.get("extraction_rule"),
            latency_s=d.get("latency_s"),
            usage=d.get("usage"),
            cached=bool(d.get("cached")),
            error=d.get("error"),
            error_kind=d.get("error_kind"),
            retries=int(d.get("retries") or 0),
            replica=d.get("replica"),
            prompt_sha256=d.get("prompt_sha256"),
            media_sha256=d.get("media_sha256"),
            repeat=int(d.get("repeat") or 0),
            answer_type=answer_type,
            answer=d.get("answer"),
            measure=d.get(_TIME_KINDS.get(answer_type or "", "")),
            group=d.get("group"),
            cut_s=d.get("cut_s"),
            circular_outcome=_outcome(d.get("circular_outcome")),
            rotations=None if rotations is None else tuple(Rotation.from_json(r) for r in rotations),
            repeat_outcome=_outcome(d.get("repeat_outcome")),
            repeats=None if repeats is None else tuple(Repeat.from_json(r) for r in repeats),
            flaky=d.get("flaky"),
            clip=d.get("clip"),
            model=d.get("model"),
            fingerprint=d.get("fingerprint"),
            extra={k: v for k, v in d.items() if k not in _KNOWN},
        )

    def dumps(self) -> str:
        """One line of JSON (the records file, the transport from xdist workers)."""
        return json.dumps(self.to_json(), ensure_ascii=False)

    @classmethod
    def loads(cls, text: str) -> Record:
        return cls.from_json(json.loads(text))


_KNOWN = frozenset(
    {f for f in Record.__dataclass_fields__ if f not in ("measure", "extra")}
    | {"iou", "abs_error_s", "decoding"}
)


def read_records(paths: Iterable[Path]) -> list[Record]:
    """All records of these records files; a torn last line (a run killed mid-write) is skipped."""
    out: list[Record] = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                out.append(Record.loads(line))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
    return out


def _outcome(value: Any) -> Outcome | None:
    return None if value is None else Outcome(value)


def _id(value: Any) -> str | int:
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return value
    raise TypeError(f"item id must be text or a whole number, got {value!r}")


def _letter(answer: Answer | None) -> str | None:
    return answer.letter if answer else None


def _prediction(answer: Answer | None) -> Any:
    if answer is None:
        return None
    return list(answer.value) if isinstance(answer.value, tuple) else (answer.letter or answer.value)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
