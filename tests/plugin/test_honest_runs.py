"""Whole benchmark runs: exit statuses decided by the gates, coverage of partial runs, the error
budget, --rescore without any request reaching the model, and --repeat."""

from __future__ import annotations

import json
import pathlib
import sqlite3

import pytest

from tests.plugin.test_plugin_openai import start_scripted
from tests.support import choice_items, last_run, write_dataset
from vsync_models.report.gates import GateStatus
from vsync_models.scoring import answers
from vsync_models.types import Answer

QUIET = ("-p", "no:cacheprovider", "--tb=no", "-q")

SKIP_HALF = """
import pytest


def pytest_runtest_setup(item):
    # items lost after collection: they were counted, they never ran
    if item.nodeid.endswith(("q001-avt]", "q003-avt]", "q005-avt]", "q007-avt]")):
        pytest.skip("lost after collection")
"""


def results(bench: pytest.Pytester, name: str = "results_constant_level1.json") -> dict:
    return json.loads((last_run(bench.path) / name).read_text(encoding="utf-8"))


def test_wrong_answers_with_all_gates_holding_exit_zero(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(8, answers="AAAB"))
    res = bench.runpytest("--model", "constant", "-m", "avt", "--fail-under", "70", *QUIET)
    res.assert_outcomes(passed=6, failed=2)
    assert res.ret == pytest.ExitCode.OK
    res.stdout.fnmatch_lines(
        [
            "coverage: the denominator is fixed when the tests are collected",
            "*collected*answered*accuracy*coverage*errors*unparseable*skipped*never ran*",
            "*1*avt*all*8*8*75.0%*100.0%*0*0*0*0*",
        ]
    )
    assert res.outlines[-1].startswith("V-SYNC exit status 0: all gates hold")
    # --strict-items: plain pytest, every wrong answer fails the run
    res = bench.runpytest("--model", "constant", "-m", "avt", "--strict-items", *QUIET)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    assert "every wrong answer fails the run" in res.outlines[-1]


def test_a_partial_run_shows_its_coverage_and_the_gate_refuses_it(bench):
    bench.makeconftest(SKIP_HALF)
    base = bench.runpytest("--model", "constant", "-m", "avt", "--save-baseline", "base.json", *QUIET)
    base.stdout.fnmatch_lines(["baseline not saved: this run is partial*"])
    assert not (bench.path / "base.json").exists()  # a partial run never becomes a baseline
    bench.runpytest("--model", "constant", "-m", "avt", "--save-baseline", "base.json", "--min-coverage", "0")
    res = bench.runpytest(
        "--model", "constant", "-m", "avt", "--baseline", "base.json", "--fail-on-regression", *QUIET
    )
    for run in (base, res):
        run.assert_outcomes(passed=2, failed=2, skipped=4)
        assert run.ret == GateStatus.LOW_COVERAGE
    res.stdout.fnmatch_lines(
        [
            "*1*avt*all*8*4*50.0%*50.0%*0*0*4*0*",
            "*comparison refused: coverage is below --min-coverage*",
            "COVERAGE: level 1 avt: 4 of 8 collected items answered (50.0% < --min-coverage 98.0%; "
            "0 errors, 4 skipped, 0 never ran): the run is partial",
            "regression gate refused: coverage is below --min-coverage*",
        ]
    )
    assert res.outlines[-1] == (
        "V-SYNC exit status 11: too little of the collected suite answered (--min-coverage)"
    )
    # Told that half a suite is enough, the same run passes.
    res = bench.runpytest("--model", "constant", "-m", "avt", "--min-coverage", "0.5", *QUIET)
    assert res.ret == pytest.ExitCode.OK
    doc = results(bench)
    assert (doc["accuracy"], doc["total"], doc["collected"], doc["answered"]) == (50.0, 4, 8, 4)
    assert (doc["coverage"], doc["skipped"], doc["never_ran"], doc["errors"]) == (50.0, 4, 0, 0)


def test_coverage_is_counted_from_what_xdist_workers_collected(bench):
    bench.makeconftest(SKIP_HALF)
    res = bench.runpytest("--model", "constant", "-m", "avt", "-n", "2", *QUIET)
    res.assert_outcomes(passed=2, failed=2, skipped=4)
    assert res.ret == GateStatus.LOW_COVERAGE
    res.stdout.fnmatch_lines(["*1*avt*all*8*4*50.0%*50.0%*0*0*4*0*"])


