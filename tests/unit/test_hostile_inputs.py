"""Hostile or broken inputs: each is a per-item error naming the item and its file, and the run
goes on with the rest. Media problems surface per item (asked of our omni-server client against
the stand-in); text a dataset cannot carry is refused at validation, naming every item.

(Truncated and empty clips through the OpenAI client, and ``..``, absolute, symlinked and
NUL-byte paths, are covered in test_hostile_media and test_dataset.)
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.standins.tiny_omni import make_clip
from tests.support import last_run
from vsync_models.data.dataset import load_level1
from vsync_models.errors import DatasetError
from vsync_models.serve.launch import probe_health
from vsync_models.standin import StandIn

OPTIONS = ["A. the red circle", "B. the blue square", "C. the green triangle", "D. the grey star"]
LONG = "Which character said it? " + "very " * 40_000 + "long?"
CLIPS = {  # clip, and what its error must say besides the clip's name (None: no error)
    "good": ("good.mp4", None),
    "truncated": ("truncated.mp4", ""),
    "empty": ("empty.mp4", ""),
    "wrong_ext": ("really_an_mp4.avi", None),
    "not_video": ("picture.mp4", ""),
    "silent": ("silent.mp4", "no audio stream"),
    "huge": ("huge.mp4", "over the limit of 1 MiB (runtime.max_clip_mb)"),
    "long_text": ("good.mp4", None),
    "unicode": ("good.mp4", None),
}


@pytest.fixture
def hostile(bench, tmp_path):
    root = bench.path / "data" / "level_1"
    videos = root / "videos"
    shutil.rmtree(videos)  # the bench fixture's stand-in clips
    videos.mkdir()
    good = make_clip(videos / "good.mp4", seconds=1.0)
    data = good.read_bytes()
    (videos / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (videos / "empty.mp4").write_bytes(b"")
    shutil.copyfile(good, videos / "really_an_mp4.avi")
    (videos / "picture.mp4").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    make_clip(videos / "silent.mp4", seconds=1.0, audio=False)
    (videos / "huge.mp4").write_bytes(data + b"\0" * (2 * 2**20))
    items = [
        {
            "id": name,
            "video_path": clip,
            "question": LONG if name == "long_text" else f"Which character said sentence {name}?",
            "options": OPTIONS,
            "correct_answer": "A",
            "asr_content": "Ünïcödé 🎬 وقت 時間 \u200b" if name == "unicode" else "hello",
        }
        for name, (clip, _) in CLIPS.items()
    ]
    (root / "dataset.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return bench


@pytest.mark.parametrize("modality", ["at", "vt"])
def test_broken_media_are_per_item_errors_and_the_run_goes_on(hostile, monkeypatch, modality):
    with StandIn() as server:
        (hostile.path / "config").mkdir()
        (hostile.path / "config" / "config.yaml").write_text(
            "runtime: {max_retries: 0, max_clip_mb: 1}\n"
            f"models: {{qwen2_5_omni: {{server_url: '{server.url}'}}}}\n",
            encoding="utf-8",
        )
        # (imported at the top, before any in-process run: pytester unloads modules a run imported)
        assert probe_health(server.url) is not None, "the harness reuses the stand-in as a running server"
        res = hostile.runpytest("--model", "qwen2_5_omni", "--modality", modality, "--tb=line")
    doc = json.loads((last_run(hostile.path) / f"results_qwen2_5_omni_level1_{modality}.json").read_text())
    by_id = {r["id"]: r for r in doc["results"]}
    assert set(by_id) == set(CLIPS), "every item has a record"
    expected = {name: why for name, (_, why) in CLIPS.items() if not (modality == "vt" and name == "silent")}
    for name, why in expected.items():
        record = by_id[name]
        if why is None:
            assert record["outcome"] != "error", (name, record["error"])
            continue
        assert record["outcome"] == "error" and record["error_kind"] == "media", (name, record["error"])
        assert why in record["error"] and CLIPS[name][0] in record["error"], record["error"]
        res.stdout.fnmatch_lines([f"*model could not answer {name}-{modality}: MediaError*{CLIPS[name][0]}*"])
    errors = sum(why is not None for why in expected.values())
    outcomes = res.parseoutcomes()
    assert outcomes["errors"] == errors
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == len(CLIPS) - errors, "the rest was scored"
    asked = {e["question"] for e in server.entries if e["question"]}
    assert len(asked) == len(CLIPS) - errors, "only the readable items reached the model"


def test_text_utf8_cannot_hold_is_refused_naming_each_item(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "c.mp4").write_bytes(b"clip")
    items = [
        {"id": "fine", "video_path": "c.mp4", "question": "Q?", "options": OPTIONS, "correct_answer": "A"},
        {
            "id": "bad-q",
            "video_path": "c.mp4",
            "question": "Q\udcff?",
            "options": OPTIONS,
            "correct_answer": "A",
        },
        {
            "id": "bad-opt",
            "video_path": "c.mp4",
            "question": "Q?",
            "options": [*OPTIONS[:3], "D. \ud800"],
            "correct_answer": "A",
        },
    ]
    # ensure_ascii keeps the lone surrogates as \\u escapes: valid JSON, not valid UTF-8 text
    (tmp_path / "dataset.json").write_text(json.dumps(items), encoding="utf-8")
    with pytest.raises(DatasetError) as info:
        load_level1(tmp_path)
    problems = info.value.problems
    assert len(problems) == 2
    assert "item 1 (id='bad-q'): field 'question' is not valid Unicode text" in problems[0]
    assert "item 2 (id='bad-opt'): option 4 is not valid Unicode text" in problems[1]
