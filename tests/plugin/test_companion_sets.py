"""A level directory's ``extra/*.json`` companion sets run as part of that level: their items are
collected beside the level's own, their task is a marker, the header names them, and the run's
``dataset_hash`` changes with them."""

from __future__ import annotations

import json

import pytest

from tests.support import choice_items, last_run, write_dataset


def _level_with_companion(bench: pytest.Pytester) -> None:
    root = bench.path / "data" / "level_1"
    write_dataset(root, choice_items(4, answers="A", task="who_said"))
    extra = choice_items(6, answers="A", task="event_when_speaking")[4:]  # ids q004, q005, same clips
    (root / "extra").mkdir()
    (root / "extra" / "more.json").write_text(json.dumps(extra), encoding="utf-8")


def test_companion_items_run_as_part_of_the_level_and_their_task_selects_them(bench):
    _level_with_companion(bench)
    res = bench.runpytest("--model", "constant", "-m", "avt")
    res.stdout.fnmatch_lines(["vsync: level 1 dataset=*dataset.json items=6 + extra/more.json"])
    res.assert_outcomes(passed=6)
    only = bench.runpytest("--model", "constant", "-m", "event_when_speaking and avt")
    only.assert_outcomes(passed=2)
    doc = json.loads((last_run(bench.path) / "results_constant_level1.json").read_text(encoding="utf-8"))
    assert sorted(r["id"] for r in doc["results"]) == ["q004", "q005"]


def test_an_id_used_again_in_a_companion_set_is_a_usage_error(bench):
    _level_with_companion(bench)
    more = bench.path / "data" / "level_1" / "extra" / "more.json"
    items = json.loads(more.read_text(encoding="utf-8"))
    items[0]["id"] = "q001"
    more.write_text(json.dumps(items), encoding="utf-8")
    res = bench.runpytest("--model", "constant")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    assert "more.json item 0 (id='q001'): duplicate id, first used in" in res.stderr.str() + res.stdout.str()


def test_the_dataset_hash_covers_the_companion_sets(tmp_path):
    from vsync_models.report.compare import file_hash, files_hash

    one, two = tmp_path / "dataset.json", tmp_path / "more.json"
    one.write_text("[1]", encoding="utf-8")
    two.write_text("[2]", encoding="utf-8")
    assert files_hash([one]) == file_hash(one)  # no companions: the hash baselines already hold
    both = files_hash([one, two])
    assert both != file_hash(one)
    two.write_text("[3]", encoding="utf-8")
    assert files_hash([one, two]) != both
