"""Write a level-1 set: plan the clips, write the questions, render and encode, pin by sha256.

Deterministic from the seed: planning and wording use only seeded :class:`~.rng.Rng` streams,
speech depends only on (text, voice, rate), and the encoder is made byte-stable (see
:mod:`.encode`), so the same seed gives the same ``dataset.json``, the same decoded frames and
audio and, with the same ``av`` and ``espeakng-loader`` versions, the same mp4 bytes.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import av
import numpy as np

from vsync_models.synth.encode import encode_mp4
from vsync_models.synth.items import build_items
from vsync_models.synth.layout import FPS, HEIGHT, WIDTH
from vsync_models.synth.plan import ClipPlan, plan_clips
from vsync_models.synth.render import mouth_openness, render_frames
from vsync_models.synth.speaker_items import SPEAKER_FILE, build_speaker_items
from vsync_models.synth.speech import UTTERANCE_S, FittedVoice
from vsync_models.synth.truth import clip_truth, layout_record
from vsync_models.synth.tts import DEFAULT_VOICE, SAMPLE_RATE, engine_version

__all__ = [
    "AUDIO_BITRATE",
    "CRF",
    "GENERATOR_VERSION",
    "GenerationSummary",
    "encode_clip",
    "file_record",
    "generate",
    "item_counts",
    "render_clip",
    "write_set",
    "write_speaker_items",
]

GENERATOR_VERSION = "2"
"""Bump whenever the same seed would produce different clips or items."""

CRF = 28
AUDIO_BITRATE = 24_000


@dataclass(frozen=True)
class GenerationSummary:
    """What :func:`generate` wrote, for the command line to report."""

    out_dir: Path
    clips: int
    items: int
    total_bytes: int
    seconds: float


def render_clip(plan: ClipPlan, voice: FittedVoice, path: Path) -> None:
    """Draw and encode one clip: mouths follow each character's mouthed speech, audio the heard."""
    openness = mouth_openness(plan.mouth_tracks(voice), SAMPLE_RATE, plan.n_frames)
    frames = render_frames(plan.cast, openness, plan.events)
    encode_clip(path, frames, plan.audio(voice))


def encode_clip(path: Path, frames: Iterable[np.ndarray], audio: np.ndarray) -> None:
    """Encode a clip at every level's settings (frame rate, sample rate, quality, audio bitrate)."""
    encode_mp4(path, frames, audio, fps=FPS, sample_rate=SAMPLE_RATE, crf=CRF, audio_bitrate=AUDIO_BITRATE)


