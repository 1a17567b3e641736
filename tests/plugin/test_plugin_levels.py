"""The plugin with levels 2 and 3: each level's items from its own dataset, its own marker and
results file, level metrics in the summary, CircularEval only where there are options."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support import REPO, choice_items, last_run, write_dataset


def level_items(level: int) -> list[dict]:
    if level == 3:
        return [
            {
                "id": f"l3-{i}",
                "video_path": f"clip_cut{i}.mp4",
                "question": "Should you start speaking now?",
                "answer_type": "yesno",
                "answer": "yes" if i % 2 else "no",
                "duration": 3.0 + i,
                "task": "speak_now",
                "group": "clip",
                "cut_s": 3.0 + i,
            }
            for i in range(4)
        ]
    return [
        {
            "id": "l2-0",
            "video_path": "clip.mp4",
            "question": "When is the voice of the red circle heard?",
            "answer_type": "interval",
            "answer": [1.0, 2.8],
            "duration": 10.0,
            "task": "when_speaks",
        },
        {
            "id": "l2-1",
            "video_path": "clip.mp4",
            "question": "At what time does the red circle start speaking?",
            "answer_type": "instant",
            "answer": 1.0,
            "duration": 10.0,
            "task": "speech_onset",
        },
        {
            "id": "l2-2",
            "video_path": "clip.mp4",
            "question": "Which character is speaking at 1.5 s?",
            "options": ["A. the red circle", "B. the blue square"],
            "correct_answer": "A",
            "answer_type": "choice",
            "duration": 10.0,
            "task": "who_at_time",
        },
    ]


@pytest.fixture
def levels(bench: pytest.Pytester) -> pytest.Pytester:
    for level in (2, 3):
        name = f"test_level{level}.py"
        source = (REPO / "tests" / "benchmark" / name).read_text(encoding="utf-8")
        (bench.path / "tests" / name).write_text(source, encoding="utf-8")
        write_dataset(bench.path / "data" / f"level_{level}", level_items(level))
    return bench


def test_markers_select_one_level_and_its_tasks(levels: pytest.Pytester) -> None:
    res = levels.runpytest("--collect-only", "-q", "-m", "level2 and avt", "--model", "constant")
    ids = [line for line in res.outlines if "::test_item[" in line]
    assert ids == [f"tests/test_level2.py::test_item[l2-{i}-avt]" for i in range(3)]
    res = levels.runpytest("--collect-only", "-q", "-m", "speak_now and vt", "--model", "constant")
    assert sum("test_level3.py::test_item[" in line for line in res.outlines) == 4
    res = levels.runpytest("--collect-only", "-q", "-m", "level1", "--model", "constant")
    assert sum("::test_item[" in line for line in res.outlines) == 24


def test_level_results_files_and_summary_metrics(levels: pytest.Pytester) -> None:
    config = levels.path / "config.yaml"
    config.write_text(
        "models:\n  constant:\n    answer: 'yes, from 1 s to 3 s'\n"
        "    answers: {interval: &same 'yes, from 1 s to 3 s', instant: *same, yesno: *same}\n"
        # the original's level-1 pattern names level 1 literally; it must not capture level 2's file
        "benchmark:\n  level1:\n    output_pattern: 'results_{model}_level1.json'\n",
        encoding="utf-8",
    )
    res = levels.runpytest(
        "--model", "constant", "-m", "(level2 or level3) and avt", "--config", "config.yaml", "-rf"
    )
    doc = json.loads((last_run(levels.path) / "results_constant_level2.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["l2-0"]["outcome"] == "correct" and by_id["l2-0"]["iou"] == pytest.approx(0.9)
    assert by_id["l2-0"]["prediction"] == [1.0, 3.0] and by_id["l2-0"]["answer"] == [1.0, 2.8]
    assert by_id["l2-1"]["outcome"] == "unparseable"  # two times where one was asked for
    assert by_id["l2-2"]["outcome"] == "unparseable"  # no option letter
    assert not (last_run(levels.path) / "results_constant_level1.json").exists()
    doc3 = json.loads((last_run(levels.path) / "results_constant_level3.json").read_text(encoding="utf-8"))
    assert [r["outcome"] for r in doc3["results"]] == ["wrong", "correct", "wrong", "correct"]
    assert all(r["group"] == "clip" and r["answer_type"] == "yesno" for r in doc3["results"])
    res.stdout.fnmatch_lines(
        [
            "*2  avt       all*3*",
            "*3  avt       all*4*",
            "timing (levels 2/3):",
            "*level 2 avt  intervals n=1: mean IoU 0.90*",
            "*level 3 avt  first yes over 1 clips: on time 0, too early (interruption) 1 mean 1.00 s*",
        ]
    )
    res.stdout.fnmatch_lines(
        ["*wrong: item 'l3-0' [[]avt[]]*", "*expected: no*", "*extracted: yes (rule: leading)*"]
    )


def test_circular_rotates_only_choice_items(levels: pytest.Pytester) -> None:
    res = levels.runpytest("--model", "constant", "-m", "level2 and avt", "--circular")
    doc = json.loads((last_run(levels.path) / "results_constant_level2.json").read_text(encoding="utf-8"))
    rotations = {r["id"]: len(r["rotations"]) for r in doc["results"]}
    assert rotations == {"l2-0": 1, "l2-1": 1, "l2-2": 2}
    assert res.ret == pytest.ExitCode.OK  # wrong answers fail tests; the gates decide the run (all hold)


def test_an_invalid_level_dataset_stops_the_run(levels: pytest.Pytester) -> None:
    bad = level_items(2)
    bad[0]["answer"] = [3.0, 1.0]
    write_dataset(levels.path / "data" / "level_2", bad)
    res = levels.runpytest("--model", "constant")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*item 0 (id='l2-0'): answer interval must have start < end*"])


def test_the_header_names_every_level_loaded(levels: pytest.Pytester) -> None:
    res = levels.runpytest("--collect-only", "--model", "constant")
    res.stdout.fnmatch_lines(
        [
            "vsync: model=constant levels=1,2,3 modalities=avt,vt,at",
            f"vsync: level 1 dataset={levels.path / 'data' / 'level_1' / 'dataset.json'} items=8",
            f"vsync: level 2 dataset={levels.path / 'data' / 'level_2' / 'dataset.json'} items=3",
            f"vsync: level 3 dataset={levels.path / 'data' / 'level_3' / 'dataset.json'} items=4",
        ]
    )


def test_a_dataset_run_runs_that_dataset_only(levels: pytest.Pytester) -> None:
    write_dataset(levels.path / "mine", choice_items(3))  # no 'level' field: level 1
    res = levels.runpytest("--model", "constant", "--dataset", "mine")
    outcomes = res.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 9  # 3 items x 3 modalities, no more
    assert outcomes.get("deselected") == 2  # test_level2.py and test_level3.py: no level 2 or 3 here
    res.stdout.fnmatch_lines(["vsync: model=constant levels=1 (--dataset) modalities=avt,vt,at"])
    assert "vsync: level 2" not in res.stdout.str() and "vsync: level 3" not in res.stdout.str()
    assert sorted(p.name for p in last_run(levels.path).glob("*.json") if p.name != "baseline.json") == [
        "results_constant_level1.json",
        "results_constant_level1_at.json",
        "results_constant_level1_vt.json",
    ]


def test_a_level_two_dataset_given_to_dataset_runs_as_level_two(levels: pytest.Pytester) -> None:
    mine = [dict(item, level=2) for item in level_items(2)]
    write_dataset(levels.path / "mine", mine)
    res = levels.runpytest("--collect-only", "-q", "--model", "constant", "--dataset", "mine")
    ids = [line for line in res.outlines if "::test_item[" in line]
    assert ids == [
        f"tests/test_level2.py::test_item[l2-{i}-{m}]" for i in range(3) for m in ("avt", "vt", "at")
    ]


def test_without_any_data_only_a_model_run_is_refused(bench: pytest.Pytester) -> None:
    shutil.rmtree(bench.path / "data")
    (bench.path / "tests" / "test_level1.py").unlink()
    (bench.path / "tests" / "test_other.py").write_text("def test_other():\n    pass\n", encoding="utf-8")
    res = bench.runpytest()  # e.g. another project, with the plugin installed
    res.assert_outcomes(passed=1)
    res.stdout.fnmatch_lines(["vsync: model=none * levels=none *", "vsync: no dataset found*"])
    res = bench.runpytest("--model", "constant")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*no dataset to run: none of data/level_1 ... data/level_4*"])


def test_video_dir_alone_is_level_ones_video_directory(bench: pytest.Pytester) -> None:
    """The original's level-1 option: the shipped level-1 questions, their clips elsewhere."""
    (bench.path / "elsewhere").mkdir()
    (bench.path / "data" / "level_1" / "videos").rename(bench.path / "elsewhere" / "videos")
    res = bench.runpytest("--model", "constant", "-m", "avt", "-p", "no:cacheprovider")
    assert res.ret == pytest.ExitCode.USAGE_ERROR  # the clips are not where the dataset says
    res = bench.runpytest("--model", "constant", "-m", "avt", "--video-dir", "elsewhere/videos")
    assert res.ret == 0
    assert sum(res.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 8


def test_level_four_is_loaded_by_default_and_selected_by_its_task(levels: pytest.Pytester) -> None:
    name = "test_level4.py"
    source = (REPO / "tests" / "benchmark" / name).read_text(encoding="utf-8")
    (levels.path / "tests" / name).write_text(source, encoding="utf-8")
    items = [it | {"level": 4, "id": f"l4-{i}"} for i, it in enumerate(choice_items(3, task="who_said_1fps"))]
    write_dataset(levels.path / "data" / "level_4", items)
    res = levels.runpytest("--collect-only", "-q", "-m", "who_said_1fps", "--model", "constant")
    ids = [line for line in res.outlines if "::test_item[" in line]
    assert ids == [
        f"tests/test_level4.py::test_item[l4-{i}-{m}]" for i in range(3) for m in ("avt", "vt", "at")
    ]
    res = levels.runpytest("--collect-only", "-q", "-m", "level4 and avt", "--model", "constant")
    assert sum("test_level4.py::test_item[" in line for line in res.outlines) == 3
    res = levels.runpytest("--collect-only", "--model", "constant")
    res.stdout.fnmatch_lines(["vsync: model=constant levels=1,2,3,4 *", "vsync: level 4 dataset=*items=3"])