def test_an_interrupted_run_shows_the_items_that_never_ran(bench, monkeypatch):
    import vsync_pytest.session as session
    from vsync_models.models.baselines import ConstantModel

    class Interrupting(ConstantModel):
        def generate(self, request):
            if request.item_id == "q003":
                raise KeyboardInterrupt
            return super().generate(request)

    monkeypatch.setattr(session, "build_model", lambda name, cfg, **_: Interrupting())
    res = bench.runpytest("--model", "constant", "-m", "avt", "--no-cache", *QUIET, no_reraise_ctrlc=True)
    assert res.ret == pytest.ExitCode.INTERRUPTED  # an interrupt keeps pytest's status
    res.stdout.fnmatch_lines(
        ["*1*avt*all*8*3*33.3%*37.5%*0*0*0*5*", "COVERAGE: level 1 avt: 3 of 8*5 never ran*"]
    )


@pytest.fixture
def scripted(bench, httpserver, monkeypatch, warm_openai_sdk):
    return start_scripted(bench, httpserver, monkeypatch, choice_items(8, answers="AB"))


def test_errors_over_budget_fail_the_run_with_the_accuracy_still_printed(bench, scripted):
    scripted.script = {"q002": 500, "q005": "B"}
    res = bench.runpytest("--model", "openai:scripted", "-m", "at", *QUIET)
    res.assert_outcomes(passed=4, failed=3, errors=1)
    assert res.ret == GateStatus.ERROR_BUDGET
    res.stdout.fnmatch_lines(
        [
            "*1*at*all*8*4*3*0*1*57.1%*",  # the accuracy table, over the 7 answered items
            "INFRA: 1 of 8 collected items ended in infrastructure errors (12.5% > --max-error-rate 2.0%)*",
        ]
    )
    assert res.outlines[-1] == (
        "V-SYNC exit status 10: infrastructure errors over the budget (--max-error-rate)"
    )
    # Within a larger budget (and coverage allowed to drop with it) the same run passes: the error
    # is still shown, never scored.
    res = bench.runpytest(
        "--model", "openai:scripted", "-m", "at", "--max-error-rate", "0.2", "--min-coverage", "0.8", *QUIET
    )
    assert res.ret == pytest.ExitCode.OK


