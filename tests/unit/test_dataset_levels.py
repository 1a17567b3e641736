"""Level-2/3 dataset format: answer types, truths inside the clip, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REPO, write_dataset
from vsync_models.config import Config, LevelConfig, load_config
from vsync_models.data.dataset import load_dataset, probe_duration
from vsync_models.data.levels import load_levels, scoring_settings
from vsync_models.data.prompts import prompt_settings
from vsync_models.errors import ConfigError, DatasetError


def timed(i: int, **fields) -> dict:
    item = {
        "id": f"t{i}",
        "video_path": "clip.mp4",
        "question": "When is the voice of the red circle heard?",
        "answer_type": "interval",
        "answer": [1.0, 2.8],
        "duration": 10.0,
    }
    item.update(fields)
    return item


def choice(i: int) -> dict:
    return {
        "id": f"c{i}",
        "video_path": "clip.mp4",
        "question": "Which character said it?",
        "options": ["A. x", "B. y"],
        "correct_answer": "A",
    }


def test_each_answer_type_loads_with_its_typed_truth(tmp_path: Path) -> None:
    items = [
        timed(0),
        timed(1, answer_type="instant", answer=3),
        timed(2, answer_type="yesno", answer="Yes"),
        timed(3, answer_type="yesno", answer=False),
        timed(4, answer_type="choice", options=["A. x", "B. y"], correct_answer="B", answer=None),
    ]
    data = load_dataset(write_dataset(tmp_path, items), level=2)
    assert data.level == 2
    assert [it.answer for it in data] == [(1.0, 2.8), 3.0, "yes", "no", None]
    assert [it.correct_answer for it in data] == ["1-2.8 s", "3 s", "yes", "no", "B"]
    assert all(it.level == 2 and it.duration == 10.0 for it in data)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    items = [
        timed(0, answer=[3.0, 2.0]),
        timed(1, answer=[5.0, 12.0]),
        timed(2, answer_type="instant", answer=-1),
        timed(3, answer_type="yesno", answer="maybe"),
        timed(4, answer_type="span"),
        timed(5, options=["A. x"]),
        timed(6, answer="1-2"),
        timed(7, level=3),
        timed(8, duration=0),
        {k: v for k, v in timed(9).items() if k != "answer"},
    ]
    with pytest.raises(DatasetError) as info:
        load_dataset(write_dataset(tmp_path, items), level=2)
    text = "\n".join(info.value.problems)
    for needle in (
        "id='t0'): answer interval must have start < end, got [3, 2]",
        "id='t1'): answer [5, 12] is outside the clip (0-10 s)",
        "id='t2'): answer -1 s is outside the clip",
        "id='t3'): answer must be 'yes' or 'no'",
        "id='t4'): answer_type 'span' must be one of choice, interval, instant, yesno",
        "id='t5'): options are only for answer_type 'choice'",
        "id='t6'): answer must be [start, end] in seconds",
        "id='t7'): level 3 item in a level-2 dataset",
        "id='t8'): duration must be > 0 seconds",
        "id='t9'): missing field 'answer'",
    ):
        assert needle in text
    assert len(info.value.problems) == 10


def test_a_signed_instant_is_an_offset_within_the_clip_length(tmp_path: Path) -> None:
    ok = [
        timed(0, answer_type="instant", signed=True, answer=-9.5),
        timed(1, answer_type="instant", signed=True, answer=4),
        timed(2, answer_type="instant", signed=False, answer=4),
    ]
    data = load_dataset(write_dataset(tmp_path / "ok", ok), level=2)
    assert [(it.answer, it.signed) for it in data] == [(-9.5, True), (4.0, True), (4.0, False)]
    assert [it.correct_answer for it in data] == ["-9.5 s", "+4 s", "4 s"]
    assert "signed" not in data.items[0].extra
    bad = [
        timed(0, answer_type="instant", signed=True, answer=-10.5),
        timed(1, answer_type="instant", answer=-0.5),  # unsigned: a time in the clip
        timed(2, signed=True),  # an interval
        timed(3, answer_type="instant", signed="yes", answer=1),
    ]
    with pytest.raises(DatasetError) as info:
        load_dataset(write_dataset(tmp_path / "bad", bad), level=2)
    text = "\n".join(info.value.problems)
    for needle in (
        "id='t0'): signed answer -10.5 s is longer than the clip (10 s)",
        "id='t1'): answer -0.5 s is outside the clip",
        "id='t2'): 'signed' is only for answer_type 'instant', not 'interval'",
        "id='t3'): field 'signed' must be true or false, got 'yes'",
    ):
        assert needle in text
    assert len(info.value.problems) == 4


def test_level_one_stays_multiple_choice(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="level-1 items are multiple choice"):
        load_dataset(write_dataset(tmp_path, [timed(0)]), level=1)


def test_duration_is_read_from_the_clip_when_absent(tmp_path: Path) -> None:
    clip = REPO / "data" / "level_2" / "videos" / "clip_0001.mp4"
    seconds, problem = probe_duration(clip)
    assert problem is None and seconds == pytest.approx(11.36, abs=0.1)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "clip.mp4").write_bytes(clip.read_bytes())
    item = {k: v for k, v in timed(0, answer=[1.0, 11.0]).items() if k != "duration"}
    data = load_dataset(write_dataset(tmp_path, [item]), level=2)
    assert data.items[0].duration == pytest.approx(11.36, abs=0.1)
    bad = {k: v for k, v in timed(1, answer=[1.0, 30.0]).items() if k != "duration"}
    with pytest.raises(DatasetError, match="outside the clip"):
        load_dataset(write_dataset(tmp_path, [bad]), level=2)


def test_unreadable_clip_without_duration_is_a_problem(tmp_path: Path) -> None:
    item = {k: v for k, v in timed(0).items() if k != "duration"}
    with pytest.raises(DatasetError, match=r"cannot read the duration of clip\.mp4"):
        load_dataset(write_dataset(tmp_path, [item]), level=2)


def test_levels_load_when_present_and_configured_paths_must_exist(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data" / "level_3", [timed(0, answer_type="yesno", answer="no")])
    loaded = load_levels(Config(), lambda v: tmp_path / v)
    assert [lv.number for lv in loaded] == [3]  # levels 1 and 2: default directories absent, not run
    missing = Config(levels={2: LevelConfig(dataset_path="elsewhere/level_2")})
    with pytest.raises(DatasetError, match="dataset file not found"):
        load_levels(missing, lambda v: tmp_path / v)
    assert load_levels(Config(), lambda v: tmp_path / "empty" / v) == ()  # no data at all: no levels


def test_every_level_is_one_kind_of_object(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data" / "level_1", [choice(0)])
    write_dataset(tmp_path / "data" / "level_2", [timed(0, level=2)])
    cfg = Config(levels={2: LevelConfig(output_pattern="l2_{model}.json")})
    one, two = load_levels(cfg, lambda v: tmp_path / v, "m")
    assert (one.number, one.answer_types, one.states_duration, one.output_pattern) == (
        1,
        ("choice",),
        False,
        None,
    )
    assert (two.number, two.states_duration, two.output_pattern) == (2, True, "l2_{model}.json")
    assert "interval" in two.answer_types
    assert one.prompts == prompt_settings(cfg, 1, "m") and two.prompts == prompt_settings(cfg, 2, "m")
    assert one.video_dir == (tmp_path / "data" / "level_1" / "videos").resolve() and len(two) == 1


def test_a_given_dataset_runs_alone_as_the_level_its_items_declare(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data" / "level_1", [choice(0)])  # shipped levels: not loaded beside it
    resolve = lambda v: tmp_path / v  # noqa: E731
    mine = write_dataset(tmp_path / "mine", [timed(0, level=2), timed(1, level=2)])
    (level,) = load_levels(Config(), resolve, "m", dataset=mine)
    assert (level.number, len(level), level.dataset.path) == (2, 2, mine / "dataset.json")
    plain = write_dataset(tmp_path / "plain", [choice(0)])
    assert [lv.number for lv in load_levels(Config(), resolve, "m", dataset=plain)] == [1]
    videos = tmp_path / "clips"
    videos.mkdir()
    (videos / "clip.mp4").write_bytes(b"x")
    (level,) = load_levels(Config(), resolve, dataset=plain / "dataset.json", video_dir=videos)
    assert level.video_dir == videos.resolve()


def test_a_given_dataset_declares_one_known_level(tmp_path: Path) -> None:
    resolve = lambda v: tmp_path / v  # noqa: E731
    mixed = write_dataset(
        tmp_path / "mixed", [timed(0, level=2), timed(1, level=3, answer_type="instant", answer=1)]
    )
    with pytest.raises(DatasetError, match="items of levels 2, 3 in one dataset"):
        load_levels(Config(), resolve, dataset=mixed)
    unknown = write_dataset(tmp_path / "unknown", [timed(0, level=5)])
    with pytest.raises(DatasetError, match="level 5 is not a V-SYNC level"):
        load_levels(Config(), resolve, dataset=unknown)
    undeclared = write_dataset(tmp_path / "undeclared", [timed(0)])
    with pytest.raises(DatasetError) as info:
        load_levels(Config(), resolve, dataset=undeclared)
    assert "level-1 items are multiple choice" in info.value.problems[0]
    assert 'read as level 1; add "level": 2 or 3' in info.value.problems[-1]


def test_scoring_thresholds_come_from_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("benchmark:\n  level2:\n    iou_threshold: 0.3\n    tolerance_s: 1\n", encoding="utf-8")
    settings = scoring_settings(load_config(cfg, environ={}))
    assert (settings.iou_threshold, settings.tolerance_s) == (0.3, 1.0)
    assert scoring_settings(Config()).iou_threshold == 0.5
    with pytest.raises(ConfigError, match="iou_threshold must be in"):
        scoring_settings(Config(levels={2: LevelConfig(iou_threshold=1.5)}))
