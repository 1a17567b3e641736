"""Dataset loading: every problem kind is reported, all at once, naming file, index and id."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vsync_models.data.dataset import load_level1, resolve_dataset_paths
from vsync_models.errors import DatasetError


def good_item(i: int = 1, **over) -> dict:
    item = {
        "id": f"q{i}",
        "video_path": f"clip{i}.mp4",
        "question": "Who said 'hello'?",
        "options": ["A. the red circle", "B. the blue square", "C. the green triangle", "D. nobody"],
        "correct_answer": "B",
        "asr_content": "hello there",
    }
    item.update(over)
    return item


def make_set(tmp_path: Path, items: list, videos: tuple[str, ...] | None = None) -> Path:
    (tmp_path / "videos").mkdir(exist_ok=True)
    names = (
        videos
        if videos is not None
        else [it["video_path"] for it in items if isinstance(it, dict) and "video_path" in it]
    )
    for name in names:
        if (
            isinstance(name, str)
            and name
            and not os.path.isabs(name)
            and ".." not in name
            and "\x00" not in name
        ):
            (tmp_path / "videos" / name).write_bytes(b"not decoded during validation")
    (tmp_path / "dataset.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    return tmp_path


def problems_of(path: Path, **kw) -> list[str]:
    with pytest.raises(DatasetError) as info:
        load_level1(path, **kw)
    return info.value.problems


def test_valid_dataset_loads_in_order(tmp_path):
    ds = load_level1(make_set(tmp_path, [good_item(1), good_item(2, correct_answer="D", task="who_said")]))
    assert [it.key for it in ds] == ["q1", "q2"]
    assert ds.items[1].task == "who_said"
    assert ds.items[0].letters == ("A", "B", "C", "D")
    assert ds.items[0].video_file == (tmp_path / "videos" / "clip1.mp4").resolve()
    assert ds.tasks == ["who_said"]


def test_directory_or_file_path_and_video_dir_override(tmp_path):
    make_set(tmp_path, [good_item()])
    assert resolve_dataset_paths(tmp_path, None) == (tmp_path / "dataset.json", tmp_path / "videos")
    assert len(load_level1(tmp_path / "dataset.json")) == 1
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "clip1.mp4").write_bytes(b"x")
    (tmp_path / "videos" / "clip1.mp4").unlink()
    assert load_level1(tmp_path, video_dir=other).items[0].video_file == (other / "clip1.mp4").resolve()


def test_unicode_ids_questions_and_options(tmp_path):
    item = good_item(
        1, id="题-ü-1", question="谁说了“你好”？", options=["A. 红色圆形", "B. 蓝色方块"], correct_answer="A"
    )
    ds = load_level1(make_set(tmp_path, [item]))
    assert ds.items[0].key == "题-ü-1"
    assert ds.items[0].option_texts() == {"A": "红色圆形", "B": "蓝色方块"}


def test_integer_ids_are_allowed(tmp_path):
    ds = load_level1(make_set(tmp_path, [good_item(1, id=7)]))
    assert ds.items[0].id == 7 and ds.items[0].key == "7"


def test_all_problems_reported_together_with_location(tmp_path):
    items = [
        good_item(1),
        {k: v for k, v in good_item(2).items() if k != "question"},  # missing field
        good_item(3, options="A. x"),  # wrong type
        good_item(4, correct_answer="E"),  # letter not among options
        good_item(5, options=["A. one", "C. two"]),  # not lettered in order
        good_item(6, id="q1"),  # duplicate id
        good_item(7, id=True),  # bool is not an id
        good_item(8, asr_content=5),  # optional field with wrong type
    ]
    problems = problems_of(make_set(tmp_path, items))
    text = "\n".join(problems)
    assert len(problems) == 7, text
    assert all(str(tmp_path / "dataset.json") in p for p in problems)
    assert "item 1 (id='q2'): missing field 'question'" in text
    assert "item 2 (id='q3'): field 'options' must be list" in text
    assert "item 3 (id='q4'): correct_answer 'E' is not one of the option letters A, B, C, D" in text
    assert "item 4 (id='q5'): option 2 must start with 'B.'" in text
    assert "item 5 (id='q1'): duplicate id, first used by item 0" in text
    assert "item 6 (id=True): field 'id' must be string or integer" in text
    assert "item 7 (id='q8'): field 'asr_content' must be string or null" in text


def test_ids_collide_as_text(tmp_path):
    problems = problems_of(make_set(tmp_path, [good_item(1, id=1), good_item(2, id="1")]))
    assert problems == [f"{tmp_path / 'dataset.json'} item 1 (id='1'): duplicate id, first used by item 0"]


def test_missing_video_file(tmp_path):
    problems = problems_of(make_set(tmp_path, [good_item(1)], videos=()))
    assert len(problems) == 1 and "video file not found" in problems[0] and "clip1.mp4" in problems[0]


@pytest.mark.parametrize(
    ("video_path", "message"),
    [
        ("/etc/passwd", "is absolute"),
        ("../outside.mp4", "contains '..'"),
        ("sub/../../outside.mp4", "contains '..'"),
        ("", "video_path is empty"),
        ("a\x00b.mp4", "NUL byte"),
    ],
)
def test_unsafe_video_paths_are_refused(tmp_path, video_path, message):
    problems = problems_of(make_set(tmp_path, [good_item(1, video_path=video_path)]))
    assert len(problems) == 1 and message in problems[0]


def test_symlink_out_of_the_video_dir_is_refused(tmp_path):
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"x")
    make_set(tmp_path, [good_item(1, video_path="link.mp4")], videos=())
    (tmp_path / "videos" / "link.mp4").symlink_to(secret)
    problems = problems_of(tmp_path)
    assert len(problems) == 1 and "outside the video directory" in problems[0]


def test_symlink_inside_the_video_dir_is_fine(tmp_path):
    make_set(tmp_path, [good_item(1, video_path="link.mp4")], videos=("real.mp4",))
    (tmp_path / "videos" / "link.mp4").symlink_to(tmp_path / "videos" / "real.mp4")
    assert load_level1(tmp_path).items[0].video_file.name == "real.mp4"


def test_malformed_json_names_line_and_column(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "dataset.json").write_text('[\n  {"id": "q1",\n  "question": }\n]', encoding="utf-8")
    (problem,) = problems_of(tmp_path)
    assert "invalid JSON at line 3, column" in problem


@pytest.mark.parametrize(
    ("content", "message"),
    [("{}", "top level must be a JSON array"), ("[]", "has no items"), ("[3]", "item must be an object")],
)
def test_wrong_shapes(tmp_path, content, message):
    (tmp_path / "videos").mkdir()
    (tmp_path / "dataset.json").write_text(content, encoding="utf-8")
    assert message in problems_of(tmp_path)[0]


def test_missing_file_and_missing_video_dir(tmp_path):
    assert "dataset file not found" in problems_of(tmp_path / "nope.json")[0]
    (tmp_path / "dataset.json").write_text("[]", encoding="utf-8")
    assert "video directory not found" in problems_of(tmp_path)[0]


def test_non_utf8_file(tmp_path):
    (tmp_path / "videos").mkdir()
    (tmp_path / "dataset.json").write_bytes(b'[{"id": "\xff"}]')
    assert "not UTF-8" in problems_of(tmp_path)[0]


def test_task_must_be_a_marker_name(tmp_path):
    problems = problems_of(make_set(tmp_path, [good_item(1, task="Who Said")]))
    assert "lower_snake_case" in problems[0]


def test_unknown_fields_are_kept(tmp_path):
    ds = load_level1(make_set(tmp_path, [good_item(1, source_clip="x")]))
    assert ds.items[0].extra == {"source_clip": "x"}