def dataset_bytes(items: list[dict[str, Any]]) -> bytes:
    return (json.dumps(items, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def toolchain_record() -> dict[str, Any]:
    """What the bytes of a rendered clip depend on besides the seed (every level's manifest)."""
    return {
        "espeak_ng": engine_version(),
        "av": av.__version__,
        "numpy": np.__version__,
        "video": {"codec": "h264", "crf": CRF, "fps": FPS, "size": [WIDTH, HEIGHT]},
        "audio": {"codec": "aac", "bitrate": AUDIO_BITRATE, "sample_rate": SAMPLE_RATE},
        "layout": layout_record(),
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Indented JSON, except one compact line per clip: a third of the size, and still diffable."""
    head = {k: v for k, v in manifest.items() if k != "clips"}
    lines = json.dumps(head, indent=1, ensure_ascii=False).rstrip("}").rstrip()
    clips = ",\n".join(
        "  " + json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in manifest["clips"]
    )
    return f'{lines},\n "clips": [\n{clips}\n ]\n}}\n'.encode()


def generate(out_dir: Path, seed: int = 0, n_clips: int = 80) -> GenerationSummary:
    """Write ``dataset.json``, ``videos/clip_*.mp4`` and ``manifest.json`` into ``out_dir``.

    ``dataset.json`` is the original level-1 format plus ``task``, ``level``, ``seed`` and the
    item's ``truth`` (timings); the manifest pins every clip by sha256 and holds each clip's full
    ground truth (layout, utterances with word timings, every mouthing span, events).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    videos = out_dir / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    voice = FittedVoice()
    plans = plan_clips(seed, n_clips)
    items = build_items(plans, seed)

    records = []
    for plan in plans:
        path = videos / plan.video_path
        render_clip(plan, voice, path)
        records.append(file_record(path) | clip_truth(plan, voice))
    head = {
        "generator": "vsync_models.synth.level1",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "n_clips": n_clips,
        **item_counts(items),
        "voice": DEFAULT_VOICE,
        "utterance_s": UTTERANCE_S,
    }
    wanted = {p.video_path for p in plans}
    media = sum(r["bytes"] for r in records)
    summary = write_set(out_dir, items, head, records, wanted, media, len(plans), started)
    n_speaker, speaker_bytes = _write_speaker(out_dir, plans, seed)
    return replace(
        summary,
        items=summary.items + n_speaker,
        total_bytes=summary.total_bytes + speaker_bytes,
        seconds=time.perf_counter() - started,
    )


def file_record(path: Path) -> dict[str, Any]:
    """A rendered clip as a manifest pins it: its ``sha256`` and size in ``bytes``."""
    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def item_counts(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest's ``n_items`` and ``items_per_task`` (every level's)."""
    return {
        "n_items": len(items),
        "items_per_task": dict(sorted(collections.Counter(it["task"] for it in items).items())),
    }


def write_set(
    out_dir: Path,
    items: list[dict[str, Any]],
    head: dict[str, Any],
    records: list[dict[str, Any]],
    wanted: set[str],
    media_bytes: int,
    n_clips: int,
    started: float,
) -> GenerationSummary:
    """Finish any level's set once its clips are rendered: drop clips no longer ``wanted``, write
    ``dataset.json`` and ``manifest.json`` (``head``, the toolchain, the dataset's hash, ``records``)."""
    for stale in (out_dir / "videos").glob("clip_*.mp4"):
        if stale.name not in wanted:
            stale.unlink()
    dataset = dataset_bytes(items)
    _write(out_dir / "dataset.json", dataset)
    manifest = {
        **head,
        **toolchain_record(),
        "dataset_sha256": hashlib.sha256(dataset).hexdigest(),
        "clips": records,
    }
    raw = manifest_bytes(manifest)
    _write(out_dir / "manifest.json", raw)
    total = len(dataset) + len(raw) + media_bytes
    return GenerationSummary(out_dir, n_clips, len(items), total, time.perf_counter() - started)


def write_speaker_items(out_dir: Path, seed: int = 0, n_clips: int = 80) -> GenerationSummary:
    """Write only the ``event_when_speaking`` companion set (:data:`.speaker_items.SPEAKER_FILE`) of
    the level-1 set in ``out_dir``, planning its clips again from the seed (no rendering, seconds).

    The set's ``manifest.json`` must record the same seed and clip count and, clip by clip, the same
    cast, utterances, mouthing and events as the plans, so that the items describe the clips there.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    plans = plan_clips(seed, n_clips)
    manifest = json.loads((out_dir / "manifest.json").read_text(encoding="utf-8"))
    if (manifest.get("seed"), manifest.get("n_clips")) != (seed, n_clips):
        raise ValueError(
            f"{out_dir / 'manifest.json'} was generated with seed {manifest.get('seed')}, "
            f"{manifest.get('n_clips')} clips; asked for seed {seed}, {n_clips} clips"
        )
    for plan, record in zip(plans, manifest["clips"], strict=True):
        if not _same_clip(clip_truth(plan), record):
            raise ValueError(
                f"{out_dir / 'manifest.json'}: {plan.video_path} is not the clip seed {seed} plans"
            )
    n, size = _write_speaker(out_dir, plans, seed)
    return GenerationSummary(out_dir, len(plans), n, size, time.perf_counter() - started)


def _same_clip(planned: dict[str, Any], recorded: dict[str, Any]) -> bool:
    def bare(utterances: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in u.items() if k not in ("words", "rate_wpm")} for u in utterances]

    keys = ("video_path", "cast", "mouthing", "events")
    return all(planned[k] == recorded.get(k) for k in keys) and bare(planned["utterances"]) == bare(
        recorded.get("utterances", [])
    )


def _write_speaker(out_dir: Path, plans: list[ClipPlan], seed: int) -> tuple[int, int]:
    """(items, bytes) of the companion set written beside the level's ``dataset.json``."""
    items = build_speaker_items(plans, seed)
    data = dataset_bytes(items)
    path = out_dir / SPEAKER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, data)
    return len(items), len(data)


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` whole, so an interrupted run never leaves half a JSON file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
