"""Ceilings: ``av_sync`` measured through the harness at the sampling a model gets; the packaged
ceilings file holds every (level, task, modality) of the shipped data at every sampling."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsync_models.config import Config
from vsync_models.data.dataset import Dataset
from vsync_models.data.levels import Level, load_levels
from vsync_models.report.stats import HEADLINE
from vsync_models.synth.ceilings import ALL, COMMAND, DEFAULT_PATH, SAMPLINGS, markdown, measure, to_json
from vsync_models.types import Modality, Sampling

ROOT = Path(__file__).resolve().parents[2]


def _shipped() -> tuple[Level, ...]:
    return load_levels(Config(), lambda p: ROOT / p, "av_sync")


@pytest.fixture(scope="module")
def who_said() -> Level:
    levels = _shipped()
    if not levels or levels[0].number != 1:
        pytest.skip("the shipped level-1 set is not here")
    level = levels[0]
    items = [it for it in level if it.task == "who_said"][:12]
    data = Dataset(items=items, path=level.dataset.path, video_dir=level.video_dir)
    return Level(1, data, level.prompts)


def test_one_fps_cannot_tell_who_said_what_every_frame_can(who_said: Level) -> None:
    rows = measure([who_said], [Sampling(), Sampling(1.0)])
    avt = {r.sampling: r for r in rows if r.modality == "avt" and r.task == "who_said"}
    assert avt[Sampling()].accuracy == 1.0
    assert avt[Sampling(1.0)].accuracy <= 0.6, avt[Sampling(1.0)]
    pooled = [r for r in rows if r.task == ALL]
    assert len(pooled) == 2 * len(Modality) and all(r.n == 12 for r in pooled)
    body = json.loads(to_json(rows))
    assert body["command"] == COMMAND and body["perceiver"] == "av_sync"
    row = next(
        r for r in body["rows"] if r["fps"] == 1.0 and r["task"] == "who_said" and r["modality"] == "avt"
    )
    assert set(row) == {
        "level",
        "task",
        "modality",
        "fps",
        "max_frames",
        "n",
        "correct",
        "accuracy",
        "ci_low",
        "ci_high",
    }
    assert row["ci_low"] <= row["accuracy"] <= row["ci_high"] and row["max_frames"] is None
    table = markdown(rows)
    assert "| 1 | who_said | 12 | 100.0 [" in table and "1 fps" in table and "every frame" in table


def test_the_packaged_file_covers_every_shipped_task_at_every_sampling() -> None:
    if not DEFAULT_PATH.is_file():
        pytest.skip("no ceilings file measured yet")
    body = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert body["command"] == COMMAND
    have = {(r["level"], r["task"], r["modality"], r["fps"], r["max_frames"]) for r in body["rows"]}
    for level in _shipped():
        tasks = {it.task for it in level} | {ALL}
        if any(level.leak(it.task) for it in level):  # the headline: the tasks that do not leak
            tasks.add(HEADLINE)
            headline = [r for r in body["rows"] if (r["level"], r["task"]) == (level.number, HEADLINE)]
            assert all(r["n"] == sum(not level.leak(it.task) for it in level) for r in headline)
        for task in tasks:
            for modality in Modality:
                for s in SAMPLINGS:
                    assert (level.number, task, modality.value, s.fps, s.max_frames) in have
    for r in body["rows"]:
        assert r["correct"] <= r["n"] and abs(r["accuracy"] - r["correct"] / r["n"]) < 1e-4
