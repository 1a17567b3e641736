"""Run records: one JSON line per benchmark test, enough to decide the run again without the model.

    run ─▶ records (JSONL, beside the results file) ─▶ --rescore ─▶ ReplayModel ─▶ Evaluator ─▶ new outcomes

A record holds the raw response(s) and everything that says what was asked and of whom:
model name and fingerprint (model id, revision, decoding parameters), a hash of the
prompt, the clip's sha256, latency and token usage. ``--rescore`` replays the recorded
responses through the ordinary :class:`~vsync_models.evaluate.Evaluator` (the same
extraction and scoring as a live run, never a copy of it), so a fixed extractor or a
new grouping applies to an old run with no model call at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from vsync_models.cache import ResponseCache, cache_key
from vsync_models.errors import MediaError, ModelError
from vsync_models.models.base import ModelOutput
from vsync_models.types import ItemResult, Request

__all__ = [
    "DECODING_KEYS",
    "RecordLog",
    "ReplayModel",
    "prompt_sha256",
    "read_records",
    "records_path",
    "run_record",
    "with_provenance",
]

DECODING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "thinking_budget")
"""Fingerprint keys that are decoding parameters, repeated under ``decoding`` for readers."""


def prompt_sha256(request: Request) -> str:
    """What the model was asked, as text: prompt, question and options (the media are hashed apart)."""
    blob = json.dumps([request.prompt, request.question, list(request.options)], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def with_provenance(result: ItemResult, request: Request) -> ItemResult:
    """Attach the hashes of what was asked (and the repeat index when repeating)."""
    try:
        media = request.media.content_hash
    except (MediaError, OSError):
        media = None
    provenance: dict[str, Any] = {"prompt_sha256": prompt_sha256(request), "media_sha256": media}
    if request.repeat:
        provenance["repeat"] = request.repeat
    return replace(result, provenance=provenance)


def records_path(results_file: Path) -> Path:
    """``results_m_level1_vt.json`` → ``results_m_level1_vt.records.jsonl``, beside it."""
    return results_file.with_suffix(".records.jsonl")


def run_record(record: Mapping[str, Any], model: str, fingerprint: Mapping[str, Any]) -> dict[str, Any]:
    """One line of the records file: who answered (model, fingerprint, decoding) then the item's record."""
    decoding = {k: fingerprint[k] for k in DECODING_KEYS if k in fingerprint}
    return {"model": model, "fingerprint": dict(fingerprint), "decoding": decoding, **record}


class RecordLog:
    """Appends record lines as results arrive, so a killed run keeps what it answered.

    A file is truncated the first time this run writes to it: each records file is the
    run that wrote it, like the results file beside it.
    """

    def __init__(self) -> None:
        self._files: dict[Path, IO[str]] = {}

    def write(self, path: Path, line: Mapping[str, Any]) -> None:
        fh = self._files.get(path)
        if fh is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = self._files[path] = path.open("w", encoding="utf-8")
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
        fh.flush()

    @property
    def paths(self) -> list[Path]:
        return list(self._files)

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()


def read_records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """All record lines of ``paths``; a torn last line (a run killed mid-write) is skipped."""
    out: list[dict[str, Any]] = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


_Key = tuple[int, str, str, tuple[str, ...], int]


def _key(level: Any, item_id: Any, modality: Any, options: Sequence[str], repeat: Any) -> _Key:
    return int(level or 1), str(item_id), str(modality), tuple(options), int(repeat or 0)


@dataclass
class ReplayModel:
    """A :class:`~vsync_models.models.base.Model` that answers from recorded responses only.

    Requests are matched by level, item id, modality, options (so each CircularEval
    rotation finds its own answer) and repeat index; a request the records lack is looked
    up in the response cache, when one is given. An item whose recorded call failed, or
    that was found nowhere, is an infrastructure error again: rescoring never invents an
    answer.
    """

    name: str
    recorded_fingerprint: dict[str, Any] = field(default_factory=dict)
    answers: dict[_Key, tuple[str, dict[str, int] | None]] = field(default_factory=dict)
    errors: dict[_Key, str] = field(default_factory=dict)
    cache: ResponseCache | None = None
    """Where a request missing from the records may still have its answer (same model and
    fingerprint, so the same cache key); read only."""

    @classmethod
    def from_records(
        cls, name: str, records: Iterable[Mapping[str, Any]], cache: ResponseCache | None = None
    ) -> ReplayModel:
        model = cls(name, cache=cache)
        for rec in records:
            if rec.get("model") not in (None, name):
                continue
            if not model.recorded_fingerprint and rec.get("fingerprint"):
                model.recorded_fingerprint = dict(rec["fingerprint"])
            level, item_id, modality = rec.get("level"), rec["id"], rec["modality"]
            model._add(_key(level, item_id, modality, rec["options"], rec.get("repeat")), rec)
            for rot in rec.get("rotations") or ():
                model._add(_key(level, item_id, modality, rot["options"], 0), rot)
            for rep in rec.get("repeats") or ():
                model._add(_key(level, item_id, modality, rec["options"], rep.get("repeat")), rep)
                for rot in rep.get("rotations") or ():  # --repeat with --circular
                    model._add(_key(level, item_id, modality, rot["options"], rep.get("repeat")), rot)
        return model

    def _add(self, key: _Key, entry: Mapping[str, Any]) -> None:
        """The first answer for a request wins (a record's own fields come before its repeat 0 or
        rotation 0 copy); an answer beats an error recorded for the same request."""
        if key in self.answers:
            return
        if entry.get("outcome") == "error":
            self.errors.setdefault(key, str(entry.get("error") or "infrastructure error"))
        else:
            self.answers[key] = (str(entry.get("raw_response") or ""), entry.get("usage"))
            self.errors.pop(key, None)

    def __len__(self) -> int:
        return len(self.answers)

    def fingerprint(self) -> dict[str, Any]:
        return self.recorded_fingerprint

    def check(self) -> None:
        if not self.answers and not self.errors:
            raise ModelError(f"no recorded responses of model {self.name!r} to rescore")

    def generate(self, request: Request) -> ModelOutput:
        key = _key(request.level, request.item_id, request.modality.value, request.options, request.repeat)
        if key in self.answers:
            text, usage = self.answers[key]
            return ModelOutput(text=text, usage=usage)
        if self.cache is not None:
            media = request.media.content_hash
            hit = self.cache.get(cache_key(self.name, self.recorded_fingerprint, request, media))
            if hit is not None:
                return ModelOutput(text=hit.text, usage=hit.usage)
        if key in self.errors:
            raise ModelError(f"the recorded run had no answer here: {self.errors[key]}")
        raise ModelError(
            f"no recorded response for item {request.item_id!r} [{request.modality.value}]"
            + (f" repeat {request.repeat}" if request.repeat else "")
        )
