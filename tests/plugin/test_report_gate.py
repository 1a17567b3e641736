"""Baselines and the regression gate through pytest, CircularEval, and how gates set the exit status."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support import choice_items, last_run, write_dataset
from vsync_models.data.prompts import rotations
from vsync_models.record import Record
from vsync_models.report.compare import RunInfo, save_baseline
from vsync_models.report.gates import GateStatus
from vsync_models.run.evaluate import circular_verdict
from vsync_models.types import Item, ItemResult, Modality, Outcome, Response


def two_hundred(bench: pytest.Pytester) -> None:
    """200 items; the constant model ("A") gets the first 190 right and the last 10 wrong."""
    items = choice_items(200, answers="A")
    for it in items[190:]:
        it["correct_answer"] = "B"
    write_dataset(bench.path / "data" / "level_1", items)


def baseline(bench: pytest.Pytester, wrong_before: range) -> str:
    """A baseline that was right on all 200 items except ``wrong_before``."""
    records = [
        {
            "id": f"q{i:03d}",
            "level": 1,
            "modality": "avt",
            "task": None,
            "outcome": "correct",
            "prediction": "A",
        }
        for i in range(200)
    ]
    for i in wrong_before:
        records[i]["outcome"] = "wrong"
    path = bench.path / "baseline.json"
    save_baseline(path, [Record.from_json(r) for r in records], RunInfo("constant", "x", "d", "y"))
    return str(path)


GATE = ("--model", "constant", "-m", "avt", "--no-cache", "-p", "no:cacheprovider", "--tb=no", "-q")


def test_ten_degraded_of_two_hundred_passes_when_not_significant(bench):
    two_hundred(bench)
    # Before: wrong on 5 items the candidate now gets right; lost 10, gained 5: McNemar p = 0.30.
    res = bench.runpytest(*GATE, "--baseline", baseline(bench, range(5)), "--fail-on-regression")
    res.assert_outcomes(passed=190, failed=10)
    assert res.ret == pytest.ExitCode.OK  # wrong answers alone do not fail a gated run
    res.stdout.fnmatch_lines(["*1*avt*200*97.5%*95.0%*10*5*0.302*exact*no significant change*"])
    assert "REGRESSION" not in res.stdout.str()


def test_ten_degraded_of_two_hundred_fails_when_significant(bench):
    two_hundred(bench)
    res = bench.runpytest(*GATE, "--baseline", baseline(bench, range(0)), "--fail-on-regression")
    assert res.ret == GateStatus.REGRESSION
    res.stdout.fnmatch_lines(
        [
            "*1*avt*200*100.0%*95.0%*-5.0*10*0*0.002*exact*REGRESSION*",
            "changed items (10):",
            "*1*avt*q190*correct (A)*wrong (A)*regressed*",
            "REGRESSION: level 1 avt: -5.0 points (10 items lost, 0 gained), McNemar p=0.00195 < --alpha 0.05*",
        ]
    )
    # The same drop is tolerated with a stricter alpha or a larger --min-drop.
    res = bench.runpytest(
        *GATE, "--baseline", baseline(bench, range(0)), "--fail-on-regression", "--min-drop", "6"
    )
    assert res.ret == pytest.ExitCode.OK


def test_save_baseline_then_compare_without_gate(bench):
    res = bench.runpytest("--model", "random", "-m", "avt", "--save-baseline", "out/base.json")
    doc = json.loads((bench.path / "out" / "base.json").read_text(encoding="utf-8"))
    assert doc["format"] == "vsync-baseline" and len(doc["items"]) == 8 and doc["model"] == "random"
    res.stdout.fnmatch_lines(["results written to out/base.json"])
    res = bench.runpytest("--model", "random", "--baseline", "out/base.json", "-p", "no:cacheprovider")
    assert res.ret == pytest.ExitCode.OK  # a benchmark run: wrong answers are failed tests, the gates hold
    res.stdout.fnmatch_lines(
        [
            "*V-SYNC comparison with the baseline*",
            "*1*avt*8*no significant change*",
            "only in B (not paired): 16 items*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-on-regression"], "*--fail-on-regression needs --baseline*"),
        # (a baseline file that does not exist yet is the first run of a CI recipe: test_ci_recipe.py)
        (
            ["--baseline", "tests"],
            "*--baseline: */tests: a folder with neither a baseline nor a results file*",
        ),
        (["--alpha", "1.5"], "*--alpha must be between 0 and 1*"),
        (["--min-drop", "-1"], "*--min-drop*>= 0*"),
    ],
)
def test_bad_gate_options_stop_before_any_test(bench, args, message):
    res = bench.runpytest("--model", "random", *args)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines([message])


def test_fail_under_decides_the_exit_status(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(8, answers="AAAB"))
    res = bench.runpytest("--model", "constant", "-m", "avt", "--fail-under", "70")
    res.assert_outcomes(passed=6, failed=2)
    assert res.ret == pytest.ExitCode.OK
    assert res.outlines[-1].startswith("V-SYNC exit status 0: all gates hold")
    res = bench.runpytest("--model", "constant", "-m", "avt", "--fail-under", "80")
    assert res.ret == GateStatus.BELOW_THRESHOLD
    res.stdout.fnmatch_lines(["FAIL-UNDER: level 1 avt: accuracy 75.0% < --fail-under 80%"])
    assert res.outlines[-1] == "V-SYNC exit status 13: accuracy below the threshold (--fail-under)"


def test_circular_eval_of_a_model_that_always_says_a_is_zero(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(8, answers="ABCD"))
    res = bench.runpytest("--model", "constant", "-m", "avt", "--circular")
    res.assert_outcomes(failed=8)  # right once in four rotations at most: never circular-correct
    res.stdout.fnmatch_lines(["*level*accuracy*95% CI*circular*", "*1*avt*all*8*2*6*25.0%*0.0%*"])
    doc = json.loads((last_run(bench.path) / "results_constant_level1.json").read_text(encoding="utf-8"))
    assert doc["correct"] == 2  # plain accuracy (rotation 0) keeps the original meaning
    assert {r["circular_outcome"] for r in doc["results"]} == {"wrong"}
    rotations = doc["results"][0]["rotations"]
    assert [r["correct_answer"] for r in rotations] == ["A", "D", "C", "B"]
    assert [r["prediction"] for r in rotations] == ["A"] * 4
    assert rotations[1]["options"][0] == "A. the blue square"


def test_circular_rotations_are_separate_cached_requests(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(2, answers="A"))
    bench.runpytest("--model", "constant", "-m", "avt", "--circular")
    with sqlite3.connect(bench.path / ".vsync_cache" / "responses.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 2 * 4
    res = bench.runpytest("--model", "constant", "-m", "avt")  # rotation 0 is the plain request
    doc = json.loads((last_run(bench.path) / "results_constant_level1.json").read_text(encoding="utf-8"))
    assert all(r["cached"] for r in doc["results"])
    res.assert_outcomes(passed=2)


def test_rotations_move_the_answer_and_keep_rotation_zero_identical():
    item = Item(
        id=1,
        video_path="v.mp4",
        question="?",
        options=("A) red", "B) blue", "C) green"),
        correct_answer="B",
        video_file=Path("v.mp4"),
    )
    rotated = rotations(item)
    assert rotated[0] is item
    assert [r.options for r in rotated[1:]] == [
        ("A) blue", "B) green", "C) red"),
        ("A) green", "B) red", "C) blue"),
    ]
    assert [r.option_texts()[r.correct_answer] for r in rotated] == ["blue"] * 3


def test_circular_verdict_prefers_errors_then_the_first_miss():
    def result(outcome: Outcome) -> ItemResult:
        return ItemResult(None, Modality.AVT, outcome, None, Response(text="", latency_s=0.0))  # type: ignore[arg-type]

    ok, bad, err = result(Outcome.CORRECT), result(Outcome.WRONG), result(Outcome.ERROR)
    assert circular_verdict([ok, ok]) is ok
    assert circular_verdict([ok, bad, err]) is err
    assert circular_verdict([ok, bad, result(Outcome.UNPARSEABLE)]) is bad
