"""The single-modality oracles: both modalities together always answer, either alone (or the option
text alone) does no better than chance, on the shipped set and on a large freshly planned one; and
the oracles do catch a leak when one is planted."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.support import speaker_moves_first
from vsync_models.data.levels import LATE_FUSION_LEAKS
from vsync_models.synth.__main__ import main
from vsync_models.synth.items import build_items
from vsync_models.synth.oracles import CHANCE, Case, OracleResult, cases, evaluate
from vsync_models.synth.plan import plan_clips
from vsync_models.synth.truth import clip_truth
from vsync_models.synth.views import bare

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "level_1"
SINGLE = ("video", "audio", "text")
TASKS = {"who_said", "said_when_event", "event_when_said", "in_sync"}

BIG_SEED, BIG_CLIPS = 1, 2000
BIG_MARGIN = 0.05
"""On 2000 planned clips (7000 items, 1000-2000 per task) no strategy may beat chance by 5 points."""


def shipped_margin(n: int) -> float:
    """Three binomial standard errors of a chance-level guesser on n items (14.5 points for n = 80,
    20.5 for n = 40): the best of ~60 strategies on a small set is noisy; the planned set is not."""
    return 3 * math.sqrt(CHANCE * (1 - CHANCE) / n)


def planned(seed: int, n_clips: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    plans = plan_clips(seed, n_clips)
    return build_items(plans, seed), [clip_truth(p) for p in plans]


def by_cell(results: list[OracleResult]) -> dict[tuple[str, str], OracleResult]:
    return {(r.task, r.modality): r for r in results}


@pytest.fixture(scope="module")
def shipped() -> dict[tuple[str, str], OracleResult]:
    items = json.loads((SHIPPED / "dataset.json").read_text(encoding="utf-8"))
    clips = json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))["clips"]
    return by_cell(evaluate(cases(items, clips)))


@pytest.fixture(scope="module")
def big() -> dict[tuple[str, str], OracleResult]:
    return by_cell(evaluate(cases(*planned(BIG_SEED, BIG_CLIPS))))


def test_joint_oracle_answers_every_shipped_item(shipped: dict[tuple[str, str], OracleResult]) -> None:
    assert {t for t, _ in shipped} == TASKS
    for task in TASKS:
        assert shipped[task, "joint"].accuracy == 1.0, task


@pytest.mark.parametrize("modality", SINGLE)
def test_one_modality_alone_is_at_chance_on_the_shipped_set(
    shipped: dict[tuple[str, str], OracleResult], modality: str
) -> None:
    for task in TASKS:
        r = shipped[task, modality]
        assert r.accuracy <= CHANCE + shipped_margin(r.n), (task, modality, r.strategy, r.accuracy)


def test_option_text_alone_gives_nothing_on_the_shipped_set(
    shipped: dict[tuple[str, str], OracleResult],
) -> None:
    """Letters are dealt evenly, so a fixed letter scores exactly chance; option lengths are no cue."""
    for task in TASKS:
        accs = shipped[task, "text"].strategies
        assert accs["highest letter"] == accs["lowest letter"] == CHANCE, task
        for name in ("highest option length", "lowest option length", "highest option words"):
            assert accs[name] <= CHANCE + shipped_margin(shipped[task, "text"].n), (task, name)


def test_one_modality_alone_is_at_chance_on_a_large_planned_set(
    big: dict[tuple[str, str], OracleResult],
) -> None:
    for task in TASKS:
        assert big[task, "joint"].accuracy == 1.0
        assert big[task, "joint"].n >= 1000
        for modality in SINGLE:
            r = big[task, modality]
            assert r.accuracy <= CHANCE + BIG_MARGIN, (task, modality, r.strategy, r.accuracy)


def test_the_oracles_catch_planted_leaks() -> None:
    items, clips = planned(2, 200)

    # Text: the answer is always option A.
    always_a = []
    for it in items:
        moved = copy.deepcopy(it)
        right = it["options"]["ABCD".index(it["correct_answer"])][3:]
        rest = [o[3:] for o in it["options"] if o[3:] != right]
        moved["options"] = [f"{x}. {t}" for x, t in zip("ABCD", [right, *rest], strict=True)]
        moved["correct_answer"] = "A"
        always_a.append(moved)
    text = by_cell(evaluate(cases(always_a, clips)))
    assert all(text[t, "text"].accuracy == 1.0 for t in TASKS)

    # Video: the heard mouth is always the first to move in its slot (its onset swapped with the first).
    leaky = speaker_moves_first(clips)
    video = by_cell(evaluate(cases(items, leaky)))
    assert video["who_said", "video"].accuracy > 0.9 and video["in_sync", "video"].accuracy == 1.0
    assert video["who_said", "joint"].accuracy == 1.0


def test_command_line_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["oracles", "--plan", "8", "--seed", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["task", "n", "modality", "best"]
    assert sum(" joint " in line and "100.0%" in line for line in lines) == 5  # with event_when_speaking
    assert sum(" late " in line for line in lines) == 5


def test_views_withhold_the_other_modality() -> None:
    items, clips = planned(3, 4)
    case = Case(items[0], clips[0])
    video_fields = {f.name for f in dataclasses.fields(case.video)} | {
        f.name for f in dataclasses.fields(case.video.mouthing[0])
    }
    assert not video_fields & {"heard", "utterances", "speaker", "words"}
    audio = repr(case.audio)
    assert not any(c["name"] in audio for c in clips[0]["cast"])
    assert all(e["text"] not in audio for e in clips[0]["events"])


# --- late fusion: frames at 1 fps plus the transcript, no sound -----------------------------------

LEAKING = {task for (level, task) in LATE_FUSION_LEAKS if level == 1}


def test_late_fusion_answers_exactly_the_tasks_marked_as_leaking(
    shipped: dict[tuple[str, str], OracleResult],
) -> None:
    assert {"said_when_event", "event_when_said"} == LEAKING
    for task in TASKS:
        r = shipped[task, "late"]
        if task in LEAKING:
            assert r.accuracy == 1.0, (task, r.strategy, r.accuracy)
        else:
            assert r.accuracy <= CHANCE + shipped_margin(r.n), (task, r.strategy, r.accuracy)


def test_late_fusion_on_a_large_planned_set(big: dict[tuple[str, str], OracleResult]) -> None:
    for task in TASKS:
        r = big[task, "late"]
        if task in LEAKING:
            assert r.accuracy >= 0.99, (task, r.strategy, r.accuracy)
        else:
            assert r.accuracy <= CHANCE + BIG_MARGIN, (task, r.strategy, r.accuracy)


def test_late_fusion_sees_no_sound_no_lip_reading_and_no_time_finer_than_a_second() -> None:
    items, clips = planned(3, 4)
    case = Case(items[0], clips[0])
    late = case.late
    assert all(m.text == "" for m in late.video.mouthing)
    times = [m.start_s for m in late.video.mouthing] + [m.end_s for m in late.video.mouthing]
    times += [t for _, _, t in late.video.events]
    assert all(t == int(t) for t in times)
    assert [bare(t) for t in late.transcript] == [bare(u["text"]) for u in clips[0]["utterances"]]
    assert not {f.name for f in dataclasses.fields(late)} & {"utterances", "audio"}


def test_late_fusion_catches_a_planted_leak_visible_at_one_fps() -> None:
    """The heard mouth keeps moving 2 s longer than the others: frames a second apart show it."""
    items, clips = planned(2, 200)
    leaky = copy.deepcopy(clips)
    for clip in leaky:
        for m in clip["mouthing"]:
            if m["heard"]:
                m["end_s"] = round(m["end_s"] + 2.0, 3)
    late = by_cell(evaluate(cases(items, leaky)))
    assert late["who_said", "late"].accuracy > 0.9, late["who_said", "late"].strategy
