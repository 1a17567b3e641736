"""Level 3's multiple choice ``speak_when`` ("at which of these moments should you start speaking?"):
one right moment among the options, nothing in the letters or the times, the oracles would see a
biased position, av_sync answers from the media, and the first-"yes" timing ignores it."""

from __future__ import annotations

import collections
import itertools
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_timed_synth import DATA, cells, planned, shipped
from vsync_models.config import Config
from vsync_models.data.dataset import load_dataset
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import prompt_settings, rotations
from vsync_models.models.av_sync import AVSyncModel
from vsync_models.record import Record
from vsync_models.report.timing_metrics import timing_metrics
from vsync_models.run.evaluate import Evaluator
from vsync_models.synth.items import LETTERS
from vsync_models.synth.timed_oracles import CHANCE
from vsync_models.synth.timed_plan import plan_timed
from vsync_models.types import Modality, Outcome


def when_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [it for it in items if it["task"] == "speak_when"]


def test_three_cuts_in_time_order_and_exactly_the_offered_yield_is_right() -> None:
    for p in plan_timed(2, 60, 3):
        yields = [k for k in range(4) if p.speak(k)]
        assert len(p.when_options) == 3 and list(p.when_options) == sorted(p.when_options)
        (left_out,) = set(range(4)) - set(p.when_options)
        assert left_out in yields and p.when_slot in yields and p.when_slot != left_out
        assert [k for k in p.when_options if p.speak(k)] == [p.when_slot]
    items, clips = planned(3, 30)
    for it, clip in zip(when_items(items), clips, strict=True):
        times = [float(o[3:].removesuffix(" s")) for o in it["options"]]
        assert times == sorted(times) and all(round(t, 2) in clip["cuts_s"] for t in times)
        assert clip["speak"][it["truth"]["slot"]] and it["video_path"].endswith("_cut4.mp4")
        assert it["duration"] == clip["cuts_s"][-1]  # the last prefix is the whole clip


@pytest.mark.parametrize("n", [24, 120])
def test_letters_cuts_and_left_out_cuts_are_dealt_evenly(n: int) -> None:
    plans = plan_timed(0, n, 3)
    pairs = collections.Counter((p.when_slot, (set(range(4)) - set(p.when_options)).pop()) for p in plans)
    assert set(pairs) <= set(itertools.permutations(range(4), 2))
    assert max(pairs.values()) - min(pairs[k] for k in itertools.permutations(range(4), 2)) <= 1
    letters = collections.Counter(p.when_options.index(p.when_slot) for p in plans)
    assert set(letters.values()) == {n // 3}  # the right option's place: letter and time rank


def test_the_choice_comes_from_its_own_stream_and_follows_every_yes_no_item(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import vsync_models.synth.timed_plan as timed_plan

    before = planned(3, 12)
    assert before == planned(3, 12)  # deterministic
    tasks = [it["task"] for it in before[0]]
    assert tasks == ["speak_now"] * 48 + ["speak_when"] * 12
    monkeypatch.setattr(timed_plan, "_WHEN_STREAM", 17)
    after = planned(3, 12)
    assert before[1] == after[1] and before[0][:48] == after[0][:48]  # clips and yes/no items unchanged
    assert when_items(before[0]) != when_items(after[0])


def test_shipped_set_has_one_choice_per_clip_with_balanced_letters() -> None:
    items, manifest = shipped(3)
    chosen = when_items(items)
    assert manifest["items_per_task"]["speak_when"] == len(chosen) == manifest["n_clips"]
    letters = collections.Counter(it["correct_answer"] for it in chosen)
    assert sorted(letters) == list(LETTERS[:3]) and max(letters.values()) - min(letters.values()) <= 1
    by_name = {c["video_path"]: c for c in manifest["clips"]}
    for it in chosen:
        clip = by_name[it["group"] + ".mp4"]
        assert it["video_path"] == clip["files"][-1]["video_path"]  # no extra mp4 for the choice


def first_yield(items: list[dict[str, Any]], clips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tempting design: ask for the *first* hand-over (all cuts but the second yield offered)."""
    by_name = {c["video_path"]: c for c in clips}
    out = []
    for it in when_items(items):
        clip = by_name[it["group"] + ".mp4"]
        first, second = (k for k, yes in enumerate(clip["speak"]) if yes)
        slots = [k for k in range(4) if k != second]
        options = [f"{LETTERS[i]}. {clip['cuts_s'][k]:.2f} s" for i, k in enumerate(slots)]
        out.append(it | {"options": options, "correct_answer": LETTERS[slots.index(first)]})
    return out


def test_the_oracles_catch_a_biased_position() -> None:
    items, clips = planned(3, 600)
    fair = cells(when_items(items), clips)
    leaky = cells(first_yield(items, clips), clips)
    for modality in ("video", "audio"):
        assert fair["speak_when", modality].accuracy < CHANCE["speak_when"] + 0.06
        # the first yield is at the first cut half of the time: 50 % against a chance of 33 %
        assert leaky["speak_when", modality].accuracy > 0.45, leaky["speak_when", modality].strategy
    assert fair["speak_when", "joint"].accuracy == leaky["speak_when", "joint"].accuracy == 1.0


def test_av_sync_picks_the_moment_from_the_media(tmp_path: Path) -> None:
    data = load_dataset(DATA[3], level=3)
    evaluator = Evaluator(
        AVSyncModel(), {3: prompt_settings(Config(), 3, "av_sync")}, MediaPreparer(tmp_path)
    )
    sample = [it for it in data.items if it.task == "speak_when"][:6]
    assert len({it.correct_answer for it in sample}) > 1
    for r in (evaluator.evaluate(it, Modality.AVT) for it in sample):
        assert r.outcome is Outcome.CORRECT and "guess" not in r.response.text, r.response.text
    for k, rotated in enumerate(rotations(sample[0])):  # the times decide, not where they stand
        assert evaluator.evaluate(rotated, Modality.AVT, rotation=k).outcome is Outcome.CORRECT
    for modality in (Modality.VT, Modality.AT):
        for r in (evaluator.evaluate(it, modality) for it in sample[:3]):
            assert "guess" in r.response.text and r.outcome is not Outcome.UNPARSEABLE


def test_first_yes_timing_reads_only_the_yes_no_items() -> None:
    def rec(**fields: Any) -> Record:
        return Record.from_json({"level": 3, "modality": "avt", "outcome": "correct", "group": "c1"} | fields)

    cuts = [
        rec(id=f"c1-{k}", answer_type="yesno", cut_s=float(k), answer=a, prediction=a)
        for k, a in enumerate(["no", "yes", "no", "yes"])
    ]
    choice = rec(id="c1-when", answer_type="choice", answer="A", prediction="B", outcome="wrong")
    (alone,) = timing_metrics(cuts)
    assert timing_metrics([*cuts, choice]) == [alone] and alone.on_time == 1 and alone.clips == 1
