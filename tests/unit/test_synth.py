"""The clip generator: reproducible bytes, truthful timings, and a shipped set that matches its manifest."""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from vsync_models.synth import level1
from vsync_models.synth.encode import rgb_to_yuv420p
from vsync_models.synth.render import ROSTER, mouth_openness, render_frames
from vsync_models.synth.tts import SAMPLE_RATE, engine_version, synthesize

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "level_1"
SEED, CLIPS = 7, 2
PYTHON_M_SYNTH = (sys.executable, "-m", "vsync_models.synth")


def decoded_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        assert len(c.streams.audio) == 1
        return np.concatenate([f.to_ndarray() for f in c.decode(audio=0)], axis=1)[0]


def video_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def load(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return (
        json.loads((out / "dataset.json").read_text(encoding="utf-8")),
        json.loads((out / "manifest.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same small set generated in this process and, through the command line, in a fresh one."""
    here = tmp_path_factory.mktemp("gen-here")
    level1.generate(here, seed=SEED, n_clips=CLIPS)
    there = tmp_path_factory.mktemp("gen-there")
    subprocess.run(
        [*PYTHON_M_SYNTH, "generate", "--seed", str(SEED), "--clips", str(CLIPS), "--out", str(there)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return here, there


# --- speech -------------------------------------------------------------------------------------


def test_speech_depends_only_on_its_arguments() -> None:
    first = synthesize("I left my umbrella on the bus.")
    synthesize("The kettle is whistling again, Doctor.")  # espeak-ng state that must not leak
    again = synthesize("I left my umbrella on the bus.")
    assert np.array_equal(first.samples, again.samples)
    assert first.words == again.words
    assert first.samples.dtype == np.int16
    assert first.sample_rate == SAMPLE_RATE


def test_word_timings_cover_the_sentence_in_order() -> None:
    speech = synthesize("The kettle is whistling again, Doctor.")
    words = speech.words
    assert " ".join(w.text for w in words).split() == ["The", "kettle", "is", "whistling", "again", "Doctor"]
    assert words[0].start_s == 0.0
    for a, b in itertools.pairwise(words):
        assert a.start_s < a.end_s <= b.start_s < b.end_s
    assert words[-1].end_s <= speech.duration_s
    # The comma's pause belongs to no word.
    assert words[5].start_s - words[4].end_s > 0.1


def test_words_spoken_together_stay_one_span() -> None:
    words = synthesize("I left my umbrella on the bus.").words
    assert " ".join(w.text for w in words) == "I left my umbrella on the bus"


def test_empty_text_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        synthesize("  ")


# --- drawing ------------------------------------------------------------------------------------


def test_roster_names_are_unique_by_colour_and_by_shape() -> None:
    assert len({c.colour for c in ROSTER}) == len({c.shape for c in ROSTER}) == len(ROSTER)


def test_silent_character_keeps_its_mouth_shut() -> None:
    n_frames = 10
    loud = (np.sin(np.arange(n_frames * 882) / 3) * 8000).astype(np.int16)
    opening = mouth_openness([loud, np.zeros_like(loud)], SAMPLE_RATE, n_frames)
    assert opening.shape == (2, n_frames)
    assert opening[0].max() == pytest.approx(1.0)
    assert not opening[1].any()
    frames = list(render_frames(ROSTER[:2], opening))
    assert len(frames) == n_frames
    assert frames[0].shape == (240, 320, 3)
    right_half = [f[:, 160:] for f in frames]
    assert all(np.array_equal(right_half[0], h) for h in right_half)


def test_yuv_conversion_is_exact_at_the_extremes_and_close_elsewhere() -> None:
    white, black = np.full((2, 2, 3), 255, np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert rgb_to_yuv420p(white).ravel().tolist() == [235] * 4 + [128, 128]
    assert rgb_to_yuv420p(black).ravel().tolist() == [16] * 4 + [128, 128]
    frame = next(render_frames(ROSTER[:3], np.zeros((3, 1))))
    back = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p").to_ndarray(format="rgb24")
    assert float(np.abs(back.astype(int) - frame).mean()) < 3


# --- generation ---------------------------------------------------------------------------------


def test_generation_is_deterministic(twice: tuple[Path, Path]) -> None:
    here, there = twice
    assert (here / "dataset.json").read_bytes() == (there / "dataset.json").read_bytes()
    assert (here / "manifest.json").read_bytes() == (there / "manifest.json").read_bytes()
    clips = sorted(p.name for p in (here / "videos").iterdir())
    assert clips == sorted(p.name for p in (there / "videos").iterdir()) == ["clip_0001.mp4", "clip_0002.mp4"]
    for name in clips:
        assert np.array_equal(decoded_audio(here / "videos" / name), decoded_audio(there / "videos" / name))
        assert (here / "videos" / name).read_bytes() == (there / "videos" / name).read_bytes()


def test_generated_clips_decode_with_plausible_streams(twice: tuple[Path, Path]) -> None:
    out = twice[0]
    _, manifest = load(out)
    for clip in manifest["clips"]:
        path = out / "videos" / clip["video_path"]
        duration = clip["duration_s"]
        assert level1.MIN_DURATION_S <= duration <= level1.MAX_DURATION_S
        assert video_frames(path) == round(duration * 25)
        audio = decoded_audio(path)
        # AAC adds up to one frame of padding at the end, never loses samples.
        assert duration * SAMPLE_RATE <= len(audio) <= duration * SAMPLE_RATE + 2048
        assert float(np.sqrt(np.mean(audio**2))) > 0.01


def test_timings_are_ordered_and_inside_the_audio(twice: tuple[Path, Path]) -> None:
    _, manifest = load(twice[0])
    for clip in manifest["clips"]:
        previous_end = 0.0
        for u in clip["utterances"]:
            assert previous_end <= u["start_s"] < u["end_s"] <= clip["duration_s"]
            previous_end = u["end_s"]
            starts = [w[1] for w in u["words"]]
            assert starts == sorted(starts) and len(set(starts)) == len(starts)
            for _, start, end in u["words"]:
                assert u["start_s"] <= start < end <= u["end_s"] + 1e-4
            assert " ".join(w[0] for w in u["words"]) == re.sub(r"[^\w' ]", "", u["text"])


def test_items_agree_with_the_ground_truth(twice: tuple[Path, Path]) -> None:
    items, manifest = load(twice[0])
    assert len(items) == 2 * CLIPS
    assert [it["id"] for it in items] == [f"syn-{i:04d}" for i in range(1, 2 * CLIPS + 1)]
    by_clip = {c["video_path"]: c for c in manifest["clips"]}
    for it in items:
        assert set(it) == {"id", "video_path", "question", "options", "correct_answer", "asr_content", "task"}
        clip = by_clip[it["video_path"]]
        quoted = re.fullmatch(r'Which character said "(.+)"\?', it["question"]).group(1)  # type: ignore[union-attr]
        (speaker,) = [u["speaker"] for u in clip["utterances"] if u["text"].rstrip(".") == quoted]
        options = dict(opt.split(". ", 1) for opt in it["options"])
        assert list(options) == list("ABC")[: len(it["options"])]
        assert sorted(options.values()) == sorted(clip["cast"])  # only characters on screen
        assert options[it["correct_answer"]] == speaker
        assert it["asr_content"] == " ".join(u["text"] for u in clip["utterances"])
        assert it["task"] == "who_said"
    # The two questions about one clip are answered by different speakers.
    for path in by_clip:
        answers = {
            dict(o.split(". ", 1) for o in it["options"])[it["correct_answer"]]
            for it in items
            if it["video_path"] == path
        }
        assert len(answers) == 2


# --- the shipped set ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert (SHIPPED / "manifest.json").is_file(), (
        f"shipped set missing; run: python -m vsync_models.synth generate --seed 0 --clips 8 --out {SHIPPED}"
    )
    return load(SHIPPED)


def test_shipped_files_match_their_manifest(shipped: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    items, manifest = shipped
    dataset_bytes = (SHIPPED / "dataset.json").read_bytes()
    assert hashlib.sha256(dataset_bytes).hexdigest() == manifest["dataset_sha256"]
    for clip in manifest["clips"]:
        data = (SHIPPED / "videos" / clip["video_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == clip["sha256"], clip["video_path"]
        assert len(data) == clip["bytes"]
    assert {it["video_path"] for it in items} == {c["video_path"] for c in manifest["clips"]}


def test_shipped_set_is_small_and_balanced(shipped: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    items, manifest = shipped
    assert (len(manifest["clips"]), len(items)) == (8, 16)
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total < 2_000_000
    letters = collections.Counter(it["correct_answer"] for it in items)
    assert set(letters) == {"A", "B", "C"}
    assert max(letters.values()) - min(letters.values()) <= 1


def test_shipped_set_regenerates_byte_for_byte(
    shipped: tuple[list[dict[str, Any]], dict[str, Any]], tmp_path: Path
) -> None:
    _, manifest = shipped
    if (manifest["av"], manifest["espeak_ng"]) != (av.__version__, engine_version()):
        pytest.skip(f"shipped with av {manifest['av']} / espeak-ng {manifest['espeak_ng']}; bytes may differ")
    per_clip = manifest["n_items"] // manifest["n_clips"]
    level1.generate(tmp_path, seed=manifest["seed"], n_clips=manifest["n_clips"], items_per_clip=per_clip)
    assert (tmp_path / "dataset.json").read_bytes() == (SHIPPED / "dataset.json").read_bytes()
    assert (tmp_path / "manifest.json").read_bytes() == (SHIPPED / "manifest.json").read_bytes()
