"""Helpers shared by the project's own tests (importable as ``tests.support``)."""

from __future__ import annotations

import json
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
