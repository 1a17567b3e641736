"""``event_when_speaking``: level 1's event question asked about a speaker, not a quote. It ships as a
companion set over the existing level-1 clips (the old files untouched), regenerates from the seed,
needs binding (every oracle with one modality, and late fusion, at chance; planted leaks caught),
and ``av_sync`` answers it from the media, without the transcript's order."""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support import speaker_moves_first
from vsync_models.data.dataset import load_dataset, load_level1
from vsync_models.data.levels import LATE_FUSION_LEAKS
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings
from vsync_models.errors import DatasetError
from vsync_models.models.av_sync import AVSyncModel
from vsync_models.run.evaluate import Evaluator
from vsync_models.synth.__main__ import main
from vsync_models.synth.level1 import dataset_bytes, write_speaker_items
from vsync_models.synth.oracles import CHANCE, OracleResult, cases, evaluate
from vsync_models.synth.plan import plan_clips
from vsync_models.synth.speaker_items import (
    SPEAKER_FILE,
    SPEAKER_TASK,
    asked_speaker,
    build_speaker_items,
    speaking_once,
)
from vsync_models.synth.truth import clip_truth
from vsync_models.types import Modality, Outcome

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "level_1"
MARGIN = 0.10
"""The issue's bound: every single-modality oracle and late fusion within chance + 10 points."""
SINGLE = ("video", "audio", "text", "late")


def _shipped() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    items = json.loads((SHIPPED / SPEAKER_FILE).read_text(encoding="utf-8"))
    return items, json.loads((SHIPPED / "manifest.json").read_text(encoding="utf-8"))


def _cells(items: list[dict[str, Any]], clips: list[dict[str, Any]]) -> dict[str, OracleResult]:
    return {r.modality: r for r in evaluate(cases(items, clips)) if r.task == SPEAKER_TASK}


