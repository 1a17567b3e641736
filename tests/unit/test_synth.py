"""The clip generator: reproducible, truthful to its ground truth when decoded, and the shipped set
matches its manifest."""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from filelock import FileLock
from PIL import Image

from vsync_models.data.dataset import load_level1
from vsync_models.synth import level1
from vsync_models.synth.__main__ import main
from vsync_models.synth.encode import rgb_to_yuv420p
from vsync_models.synth.items import build_items
from vsync_models.synth.layout import POSITIONS, PROP_BOXES, ROSTER, SHELF_Y, character_centre, mouth_box
from vsync_models.synth.measure import decode, mouth_darkness, prop_change_frames, rms_per_frame
from vsync_models.synth.plan import SAMPLES_PER_FRAME, SLOTS, plan_clips
from vsync_models.synth.props import Event
from vsync_models.synth.render import mouth_openness, render_frames
from vsync_models.synth.rng import Balancer, Rng
from vsync_models.synth.speaker_items import SPEAKER_TASK
from vsync_models.synth.speech import SENTENCES, UTTERANCE_FRAMES, UTTERANCE_S, FittedVoice
from vsync_models.synth.truth import clip_truth
from vsync_models.synth.tts import SAMPLE_RATE, engine_version, synthesize

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "data" / "level_1"
SEED, CLIPS = 7, 2
PYTHON_M_SYNTH = (sys.executable, "-m", "vsync_models.synth")
TASKS = {"who_said", "said_when_event", "event_when_said", "in_sync"}


