"""Level 4 (``who_said_1fps``): every mouth stops for one second at a different time and the voice
with its speaker's. The plan is balanced, the oracles prove that one modality (and frames at 1 fps
plus the transcript) stays at chance while both together answer, planted leaks are caught, and
``av_sync`` answers from one frame a second what it measures, guessing when a stream is withheld."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import numpy as np
import pytest

from vsync_models.data.dataset import Dataset, load_dataset
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings
from vsync_models.models.av_sync import AVSyncModel
from vsync_models.run.evaluate import Evaluator
from vsync_models.synth.layout import FPS, POSITIONS, ROSTER
from vsync_models.synth.paused import (
    LEVEL,
    SECOND,
    SENTENCE_FRAMES,
    build_paused_items,
    generate_paused,
    paused_truth,
    plan_paused,
)
from vsync_models.synth.paused_oracles import evaluate_paused, paused_cases
from vsync_models.synth.plan import SAMPLES_PER_FRAME
from vsync_models.types import Modality, Outcome, Sampling

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "data" / "level_4"
PLANNED = 800


def _planned(n: int = PLANNED, seed: int = 3) -> tuple[list[dict], list[dict]]:
    plans = plan_paused(seed, n)
    return build_paused_items(plans, seed), [paused_truth(p) for p in plans]


def _accuracy(items: list[dict], clips: list[dict]) -> dict[str, float]:
    return {r.modality: r.accuracy for r in evaluate_paused(paused_cases(items, clips))}


def test_plan_is_deterministic_and_deals_every_prior_evenly() -> None:
    items, clips = _planned(80, seed=0)
    assert (items, clips) == _planned(80, seed=0)
    assert items != _planned(80, seed=1)[0]
    for counts in (
        collections.Counter(it["correct_answer"] for it in items),
        collections.Counter(it["truth"]["speaker"] for it in items),
        collections.Counter(it["truth"]["position"] for it in items),
        collections.Counter(it["truth"]["rank"] for it in items),
    ):
        assert len(counts) == 4 and set(counts.values()) == {20}, counts
    assert {it["task"] for it in items} == {"who_said_1fps"} and {it["level"] for it in items} == {LEVEL}
    assert sorted(c["name"] for c in clips[0]["cast"]) == sorted(c.name for c in ROSTER)


def test_shut_seconds_tile_the_span_and_the_voice_pauses_with_the_speaker() -> None:
    samples = np.arange(1, SENTENCE_FRAMES * SAMPLES_PER_FRAME + 1, dtype=np.int16)  # never silent
    for plan in plan_paused(5, 12):
        start, end = plan.span
        assert end - start == POSITIONS * SECOND
        shut = sorted(plan.closure(p) for p in range(POSITIONS))
        assert shut == [(start + k * SECOND, start + (k + 1) * SECOND) for k in range(POSITIONS)]
        for p in range(POSITIONS):
            frames = plan.mouth_track(p, samples).reshape(plan.n_frames, SAMPLES_PER_FRAME)
            voiced = np.flatnonzero(np.abs(frames).max(axis=1) > 0)
            first, stop = plan.closure(p)
            expected = [f for f in range(start, end) if not first <= f < stop]
            assert voiced.tolist() == expected, p
            # the whole sentence is shaped, in order, around the pause
            assert np.array_equal(frames[voiced].ravel(), samples)
        # every whole second inside the span shows exactly one shut mouth, at any sampling phase
        for phase in range(SECOND):
            seen = [f for f in range(phase, plan.n_frames, FPS) if start <= f < end]
            assert len(seen) == POSITIONS
            assert (
                sorted(sum(first <= f < stop for f in seen) for first, stop in map(plan.closure, range(4)))
                == [1] * POSITIONS
            )


def test_one_modality_and_late_fusion_stay_at_chance_both_together_answer() -> None:
    acc = _accuracy(*_planned())
    assert acc["joint"] == 1.0
    for modality in ("video", "audio", "text", "late"):
        assert acc[modality] <= 0.25 + 0.05, (modality, acc)


def _plant(items: list[dict], clips: list[dict], rank_of_speaker) -> None:
    """Move the speaker's shut second (and the voice's pause) to ``rank_of_speaker(item)``."""
    by_path = {c["video_path"]: c for c in clips}
    for item in items:
        clip = by_path[item["video_path"]]
        want = rank_of_speaker(item)
        speaker = next(c for c in clip["cast"] if c["name"] == item["truth"]["speaker"])
        other = next(c for c in clip["cast"] if c["rank"] == want)
        speaker["rank"], other["rank"] = other["rank"], speaker["rank"]
        speaker["shut_s"], other["shut_s"] = other["shut_s"], speaker["shut_s"]
        clip["silence_s"] = speaker["shut_s"]


def test_planted_leaks_are_caught() -> None:
    # the speaker's mouth always shuts first: the picture alone (even at 1 fps) would answer
    items, clips = _planned(400)
    _plant(items, clips, lambda item: 0)
    acc = _accuracy(items, clips)
    assert acc["video"] > 0.9 and acc["late"] > 0.9, acc
    # the red circle speaks whenever the pause is in the span's first second, else someone else:
    # the sound alone (when the voice pauses) then names the speaker more often than chance
    items, clips = _planned(400)
    _plant(
        items,
        clips,
        lambda item: 0 if item["truth"]["speaker"] == "the red circle" else 1 + int(item["id"][-4:]) % 3,
    )
    assert _accuracy(items, clips)["audio"] > 0.4


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("level4")
    generate_paused(out, seed=7, n_clips=4)
    return out


def test_generation_is_byte_identical(small_set: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_paused(again, seed=7, n_clips=4)
    for name in ("dataset.json", "manifest.json", *(f"videos/clip_{i:04d}.mp4" for i in range(1, 5))):
        assert (small_set / name).read_bytes() == (again / name).read_bytes(), name


def test_av_sync_at_one_frame_a_second_answers_and_guesses_without_a_stream(
    small_set: Path, tmp_path: Path
) -> None:
    data: Dataset = load_dataset(small_set, level=LEVEL)
    model = AVSyncModel(sampling=Sampling(fps=1.0))
    evaluator = Evaluator(model=model, prompts={LEVEL: PromptSettings()}, preparer=MediaPreparer(tmp_path))
    for item in data:
        avt = evaluator.evaluate(item, Modality.AVT)
        assert avt.outcome is Outcome.CORRECT, avt.response.text
        assert "only one shut while the voice pauses" in (avt.response.text or "")
        for modality in (Modality.VT, Modality.AT):
            result = evaluator.evaluate(item, modality)
            assert result.outcome is not Outcome.ERROR
            assert "a guess" in (result.response.text or ""), result.response.text


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="the shipped level-4 set is not here")
def test_shipped_set_is_what_its_oracles_prove() -> None:
    items = json.loads((SHIPPED / "dataset.json").read_text(encoding="utf-8"))
    manifest = json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))
    assert len(items) >= 80 and manifest["level"] == LEVEL
    acc = _accuracy(items, manifest["clips"])
    assert acc["joint"] == 1.0
    for modality in ("video", "audio", "text", "late"):
        assert acc[modality] <= 0.25 + 0.10, (modality, acc)


def test_ceilings_of_one_level_keep_the_other_levels_rows(small_set: Path, tmp_path: Path) -> None:
    from vsync_models.config import Config
    from vsync_models.data.levels import make_level
    from vsync_models.synth import ceilings

    out = tmp_path / "ceilings.json"
    other = {
        "level": 2,
        "task": "when_speaks",
        "modality": "avt",
        "fps": None,
        "max_frames": None,
        "n": 1,
        "correct": 1,
        "accuracy": 1.0,
        "ci_low": 0.2065,
        "ci_high": 1.0,
    }
    out.write_text(json.dumps({"rows": [other | {"level": LEVEL}, other]}), encoding="utf-8")
    level = make_level(Config(), load_dataset(small_set, level=LEVEL), "av_sync")
    assert ceilings.main([level], out, keep_others=True) == 0
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    assert rows[0] == other and all(r["level"] == LEVEL for r in rows[1:])
    at_one_fps = {
        (r["modality"], r["max_frames"]): r
        for r in rows[1:]
        if r["fps"] == 1.0 and r["task"] == "who_said_1fps"
    }
    assert at_one_fps["avt", None]["accuracy"] == 1.0 and at_one_fps["avt", 8]["accuracy"] == 1.0


def test_level_four_is_a_level_everywhere() -> None:
    from vsync_models.config import LEVEL_NUMBERS, load_config
    from vsync_models.data.levels import LEVELS

    assert LEVEL_NUMBERS == LEVELS == (1, 2, 3, 4)
    assert load_config(None).level(LEVEL).dataset_path is None  # default: data/level_4
