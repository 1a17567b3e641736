"""Helpers shared by the project's own tests (importable as ``tests.support``)."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from vsync_models.record import Record

REPO = Path(__file__).resolve().parents[1]


def write_dataset(root: Path, items: list[dict], clip_bytes: bytes = b"stand-in clip") -> Path:
    """A level-1 dataset directory; clips are stand-in bytes unless a test needs real media."""
    videos = root / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for it in items:
        clip = videos / it["video_path"]
        if not clip.exists():
            clip.write_bytes(clip_bytes + it["video_path"].encode())
    (root / "dataset.json").write_text(json.dumps(items, ensure_ascii=False, indent=1), encoding="utf-8")
    return root


def choice_items(n: int, answers: str = "ABCD", task: str | None = None) -> list[dict]:
    items = []
    for i in range(n):
        item = {
            "id": f"q{i:03d}",
            "video_path": f"clip{i % 3}.mp4",
            "question": f"Which character said sentence {i}?",
            "options": [
                "A. the red circle",
                "B. the blue square",
                "C. the green triangle",
                "D. the grey star",
            ],
            "correct_answer": answers[i % len(answers)],
            "asr_content": f"sentence {i} was said here.",
        }
        if task:
            item["task"] = task
        items.append(item)
    return items


def live_processes(*markers: str) -> list[str]:
    """Command lines of live processes that mention every marker (e.g. a unique model path and
    the server's module): what a test checks to know that a server it started is gone."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(marker in text for marker in markers):
            found.append(text)
    return found


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_mp4(
    path: Path, frames: Sequence[np.ndarray], fps: int, tone: np.ndarray | None = None, rate: int = 16000
) -> Path:
    """Mux RGB frames (H.264; none: no video stream) and a mono int16 tone (AAC; ``None``: no audio
    stream) into an mp4: the tiny clips tests make for media handling and the model servers."""
    with av.open(str(path), mode="w", format="mp4") as out:
        # Every stream must exist before the first packet is muxed (that writes the header).
        vs = out.add_stream("libx264", rate=fps) if len(frames) else None
        aus = out.add_stream("aac", rate=rate, layout="mono") if tone is not None else None
        if vs is not None:
            vs.height, vs.width = frames[0].shape[:2]
            vs.pix_fmt = "yuv420p"
            for i, rgb in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, fps)
                out.mux(vs.encode(frame))
            out.mux(vs.encode(None))
        if aus is not None:
            for start in range(0, len(tone), 1024):
                frame = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="s16", layout="mono"
                )
                frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
                out.mux(aus.encode(frame))
            out.mux(aus.encode(None))
    return path


def report_items(html_text: str) -> dict[str, str]:
    """Row id (pytest-html's tbody id: the test cell's text) → the item's block, from the HTML
    report's store of item blocks."""
    store = re.search(
        r"<script type='application/json' id='vsync-items'[^>]*>(.*?)</script>", html_text, re.S
    )
    assert store is not None, "no item store in the report"
    return json.loads(store.group(1))["items"]


def last_run(root: Path, model: str | None = None) -> Path:
    """The folder of the last run under ``root/reports`` (``reports/<model>/latest``); with no
    ``model``, of the model whose latest pointer moved last."""
    from vsync_models.report.runs import LATEST, latest_run

    reports = Path(root) / "reports"
    if model is not None:
        run = latest_run(reports, model)
        assert run is not None, f"no run of {model} under {reports}"
        return run
    pointers = sorted(reports.glob(f"*/{LATEST}"), key=lambda p: p.lstat().st_mtime)
    assert pointers, f"no run under {reports}: {sorted(p.name for p in reports.glob('*'))}"
    run = latest_run(reports, pointers[-1].parent.name)
    assert run is not None
    return run


def choice_record(i: int, outcome: str, modality: str = "avt", **extra: Any) -> Record:
    """A level-1 record of item ``q{i:03d}`` with this outcome (``A`` is right, ``B`` is wrong)."""
    return Record.from_json(
        {
            "id": f"q{i:03d}",
            "level": 1,
            "modality": modality,
            "task": "who_said",
            "video_path": f"c{i}.mp4",
            "correct_answer": "A",
            "prediction": {"correct": "A", "wrong": "B"}.get(outcome),
            "is_correct": outcome == "correct",
            "outcome": outcome,
            **extra,
        }
    )


def speaker_moves_first(clips: list[dict]) -> list[dict]:
    """A planted leak for the oracles: copies of synth ground-truth ``clips`` in which, in every
    slot, the heard mouth's onset is swapped with the earliest one (and the utterance follows it)."""
    import copy

    leaky = copy.deepcopy(clips)
    for clip in leaky:
        for slot in range(len(clip["utterances"])):
            moving = [m for m in clip["mouthing"] if m["slot"] == slot]
            heard = next(m for m in moving if m["heard"])
            first = min(moving, key=lambda m: m["start_s"])
            for key in ("start_s", "end_s"):
                heard[key], first[key] = first[key], heard[key]
            clip["utterances"][slot]["start_s"] = heard["start_s"]
            clip["utterances"][slot]["end_s"] = heard["end_s"]
    return leaky
