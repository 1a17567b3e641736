"""Run records: one JSON line per benchmark test, enough to decide the run again without the model.

    run ─▶ records (JSONL, beside the results file) ─▶ --rescore ─▶ ReplayModel ─▶ Evaluator ─▶ new outcomes

A record holds the raw response(s) and everything that says what was asked and of whom:
model name and fingerprint (model id, revision, decoding parameters), a hash of the
prompt, the clip's sha256, latency and token usage. ``--rescore`` replays the recorded
responses through the ordinary :class:`~vsync_models.run.evaluate.Evaluator` (the same
extraction and scoring as a live run, never a copy of it), so a fixed extractor or a
new grouping applies to an old run with no model call at all.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from vsync_models.errors import MediaError, ModelError, OutputError
from vsync_models.models.base import ModelOutput
from vsync_models.record import Record, Repeat, Rotation
from vsync_models.run.cache import ResponseCache, cache_key
from vsync_models.types import ItemResult, Outcome, Provenance, Request

__all__ = [
    "RecordLog",
    "ReplayModel",
    "prompt_sha256",
    "records_path",
    "with_provenance",
]


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
    return replace(result, provenance=Provenance(prompt_sha256(request), media, request.repeat))


def records_path(results_file: Path) -> Path:
    """``results_m_level1_vt.json`` → ``results_m_level1_vt.records.jsonl``, beside it."""
    return results_file.with_suffix(".records.jsonl")


class RecordLog:
    """Appends record lines as results arrive, so a killed run keeps what it answered.

    Each records file of this run is written to a part file of its own beside it
    (``<records file>.<pid>-<random>.part``) and renamed into place by :meth:`close`: two runs
    sharing a reports directory never write into one file, a reader never sees half of one, and
    each records file is one whole run, like the results file beside it (the last run to finish).
    A killed run leaves its part file, every line it wrote (``--rescore-from`` reads it).

    A write that fails (disk full, permission) raises :class:`~vsync_models.errors.OutputError`
    once; from then on nothing more is written and :meth:`close` renames nothing, so the records
    files of the run before stay whole, and this run's lines so far stay in their part files.
    """

    def __init__(self) -> None:
        self._files: dict[Path, tuple[Path, IO[str]]] = {}
        self._parts: list[Path] = []
        self._token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.failed: OutputError | None = None

    def write(self, path: Path, record: Record) -> None:
        if self.failed is not None:
            return
        part = path.with_name(f"{path.name}.{self._token}.part")
        try:
            if path not in self._files:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._files[path] = (part, open(part, "x", encoding="utf-8"))  # noqa: SIM115 (kept open)
                self._parts.append(part)
            fh = self._files[path][1]
            fh.write(record.dumps() + "\n")
            fh.flush()
        except OSError as exc:
            self.failed = OutputError(part, exc)
            raise self.failed from exc

    @property
    def parts(self) -> list[Path]:
        """The part files this run wrote into (renamed away by a :meth:`close` that succeeded)."""
        return list(self._parts)

    def close(self) -> list[Path]:
        """Rename every complete part file into place; the records files written, in order."""
        done: list[Path] = []
        files, self._files = self._files, {}
        for path, (part, fh) in files.items():
            try:
                fh.close()
                if self.failed is None:
                    os.replace(part, path)
                    done.append(path)
            except OSError as exc:
                self.failed = self.failed or OutputError(path, exc)
        return done


_Key = tuple[int, str, str, tuple[str, ...], int]


def _key(level: int, item_id: Any, modality: str, options: Sequence[str], repeat: int) -> _Key:
    return level, str(item_id), modality, tuple(options), repeat


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
        cls, name: str, records: Iterable[Record], cache: ResponseCache | None = None
    ) -> ReplayModel:
        model = cls(name, cache=cache)
        for rec in records:
            if rec.model not in (None, name):
                continue
            if not model.recorded_fingerprint and rec.fingerprint:
                model.recorded_fingerprint = dict(rec.fingerprint)
            ask = functools.partial(_key, rec.level, rec.id, rec.modality)
            model._add(ask(rec.options, rec.repeat), rec)
            for rot in rec.rotations or ():
                model._add(ask(rot.options, 0), rot)
            for rep in rec.repeats or ():
                model._add(ask(rec.options, rep.repeat), rep)
                for rot in rep.rotations or ():  # --repeat with --circular
                    model._add(ask(rot.options, rep.repeat), rot)
        return model

    def _add(self, key: _Key, asked: Record | Repeat | Rotation) -> None:
        """The first answer for a request wins (a record's own fields come before its repeat 0 or
        rotation 0 copy); an answer beats an error recorded for the same request."""
        if key in self.answers:
            return
        error, usage = (None, None) if isinstance(asked, Rotation) else (asked.error, asked.usage)
        if asked.outcome is Outcome.ERROR:  # a rotation's line keeps no error text or usage
            self.errors.setdefault(key, error or "infrastructure error")
        else:
            self.answers[key] = (asked.raw_response, usage)
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