def _planned(seed: int, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    plans = plan_clips(seed, n)
    return build_speaker_items(plans, seed), [clip_truth(p) for p in plans]


# --- the shipped set ------------------------------------------------------------------------------


def test_shipped_items_regenerate_from_the_seed_and_leave_the_old_files_alone() -> None:
    items, manifest = _shipped()
    plans = plan_clips(manifest["seed"], manifest["n_clips"])
    assert (
        dataset_bytes(build_speaker_items(plans, manifest["seed"])) == (SHIPPED / SPEAKER_FILE).read_bytes()
    )
    # The level's own files still describe 280 items, pinned by the manifest.
    assert manifest["n_items"] == len(json.loads((SHIPPED / "dataset.json").read_text(encoding="utf-8")))
    assert len(items) >= 50 and {it["task"] for it in items} == {SPEAKER_TASK}


def test_each_item_names_a_character_that_speaks_once_and_asks_its_slots_event() -> None:
    items, manifest = _shipped()
    clips = {c["video_path"]: c for c in manifest["clips"]}
    for it in items:
        clip = clips[it["video_path"]]
        who = asked_speaker(it["question"])
        spoken = [u["slot"] for u in clip["utterances"] if u["speaker"] == who]
        assert len(spoken) == 1, it["id"]
        right = it["options"]["ABCD".index(it["correct_answer"])][3:]
        assert right == next(e["text"] for e in clip["events"] if e["slot"] == spoken[0])
        assert sorted(o[3:] for o in it["options"]) == sorted(e["text"] for e in clip["events"])
    letters = collections.Counter(it["correct_answer"] for it in items)
    assert set(letters) == set("ABCD") and max(letters.values()) - min(letters.values()) <= 1


def test_speaking_once_is_every_slot_whose_speaker_is_heard_nowhere_else() -> None:
    for plan in plan_clips(5, 30):
        speakers = [s.heard.character for s in plan.slots]
        assert speaking_once(plan) == [k for k, c in enumerate(speakers) if speakers.count(c) == 1]
        if plan.kind == "in_sync":
            assert speaking_once(plan) == []


def test_the_level_loads_its_companion_set(tmp_path: Path) -> None:
    ds = load_level1(SHIPPED)
    spk = [it for it in ds if it.task == SPEAKER_TASK]
    assert len(ds) == 280 + len(spk) and ds.companions == (SHIPPED / SPEAKER_FILE,)
    assert all(Path(it.source).name == "event_when_speaking.json" for it in spk)
    assert ds.files == (SHIPPED / "dataset.json", SHIPPED / SPEAKER_FILE)
    # A JSON file named otherwise has no companions; an id used twice across the files is refused.
    assert len(load_dataset(SHIPPED / SPEAKER_FILE, SHIPPED / "videos")) == len(spk)
    copy_dir = tmp_path / "level"
    (copy_dir / "extra").mkdir(parents=True)
    (copy_dir / "videos").symlink_to(SHIPPED / "videos")
    shutil.copy(SHIPPED / "dataset.json", copy_dir / "dataset.json")
    clash = json.loads((SHIPPED / SPEAKER_FILE).read_text(encoding="utf-8"))[:2]
    clash[1]["id"] = "syn-0003"
    (copy_dir / "extra" / "clash.json").write_text(json.dumps(clash), encoding="utf-8")
    with pytest.raises(DatasetError, match=r"clash.json item 1 \(id='syn-0003'\): duplicate id"):
        load_level1(copy_dir)


def test_the_command_writes_the_companion_set_only_over_its_own_clips(tmp_path: Path) -> None:
    out = tmp_path / "level_1"
    out.mkdir()
    shutil.copy(SHIPPED / "manifest.json", out / "manifest.json")
    assert main(["speaker-items", "--out", str(out)]) == 0
    assert (out / SPEAKER_FILE).read_bytes() == (SHIPPED / SPEAKER_FILE).read_bytes()
    with pytest.raises(ValueError, match="seed 0, 80 clips; asked for seed 3"):
        write_speaker_items(out, seed=3)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["clips"][4]["events"][0]["frame"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ValueError, match=r"clip_0005\.mp4 is not the clip seed 0 plans"):
        write_speaker_items(out)


# --- the oracles ----------------------------------------------------------------------------------


def test_only_binding_answers_the_shipped_items() -> None:
    items, manifest = _shipped()
    cells = _cells(items, manifest["clips"])
    assert cells["joint"].accuracy == 1.0
    for modality in SINGLE:
        r = cells[modality]
        assert r.accuracy <= CHANCE + MARGIN, (modality, r.strategy, r.accuracy)
    assert (1, SPEAKER_TASK) not in LATE_FUSION_LEAKS


def test_only_binding_answers_on_2000_planned_clips() -> None:
    cells = _cells(*_planned(1, 2000))
    assert cells["joint"].accuracy == 1.0 and cells["joint"].n >= 1000
    for modality in SINGLE:
        r = cells[modality]
        assert r.accuracy <= CHANCE + MARGIN, (modality, r.strategy, r.accuracy)


def test_the_oracles_catch_planted_leaks() -> None:
    items, clips = _planned(2, 200)
    # Video: the heard mouth always moves first in its slot.
    first = speaker_moves_first(clips)
    cells = _cells(items, first)
    assert cells["video"].accuracy > 0.9 and cells["joint"].accuracy == 1.0, cells["video"].strategy
    # Late fusion: the heard mouth keeps moving 2 s longer (frames a second apart show it).
    longer = copy.deepcopy(clips)
    for clip in longer:
        for m in clip["mouthing"]:
            if m["heard"]:
                m["end_s"] = round(m["end_s"] + 2.0, 3)
    assert _cells(items, longer)["late"].accuracy > 0.9


# --- av_sync ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_items() -> list[Any]:
    return [it for it in load_level1(SHIPPED) if it.task == SPEAKER_TASK]


def test_av_sync_answers_from_whose_mouth_follows_the_voice(
    shipped_items: list[Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    evaluator = Evaluator(
        model=AVSyncModel(),
        prompts={1: PromptSettings()},
        preparer=MediaPreparer(tmp_path_factory.mktemp("m")),
    )
    # The transcript reversed: its order says nothing, and the answers must not change.
    outcomes: dict[str, collections.Counter[Outcome]] = collections.defaultdict(collections.Counter)
    for item in shipped_items:
        reversed_asr = " ".join(reversed([s + "." for s in item.asr_content.split(". ") if s]))
        for modality in Modality:
            for it in (item, dataclasses.replace(item, asr_content=reversed_asr)):
                if modality is not Modality.AVT and it is not item:
                    continue
                outcomes[modality.value][evaluator.evaluate(it, modality).outcome] += 1
    n = len(shipped_items)
    assert outcomes["avt"][Outcome.CORRECT] >= 0.9 * 2 * n, outcomes["avt"]
    for modality in ("vt", "at"):  # a stated guess: no stream, no answer
        assert outcomes[modality][Outcome.CORRECT] <= (CHANCE + MARGIN + 0.1) * n, outcomes[modality]