def load(out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return (
        json.loads((out / "dataset.json").read_text(encoding="utf-8")),
        json.loads((out / "manifest.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="module")
def voice() -> FittedVoice:
    return FittedVoice()


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same small set (one clip of each kind) generated twice, each time in a fresh process: once
    through the library API, once through the command line. Made once per run: xdist workers share
    it through a lock.

    Fresh processes, because that is the documented way to reproduce a set, and because a clip
    rendered inside a long-lived process that already ran other tests was once seen to differ in
    its video pixels (cause not found; see the README's design notes).
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # workers' temp dirs share this run's parent
        root = root.parent
    shared = root / "synth-twice"
    here, there = shared / "here", shared / "there"
    shared.mkdir(exist_ok=True)
    with FileLock(str(shared / ".lock")):
        if not (there / "manifest.json").is_file():
            api = f"from vsync_models.synth import level1; level1.generate({str(here)!r}, seed={SEED}, n_clips={CLIPS})"
            subprocess.run(
                [sys.executable, "-c", api], cwd=REPO, check=True, capture_output=True, timeout=180
            )
            subprocess.run(
                [*PYTHON_M_SYNTH, "generate", "--seed", str(SEED), "--n", str(CLIPS), "--out", str(there)],
                cwd=REPO,
                check=True,
                capture_output=True,
                timeout=180,
            )
    return here, there


@pytest.fixture(scope="module")
def decoded(twice: tuple[Path, Path]) -> list[tuple[dict[str, Any], np.ndarray, np.ndarray, int]]:
    out = twice[0]
    _, manifest = load(out)
    return [(clip, *decode(out / "videos" / clip["video_path"])) for clip in manifest["clips"]]


# --- speech -------------------------------------------------------------------------------------


def test_speech_depends_only_on_its_arguments() -> None:
    first = synthesize("I left my umbrella at home.")
    synthesize("The kettle is whistling again, Doctor.")  # espeak-ng state that must not leak
    again = synthesize("I left my umbrella at home.")
    assert np.array_equal(first.samples, again.samples)
    assert first.words == again.words
    assert first.samples.dtype == np.int16


def test_word_timings_cover_the_sentence_in_order() -> None:
    speech = synthesize("The kettle is whistling again, Doctor.")
    words = speech.words
    assert " ".join(w.text for w in words).split() == ["The", "kettle", "is", "whistling", "again", "Doctor"]
    for a, b in itertools.pairwise(words):
        assert a.start_s < a.end_s <= b.start_s < b.end_s
    assert words[5].start_s - words[4].end_s > 0.1  # the comma's pause belongs to no word


def test_empty_text_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        synthesize("  ")


def test_every_sentence_lasts_exactly_the_same(voice: FittedVoice) -> None:
    assert len(set(SENTENCES)) == len(SENTENCES) >= 40
    assert not any('"' in s for s in SENTENCES)
    for text in SENTENCES:
        speech = voice(text)
        assert len(speech.samples) == UTTERANCE_FRAMES * SAMPLES_PER_FRAME
        assert speech.duration_s == pytest.approx(UTTERANCE_S)
        assert 120 <= voice.rate(text) <= 240, text  # fitted, not absurdly fast or slow
        assert speech.words[0].start_s == 0.0 and speech.words[-1].end_s <= UTTERANCE_S
        assert " ".join(w.text for w in speech.words) == re.sub(r"[^\w' ]", "", text)


# --- drawing ------------------------------------------------------------------------------------


def test_layout_boxes_do_not_overlap() -> None:
    assert len({c.colour for c in ROSTER}) == len({c.shape for c in ROSTER}) == len(ROSTER) == POSITIONS
    boxes = list(PROP_BOXES.values())
    assert sum((x1 - x0) for x0, _, x1, _ in boxes) == 320 and all(y1 == SHELF_Y for *_, y1 in boxes)
    mouths = [mouth_box(p) for p in range(POSITIONS)]
    for left, right in itertools.pairwise(mouths):
        assert left[2] <= right[0]
    for p, (x0, y0, x1, y1) in enumerate(mouths):
        cx, cy = character_centre(p)
        assert x0 < cx < x1 and SHELF_Y < y0 < cy + 30 and y1 < 240


def test_a_silent_mouth_stays_shut_and_props_change_only_at_their_frame() -> None:
    n = 30
    t = np.arange(n * SAMPLES_PER_FRAME)
    loud = (np.sin(t / 3) * 8000 * (0.5 + 0.5 * np.sin(t * 2 * np.pi * 3 / SAMPLE_RATE))).astype(np.int16)
    silent = np.zeros_like(loud)
    opening = mouth_openness([loud, silent, silent, silent], SAMPLE_RATE, n)
    assert opening[0].max() == pytest.approx(1.0) and not opening[1:].any()
    events = [Event("lamp", 5), Event("sign", 10, "teal"), Event("door", 15), Event("ball", 20)]
    frames = np.stack(list(render_frames(ROSTER, opening, events)))
    assert frames.shape == (n, 240, 320, 3)
    dark = mouth_darkness(frames)
    assert (dark[:, 1:] == dark[0, 1:]).all() and dark[:, 0].std() > 0.05
    assert prop_change_frames(frames) == {"lamp": 5, "sign": 10, "door": 15, "ball": 20}
    still = frames[
        :, SHELF_Y:, mouth_box(0)[2] :
    ]  # below the strip and right of the talking mouth: never changes
    assert (still == still[0]).all()


def test_yuv_conversion_is_exact_at_the_extremes_and_close_elsewhere() -> None:
    white, black = np.full((2, 2, 3), 255, np.uint8), np.zeros((2, 2, 3), np.uint8)
    assert rgb_to_yuv420p(white).ravel().tolist() == [235] * 4 + [128, 128]
    assert rgb_to_yuv420p(black).ravel().tolist() == [16] * 4 + [128, 128]
    frame = next(render_frames(ROSTER, np.zeros((4, 1))))
    back = av.VideoFrame.from_ndarray(rgb_to_yuv420p(frame), format="yuv420p").to_ndarray(format="rgb24")
    assert float(np.abs(back.astype(int) - frame).mean()) < 3


# --- dealing and planning -----------------------------------------------------------------------


def test_balancer_keeps_every_prefix_even_and_respects_exclusions() -> None:
    total = Balancer(Rng(1), "ABCD")
    parts = [Balancer(Rng(2), "ABCD", parent=total) for _ in range(3)]
    for i in range(200):
        value = parts[i % 3].pick(exclude="A" if i % 7 == 0 else "")
        assert not (i % 7 == 0 and value == "A")
        for b in (total, parts[i % 3]):
            assert max(b.counts.values()) - min(b.counts.values()) <= 2


def test_plans_follow_the_design() -> None:
    plans = plan_clips(3, 40)
    assert collections.Counter(p.kind for p in plans) == {"in_sync": 20, "turns": 20}
    for p in plans:
        assert 6 <= p.duration_s <= 12
        assert set(p.cast) == set(ROSTER)
        sentences = {s.heard.sentence for s in p.slots}
        assert len(sentences) == SLOTS
        for slot in p.slots:
            # Every character mouths, each a different sentence of the clip, onsets >= 3 frames apart.
            assert {m.sentence for m in slot.mouthing} == sentences
            assert sum(m.heard for m in slot.mouthing) == 1
            onsets = sorted(m.start_frame for m in slot.mouthing)
            assert min(b - a for a, b in itertools.pairwise(onsets)) >= 3
            # The slot's event happens while all four mouths move.
            event = p.event_in(slot.index)
            assert max(onsets) < event.frame < min(m.end_frame for m in slot.mouthing) - 8
        for c in ROSTER:  # a Latin square: each character mouths each sentence once
            assert sorted(m.sentence for s in p.slots for m in s.mouthing if m.character == c) == sorted(
                sentences
            )
        assert sorted(e.kind for e in p.events) == ["ball", "door", "lamp", "sign"]
        speakers = {s.heard.character for s in p.slots}
        assert (len(speakers) == 1) == (p.kind == "in_sync")
        for a, b in itertools.pairwise(p.slots):
            assert a.last_frame < b.first_frame


def test_items_agree_with_their_plans() -> None:
    plans = plan_clips(5, 24)
    by_path = {p.video_path: p for p in plans}
    items = build_items(plans, 5)
    assert len({it["id"] for it in items}) == len(items)
    for it in items:
        plan = by_path[it["video_path"]]
        options = [o.split(". ", 1)[1] for o in it["options"]]
        assert [o[0] for o in it["options"]] == list("ABCD")
        right = options["ABCD".index(it["correct_answer"])]
        truth = it["truth"]
        sentences = [f'"{s.heard.sentence.rstrip(".")}"' for s in plan.slots]
        assert it["asr_content"] == plan.transcript()
        assert (it["level"], it["seed"]) == (1, 5)
        if it["task"] in ("who_said", "in_sync"):
            assert sorted(options) == sorted(c.name for c in plan.cast)
            assert right == truth["speaker"]
        if it["task"] == "who_said":
            assert plan.slots[truth["slot"]].heard.character.name == right
            assert f'"{plan.slots[truth["slot"]].heard.sentence.rstrip(".")}"' in it["question"]
        if it["task"] == "said_when_event":
            assert sorted(options) == sorted(sentences)
            assert right == sentences[truth["slot"]] and truth["event"] in it["question"]
            assert truth["start_s"] <= truth["event_s"] < truth["end_s"]
        if it["task"] == "event_when_said":
            assert sorted(options) == sorted(e.text for e in plan.events)
            assert right == plan.event_in(truth["slot"]).text == truth["event"]
            assert sentences[truth["slot"]] in it["question"]


# --- generation and decoding --------------------------------------------------------------------


def test_generation_is_deterministic(twice: tuple[Path, Path]) -> None:
    here, there = twice
    for name in ("dataset.json", "manifest.json"):
        assert (here / name).read_bytes() == (there / name).read_bytes(), name
    clips = sorted(p.name for p in (here / "videos").iterdir())
    assert clips == sorted(p.name for p in (there / "videos").iterdir()) == ["clip_0001.mp4", "clip_0002.mp4"]
    for name in clips:
        a, b = decode(here / "videos" / name), decode(there / "videos" / name)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert (here / "videos" / name).read_bytes() == (there / "videos" / name).read_bytes()


def test_clips_decode_with_audio_of_the_stated_length(decoded: list[Any]) -> None:
    assert {clip["kind"] for clip, *_ in decoded} == {"in_sync", "turns"}
    for clip, frames, audio, rate in decoded:
        assert rate == SAMPLE_RATE
        assert len(frames) == clip["n_frames"] == round(clip["duration_s"] * 25)
        # AAC pads at most one frame at the end and never loses samples.
        assert (
            clip["n_frames"] * SAMPLES_PER_FRAME <= len(audio) <= clip["n_frames"] * SAMPLES_PER_FRAME + 2048
        )
        assert float(np.sqrt(np.mean(audio**2))) > 0.01


def test_speaking_mouth_follows_its_voice_in_the_decoded_pixels(decoded: list[Any]) -> None:
    """Per slot, measured back from decoded frames and audio: the heard speaker's mouth tracks the
    loudness (r > 0.9); every other mouth moves too, to other sentences, and tracks it far less."""
    for clip, frames, audio, rate in decoded:
        dark = mouth_darkness(frames)
        loud = rms_per_frame(audio, rate, len(frames))
        position = {c["name"]: c["position"] for c in clip["cast"]}
        for u in clip["utterances"]:
            moving = [m for m in clip["mouthing"] if m["slot"] == u["slot"]]
            lo = round(min(m["start_s"] for m in moving) * 25)
            hi = round(max(m["end_s"] for m in moving) * 25)
            r = {name: np.corrcoef(dark[lo:hi, p], loud[lo:hi])[0, 1] for name, p in position.items()}
            speaker = r.pop(u["speaker"])
            assert speaker > 0.9, (clip["video_path"], u["slot"], speaker)
            assert max(r.values()) < speaker - 0.3, (clip["video_path"], u["slot"], r)
            assert all(dark[lo:hi, p].std() > 0.01 for p in position.values())  # all four move


def test_props_change_at_their_event_frames(decoded: list[Any]) -> None:
    for clip, frames, *_ in decoded:
        assert prop_change_frames(frames) == {e["kind"]: e["frame"] for e in clip["events"]}


def test_frame_strip_shows_the_moments_that_matter(twice: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "strip.png"
    main(["strip", str(twice[0]), "clip_0001.mp4", "--out", str(out)])
    with Image.open(out) as image:
        assert image.size == (4 * 320 + 3 * 4, 2 * 240 + 4)  # mid-sentence and event, per slot


def test_generated_items_and_truth_agree(twice: tuple[Path, Path], voice: FittedVoice) -> None:
    items, manifest = load(twice[0])
    plans = plan_clips(SEED, CLIPS)
    assert items == build_items(plans, SEED)
    for record, plan in zip(manifest["clips"], plans, strict=True):
        assert {k: v for k, v in record.items() if k not in ("sha256", "bytes")} == clip_truth(plan, voice)
    for it in items:
        assert set(it) == {
            "id", "video_path", "question", "options", "correct_answer", "asr_content", "task", "level", "seed", "truth"
        }  # fmt: skip


# --- the shipped set ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    assert (SHIPPED / "manifest.json").is_file(), (
        f"shipped set missing; run: python -m vsync_models.synth generate --seed 0 --clips 80 --out {SHIPPED}"
    )
    return load(SHIPPED)


def test_shipped_files_match_their_manifest(shipped: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    items, manifest = shipped
    assert hashlib.sha256((SHIPPED / "dataset.json").read_bytes()).hexdigest() == manifest["dataset_sha256"]
    for clip in manifest["clips"]:
        data = (SHIPPED / "videos" / clip["video_path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == clip["sha256"], clip["video_path"]
        assert len(data) == clip["bytes"]
    assert {it["video_path"] for it in items} == {c["video_path"] for c in manifest["clips"]}
    assert sorted(p.name for p in (SHIPPED / "videos").iterdir()) == sorted(
        c["video_path"] for c in manifest["clips"]
    )


def test_shipped_set_is_big_enough_small_enough_and_balanced(
    shipped: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    items, manifest = shipped
    assert len(manifest["clips"]) >= 50 and len(items) >= 200
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total <= 8_000_000  # the issue allows 40 MB; we aim for small
    by_task = collections.defaultdict(list)
    for it in items:
        by_task[it["task"]].append(it)
    assert set(by_task) == TASKS
    for task, group in by_task.items():
        assert all(len(it["options"]) == 4 for it in group)
        letters = collections.Counter(it["correct_answer"] for it in group)
        assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1, task


def test_shipped_set_passes_the_loaders_validation() -> None:
    ds = load_level1(SHIPPED)  # with its companion set (extra/event_when_speaking.json)
    assert len(ds) >= 200 and set(ds.tasks) == TASKS | {SPEAKER_TASK}
    assert all(it.extra["level"] == 1 and "truth" in it.extra for it in ds)


def test_shipped_set_regenerates_from_its_seed(
    shipped: tuple[list[dict[str, Any]], dict[str, Any]], voice: FittedVoice, tmp_path: Path
) -> None:
    """Items and ground truth come back byte for byte from the seed (cheap: no rendering); one clip
    is re-rendered and must match its pinned sha256 when the pinned library versions are present."""
    _, manifest = shipped
    plans = plan_clips(manifest["seed"], manifest["n_clips"])
    assert (
        level1.dataset_bytes(build_items(plans, manifest["seed"])) == (SHIPPED / "dataset.json").read_bytes()
    )
    for record, plan in zip(manifest["clips"], plans, strict=True):
        assert {k: v for k, v in record.items() if k not in ("sha256", "bytes")} == clip_truth(plan, voice)
    if (manifest["av"], manifest["espeak_ng"], manifest["numpy"]) != (
        av.__version__,
        engine_version(),
        np.__version__,
    ):
        pytest.skip("shipped with other av / espeak-ng / numpy versions: clip bytes may differ")
    level1.render_clip(plans[0], voice, tmp_path / "clip.mp4")
    assert hashlib.sha256((tmp_path / "clip.mp4").read_bytes()).hexdigest() == manifest["clips"][0]["sha256"]
