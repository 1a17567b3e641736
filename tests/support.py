"""Helpers shared by the project's own tests (importable as ``tests.support``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

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
