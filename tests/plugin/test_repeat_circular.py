"""``--repeat N --circular``: every repeat a whole CircularEval, pass@k/pass^k for every k, and a
rescore of such a run from its records alone."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from tests.plugin.test_plugin_levels import level_items
from tests.support import REPO, choice_items, last_run, report_items, write_dataset
from vsync_models.record import Record

QUIET = ("-p", "no:cacheprovider", "--tb=no", "-q")
ITEMS = 8
REPEATS = 2
ROTATIONS = 2
RUN = ("--model", "random", "-m", "avt", "--repeat", str(REPEATS), "--circular", *QUIET)


def two_option_items() -> list[dict]:
    """Two options: the random stand-in gets a whole CircularEval right one time in four, so with
    seed 0 these items hold passes, misses in a later repeat only, and misses in a rotation only."""
    items = choice_items(ITEMS, answers="A")
    for item in items:
        item["options"] = item["options"][:ROTATIONS]
    return items


def results(bench: pytest.Pytester) -> dict:
    return json.loads((last_run(bench.path) / "results_random_level1.json").read_text(encoding="utf-8"))


def cache_rows(bench: pytest.Pytester) -> int:
    with sqlite3.connect(bench.path / ".vsync_cache" / "responses.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def right(rep: dict) -> bool:
    return all(rot["outcome"] == "correct" for rot in rep["rotations"])


def curve(rows: list[list[bool]], k: int, every: bool) -> float:
    """pass^k (``every``) or pass@k of the rows, straight from the definitions."""
    n = len(rows[0])
    per_item = [
        math.comb(sum(r), k) / math.comb(n, k) if every else 1 - math.comb(n - sum(r), k) / math.comb(n, k)
        for r in rows
    ]
    return 100 * sum(per_item) / len(per_item)


def test_each_repeat_is_a_circular_eval_and_a_test_passes_only_when_all_are_right(bench):
    write_dataset(bench.path / "data" / "level_1", two_option_items())
    bench.runpytest("--model", "random", "-m", "avt", "--circular", *QUIET)  # a plain circular run first
    assert cache_rows(bench) == ITEMS * ROTATIONS

    res = bench.runpytest(*RUN)
    recs = results(bench)["results"]
    assert [len(r["repeats"]) for r in recs] == [REPEATS] * ITEMS
    assert all(len(rep["rotations"]) == ROTATIONS for r in recs for rep in r["repeats"])
    # repeat 0 is the plain circular run's requests, answered from its cache; every other is new
    assert all(rot["cached"] for r in recs for rot in r["repeats"][0]["rotations"])
    assert not any(rot["cached"] for r in recs for rep in r["repeats"][1:] for rot in rep["rotations"])
    assert cache_rows(bench) == ITEMS * REPEATS * ROTATIONS  # a separate request per (repeat, rotation)

    for r in recs:
        for rep in r["repeats"]:
            assert rep["circular_outcome"] == ("correct" if right(rep) else "wrong")
            assert rep["raw_response"] == rep["rotations"][0]["raw_response"]
        assert r["circular_outcome"] == r["repeats"][0]["circular_outcome"]  # the table: repeat 0
        assert r["repeat_outcome"] == ("correct" if all(map(right, r["repeats"])) else "wrong")
    all_right = sum(all(map(right, r["repeats"])) for r in recs)
    res.assert_outcomes(passed=all_right, failed=ITEMS - all_right)
    # the seeded draws hold each case the rule must tell apart
    assert all_right > 0
    assert any(right(r["repeats"][0]) and not right(r["repeats"][1]) for r in recs)
    assert any(
        all(rep["outcome"] == "correct" for rep in r["repeats"]) and not all(map(right, r["repeats"]))
        for r in recs
    )

    rows = [[right(rep) for rep in r["repeats"]] for r in recs]
    at = [curve(rows, k, every=False) for k in (1, 2)]
    hat = [curve(rows, k, every=True) for k in (1, 2)]
    res.stdout.fnmatch_lines(
        [
            f"level 1 avt: {REPEATS} repeats x {ITEMS} items (circular: *): accuracy {at[0]:.1f}% mean*"
            f"pass@2 {at[1]:.1f}%, pass^2 {hat[1]:.1f}%; * flaky",
            f"  pass@k 1:{at[0]:.1f} 2:{at[1]:.1f}; pass^k 1:{hat[0]:.1f} 2:{hat[1]:.1f}",
        ]
    )
    assert at[0] == hat[0]
    doc = results(bench)
    assert doc["pass_at_k"] == {"1": round(at[0], 2), "2": round(at[1], 2)}
    assert doc["pass_hat_k"] == {"1": round(hat[0], 2), "2": round(hat[1], 2)}

    again = bench.runpytest(*RUN)  # the same run again: nothing is asked
    again.assert_outcomes(passed=all_right, failed=ITEMS - all_right)
    recs = results(bench)["results"]
    assert all(rot["cached"] for r in recs for rep in r["repeats"] for rot in rep["rotations"])
    assert cache_rows(bench) == ITEMS * REPEATS * ROTATIONS


def test_rescoring_a_repeated_circular_run_from_its_records_alone_gives_the_same_result(bench):
    write_dataset(bench.path / "data" / "level_1", two_option_items())
    first = bench.runpytest(*RUN)
    before = results(bench)
    (bench.path / ".vsync_cache" / "responses.sqlite").unlink()  # the records are all there is
    res = bench.runpytest(*RUN, "--rescore", "--no-cache")
    res.stdout.fnmatch_lines(["RESCORED from 8 records*"])
    assert res.parseoutcomes() == first.parseoutcomes()
    after = results(bench)

    def decided(doc: dict) -> list:
        return [
            (
                r["id"],
                r["outcome"],
                r["circular_outcome"],
                r["repeat_outcome"],
                [
                    (rep["circular_outcome"], [rot["prediction"] for rot in rep["rotations"]])
                    for rep in r["repeats"]
                ],
            )
            for r in doc["results"]
        ]

    assert decided(after) == decided(before)
    assert (after["pass_at_k"], after["pass_hat_k"]) == (before["pass_at_k"], before["pass_hat_k"])
    repeat_lines = [
        line for line in first.outlines if line.startswith(("level 1 avt: 2 repeats", "  pass@k"))
    ]
    assert len(repeat_lines) == 2
    res.stdout.fnmatch_lines(repeat_lines)


def test_html_and_allure_show_pass_at_k_for_every_k(bench, tmp_path: Path):
    write_dataset(bench.path / "data" / "level_1", choice_items(8, answers="ABCD"))
    allure = tmp_path / "allure"
    bench.runpytest_subprocess(
        "--model", "random", "-m", "avt", "--repeat", "3", "--vsync-report", f"--alluredir={allure}"
    )
    text = (last_run(bench.path) / "random.html").read_text(encoding="utf-8")
    assert "<dt>repeats</dt><dd>  pass@k 1:" in text and " 3:" in text and "; pass^k 1:" in text
    first = results(bench)["results"][0]
    each = ", ".join(rep["outcome"] for rep in first["repeats"])
    blocks = report_items(text).values()
    assert any(f"all repeats: <b>{first['repeat_outcome']}</b> ({each})" in block for block in blocks)
    env = dict(
        line.split(" = ", 1)
        for line in (allure / "environment.properties").read_text(encoding="utf-8").splitlines()
    )
    doc = results(bench)
    assert env["pass_at_k.level1.avt"] == " ".join(f"{k}:{v:.1f}" for k, v in doc["pass_at_k"].items())
    assert env["pass_hat_k.level1.avt"] == " ".join(f"{k}:{v:.1f}" for k, v in doc["pass_hat_k"].items())
    assert list(doc["pass_at_k"]) == ["1", "2", "3"]
    item = json.loads(next(allure.glob("*-result.json")).read_text(encoding="utf-8"))
    names = {a["name"] for a in item["attachments"]}
    assert {"raw response (repeat 0)", "raw response (repeat 2)"} <= names


def test_time_items_are_asked_once_per_repeat_and_only_choices_are_rotated(bench):
    source = (REPO / "tests" / "benchmark" / "test_level2.py").read_text(encoding="utf-8")
    (bench.path / "tests" / "test_level2.py").write_text(source, encoding="utf-8")
    write_dataset(bench.path / "data" / "level_2", level_items(2))
    bench.runpytest("--model", "random", "-m", "level2 and avt", "--repeat", "2", "--circular", *QUIET)
    path = last_run(bench.path) / "results_random_level2.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    rotations = {r["id"]: [len(rep["rotations"]) for rep in r["repeats"]] for r in doc["results"]}
    assert rotations == {"l2-0": [1, 1], "l2-1": [1, 1], "l2-2": [2, 2]}  # an interval, an instant, a choice
    assert cache_rows(bench) == (1 + 1 + 2) * 2


def test_allure_attaches_every_raw_response_named_by_repeat_and_rotation():
    base = {"id": "q", "outcome": "correct"}

    def raw_responses(fields: dict) -> list[tuple[str, str]]:
        return Record.from_json(base | fields).askings()

    rot = lambda text: {"raw_response": text, "outcome": "correct"}  # noqa: E731
    assert raw_responses({"raw_response": "A"}) == [("raw response", "A")]
    assert raw_responses({"rotations": [rot("A"), rot("B")]}) == [
        ("raw response (rotation 0)", "A"),
        ("raw response (rotation 1)", "B"),
    ]
    both = {
        "repeats": [
            {"outcome": "correct", "rotations": [rot("A"), rot("B")]},
            {"outcome": "correct", "rotations": [rot("C"), rot("D")]},
        ]
    }
    assert [name for name, _ in raw_responses(both)][1:3] == [
        "raw response (repeat 0, rotation 1)",
        "raw response (repeat 1, rotation 0)",
    ]
    assert [text for _, text in raw_responses(both)] == ["A", "B", "C", "D"]