def test_rescore_applies_a_fixed_extractor_without_asking_the_model(bench, scripted, monkeypatch):
    scripted.script = {f"q{i:03d}": "I pick option two." for i in range(8)}
    res = bench.runpytest("--model", "openai:scripted", "-m", "at", *QUIET)
    res.assert_outcomes(failed=8)  # "option two" is no rule's answer: all unparseable
    records_file = last_run(bench.path) / "results_openai_scripted_level1_at.records.jsonl"
    lines = [json.loads(x) for x in records_file.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 8
    first = lines[0]
    assert (
        first["model"] == "openai:scripted"
        and first["decoding"]["max_tokens"] == first["fingerprint"]["max_tokens"]
    )
    assert first["raw_response"] == "I pick option two." and first["outcome"] == "unparseable"
    assert len(first["prompt_sha256"]) == 64 and len(first["media_sha256"]) == 64
    assert first["usage"] == {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
    assert "latency_s" in first
    requests_so_far = len(scripted.server.log)
    assert requests_so_far > 8  # the reachability check and one request per item reached it

    def ordinal(ctx):  # the "fixed" extractor: a new rule for spelled-out option numbers
        return Answer("B", "ordinal") if "option two" in ctx.body.lower() else None

    monkeypatch.setattr(answers, "_RULES", (ordinal, *answers._RULES))
    res = bench.runpytest("--model", "openai:scripted", "-m", "at", "--rescore", "--no-cache", *QUIET)
    res.assert_outcomes(passed=4, failed=4)  # B is right on every second item
    assert len(scripted.server.log) == requests_so_far  # not even the reachability check
    res.stdout.fnmatch_lines(
        ["RESCORED from 8 records (recorded responses; no model was called): reports/*.records.jsonl"]
    )
    doc = results(bench, "results_openai_scripted_level1_at.json")
    (source,) = doc["rescored_from"]
    first_run, rescored_run = pathlib.PurePath(source).parent.name, last_run(bench.path).name
    assert doc["accuracy"] == 50.0 and source == (
        f"reports/openai_scripted/{first_run}/results_openai_scripted_level1_at.records.jsonl"
    )
    assert first_run != rescored_run  # the rescore wrote a run folder of its own
    assert {r["extraction_rule"] for r in doc["results"]} == {"ordinal"}
    # The rescored run's own records keep the recorded responses: rescoring again is stable.
    res = bench.runpytest("--model", "openai:scripted", "-m", "at", "--rescore", *QUIET)
    res.assert_outcomes(passed=4, failed=4)
    assert len(scripted.server.log) == requests_so_far


def test_rescore_without_records_stops_before_any_test(bench):
    res = bench.runpytest("--model", "constant", "--rescore")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--rescore: no records of model 'constant'*run it once first*"])


def test_repeats_with_a_random_model_report_spread_pass_k_and_flaky_items(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(12, answers="ABCD"))
    res = bench.runpytest("--model", "random", "-m", "avt", "--repeat", "4", *QUIET)
    doc = results(bench, "results_random_level1.json")
    recs = doc["results"]
    assert all(len(r["repeats"]) == 4 for r in recs)
    flaky = [f"{r['id']}-avt" for r in recs if len({x["prediction"] for x in r["repeats"]}) > 1]
    assert flaky and all(r["flaky"] == (f"{r['id']}-avt" in flaky) for r in recs)
    all_right = sum(all(x["outcome"] == "correct" for x in r["repeats"]) for r in recs)
    any_right = sum(any(x["outcome"] == "correct" for x in r["repeats"]) for r in recs)
    assert all_right <= any_right
    res.assert_outcomes(passed=all_right, failed=12 - all_right)  # a test passes when every repeat is right
    res.stdout.fnmatch_lines(
        [
            f"level 1 avt: 4 repeats x 12 items: accuracy *% mean, sd *; "
            f"pass@4 {100 * any_right / 12:.1f}%, pass^4 {100 * all_right / 12:.1f}%; {len(flaky)} flaky",
            "  flaky (answers differ between repeats): " + ", ".join(flaky),
        ]
    )
    with sqlite3.connect(bench.path / ".vsync_cache" / "responses.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 12 * 4  # separate requests
    # repeat 0 is the plain request: a plain run afterwards is answered from the cache
    bench.runpytest("--model", "random", "-m", "avt", *QUIET)
    assert all(r["cached"] for r in results(bench, "results_random_level1.json")["results"])


def test_repeats_of_a_deterministic_model_warn(bench):
    res = bench.runpytest("--model", "constant", "-m", "avt", "--repeat", "2", *QUIET)
    res.stdout.fnmatch_lines(["warning: --repeat 2: this model is deterministic*", "*0 flaky"])


def test_repeat_options_are_checked(bench):
    for args, message in (
        (["--repeat", "0"], "*--repeat must be at least 1*"),
        (["--min-coverage", "98"], "*--min-coverage is a fraction between 0 and 1*"),
    ):
        res = bench.runpytest("--model", "random", *args)
        assert res.ret == pytest.ExitCode.USAGE_ERROR
        res.stderr.fnmatch_lines([message])


def test_html_report_shows_coverage_gates_repeats_and_flaky_items(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(12, answers="ABCD"))
    bench.runpytest_subprocess("--model", "random", "-m", "avt", "--repeat", "3", "--vsync-report")
    text = (last_run(bench.path) / "random.html").read_text(encoding="utf-8")
    coverage = text.split("<table id='vsync-coverage'", 1)[1].split("</table>", 1)[0]
    cells = "<td>1</td><td class='t'>avt</td><td class='t'>all</td><td>12</td><td>12</td><td>100.0%</td>"
    assert cells in coverage and "<dt>coverage" not in text  # a table now, not 9 lines of facts
    assert "<dt>gates</dt><dd>all hold</dd>" in text
    assert "<dt>repeats</dt><dd>level 1 avt: 3 repeats x 12 items: accuracy " in text
    assert "pass@3 " in text and "pass^3 " in text
    assert "<dt>repeats</dt><dd>  flaky (answers differ between repeats): q0" in text


def test_a_worker_killed_midway_leaves_an_error_and_the_run_is_refused(bench):
    bench.makeconftest(
        "import os\n\n\n"
        "def pytest_runtest_setup(item):\n"
        '    if item.nodeid.endswith("q003-avt]"):\n'
        "        os._exit(1)  # the worker process dies mid-item\n"
    )
    args = ("--model", "constant", "-m", "avt", "-n", "2", *QUIET)
    res = bench.runpytest(*args)
    assert res.ret == GateStatus.ERROR_BUDGET  # the lost item is the infrastructure's, never a wrong answer
    res.stdout.fnmatch_lines(["*1*avt*all*8*7*28.6%*87.5%*1*0*0*0*", "INFRA: 1 of 8 collected items*"])
    res = bench.runpytest(*args, "--max-error-rate", "0.2")
    assert res.ret == GateStatus.LOW_COVERAGE
    res.stdout.fnmatch_lines(["COVERAGE: level 1 avt: 7 of 8 collected items answered (87.5%*"])


def test_rescore_finds_what_the_records_lack_in_the_cache_and_never_guesses(bench, scripted):
    scripted.script = {f"q{i:03d}": "B" for i in range(8)}
    bench.runpytest("--model", "openai:scripted", "-m", "at", *QUIET)
    records_file = last_run(bench.path) / "results_openai_scripted_level1_at.records.jsonl"
    kept = records_file.read_text(encoding="utf-8").splitlines()[:4]  # half the records lost
    records_file.write_text("\n".join(kept) + "\n", encoding="utf-8")
    asked = len(scripted.server.log)
    res = bench.runpytest("--model", "openai:scripted", "-m", "at", "--rescore", *QUIET)
    res.assert_outcomes(passed=4, failed=4)  # the other four answered from the cache
    # that rescore is now the model's latest run, with all eight records: lose half of them again
    records_file = last_run(bench.path) / "results_openai_scripted_level1_at.records.jsonl"
    records_file.write_text("\n".join(kept) + "\n", encoding="utf-8")
    res = bench.runpytest("--model", "openai:scripted", "-m", "at", "--rescore", "--no-cache", *QUIET)
    res.assert_outcomes(passed=2, failed=2, errors=4)  # found nowhere: errors, not answers
    assert res.ret == GateStatus.ERROR_BUDGET
    errors = [
        r["error"] for r in results(bench, "results_openai_scripted_level1_at.json")["results"] if r["error"]
    ]
    assert errors == [f"ModelError: no recorded response for item 'q00{i}' [at]" for i in range(4, 8)]
    assert len(scripted.server.log) == asked


def test_collect_only_is_not_a_partial_run(bench):
    res = bench.runpytest("--collect-only", "-q", "--model", "random")
    assert res.ret == pytest.ExitCode.OK
    assert "coverage" not in res.stdout.str() and "V-SYNC exit status" not in res.stdout.str()


def test_a_partial_results_file_is_refused_as_a_baseline(bench):
    bench.makeconftest(SKIP_HALF)
    bench.runpytest("--model", "constant", "-m", "avt", *QUIET)  # results file: coverage 50 %
    partial = last_run(bench.path) / "results_constant_level1.json"
    (bench.path / "partial.json").write_bytes(partial.read_bytes())
    bench.makeconftest("")  # the installed plugin alone
    args = ("--model", "constant", "-m", "avt", "--baseline", "partial.json", *QUIET)
    res = bench.runpytest(*args, "--fail-on-regression")
    assert res.ret == GateStatus.LOW_COVERAGE
    res.stdout.fnmatch_lines(
        [
            "comparison refused: the baseline answered 50.0% of its collected items (< --min-coverage 98.0%)",
            "COVERAGE: the baseline answered 50.0% of its collected items*no regression gate against a partial run",
        ]
    )
    res = bench.runpytest(*args)  # without the regression gate: shown, refused, not failed
    assert res.ret == pytest.ExitCode.OK
    res.stdout.fnmatch_lines(["comparison refused: the baseline answered 50.0%*"])
    from vsync_models.__main__ import main

    full = last_run(bench.path) / "results_constant_level1.json"
    assert main(["compare", str(bench.path / "partial.json"), str(full)]) == GateStatus.LOW_COVERAGE
    assert main(["compare", str(full), str(full)]) == 0
