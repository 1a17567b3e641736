"""The plugin end to end through pytester: collection, markers, outcomes, results, errors."""

from __future__ import annotations

import json

import pytest

from tests.support import choice_items, last_run, write_dataset


def results(bench: pytest.Pytester, name: str = "results_random_level1.json") -> dict:
    return json.loads((last_run(bench.path) / name).read_text(encoding="utf-8"))


def test_without_model_items_are_skipped_with_one_reason(bench):
    res = bench.runpytest("-rs")
    res.assert_outcomes(skipped=24)
    skip_lines = [line for line in res.outlines if line.startswith("SKIPPED")]
    assert len(skip_lines) == 1 and "--model NAME" in skip_lines[0]
    assert not (bench.path / "reports").exists()


def test_collect_only_lists_one_test_per_item_and_modality(bench):
    res = bench.runpytest("--collect-only", "-q", "-m", "level1 and avt", "--model", "random")
    ids = [line for line in res.outlines if "::test_item[" in line]
    assert ids == [f"tests/test_level1.py::test_item[q{i:03d}-avt]" for i in range(8)]


def test_markers_select_modality_and_task(bench):
    res = bench.runpytest("-m", "level1 and vt", "--model", "random")
    outcomes = res.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8
    assert (last_run(bench.path) / "results_random_level1_vt.json").exists()
    assert not (last_run(bench.path) / "results_random_level1.json").exists()
    res = bench.runpytest("--collect-only", "-q", "-m", "who_said and at", "--model", "random")
    assert sum("::test_item[" in line for line in res.outlines) == 8


def test_random_run_writes_results_and_summary_consistent_with_outcomes(bench):
    res = bench.runpytest("--model", "random", "-m", "avt")
    outcomes = res.parseoutcomes()
    doc = results(bench)
    assert doc["total"] == 8 and doc["correct"] == outcomes.get("passed", 0)
    assert doc["accuracy"] == pytest.approx(100 * doc["correct"] / 8, abs=0.01)
    assert [r["id"] for r in doc["results"]] == [f"q{i:03d}" for i in range(8)]
    assert {r["modality"] for r in doc["results"]} == {"avt"}
    res.stdout.fnmatch_lines(
        ["*V-SYNC results: random*", "*1*avt*all*8*", "results written to *results_random_level1.json"]
    )


def test_constant_model_and_fail_under(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(8, answers="A"))
    res = bench.runpytest("--model", "constant", "-m", "avt", "--fail-under", "90")
    res.assert_outcomes(passed=8)
    assert res.ret == 0
    write_dataset(bench.path / "data" / "level_1", choice_items(8, answers="AB"))
    res = bench.runpytest("--model", "constant", "-m", "avt", "--fail-under", "60")
    res.stdout.fnmatch_lines(["*FAIL-UNDER: level 1 avt: accuracy 50.0% < --fail-under 60%*"])
    assert res.ret == 13  # the --fail-under gate's own status (vsync_models.report.gates.GateStatus)


def test_failure_message_shows_the_exchange(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(1, answers="B"))
    res = bench.runpytest("--model", "constant", "-m", "avt", "-rf")  # -rf: each wrong answer in full
    res.assert_outcomes(failed=1)
    res.stdout.fnmatch_lines(
        [
            "*wrong: item 'q000' [[]avt[]]*",
            "*question: Which character said sentence 0?*",
            "*expected: B*",
            "*extracted: A (rule: *",
            "*raw response: 'A'*",
        ]
    )


def test_xdist_run_merges_results_from_workers(bench):
    res = bench.runpytest_subprocess("--model", "random", "-n", "2", "-p", "xdist")
    outcomes = res.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 24
    for name in (
        "results_random_level1.json",
        "results_random_level1_vt.json",
        "results_random_level1_at.json",
    ):
        doc = results(bench, name)
        assert [r["id"] for r in doc["results"]] == [f"q{i:03d}" for i in range(8)]
    single = bench.runpytest("--model", "random", "--no-cache")
    assert single.parseoutcomes().get("passed", 0) == outcomes.get("passed", 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "*unknown model 'nope'; known models: *random*"),
        (["--model", "random", "--modality", "smell"], "*unknown modality 'smell'*"),
        (["--model", "random", "--no-cache", "--refresh"], "*contradict*"),
        (["--model", "random", "--dataset", "missing.json"], "*dataset file not found*"),
    ],
)
def test_bad_invocations_give_one_message_and_no_traceback(bench, args, message):
    res = bench.runpytest(*args)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines([message])
    assert "Traceback" not in res.stdout.str() + res.stderr.str()


def test_invalid_dataset_lists_every_problem(bench):
    items = choice_items(3)
    items[0]["correct_answer"] = "Z"
    del items[2]["question"]
    write_dataset(bench.path / "data" / "level_1", items)
    res = bench.runpytest("--model", "random")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(
        [
            "*dataset has 2 problems:*",
            "*item 0 (id='q000'): correct_answer 'Z'*",
            "*item 2 (id='q002'): missing field 'question'*",
        ]
    )


def test_pytest_options_k_x_lf_junitxml_work(bench):
    res = bench.runpytest("--model", "random", "-k", "q001 and avt")
    assert sum(res.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 1
    res = bench.runpytest("--model", "constant", "-x")
    res.assert_outcomes(failed=1, passed=res.parseoutcomes().get("passed", 0))
    res = bench.runpytest("--model", "constant", "--lf", "-m", "avt")
    assert "failed" in res.parseoutcomes() and "passed" not in res.parseoutcomes()
    res = bench.runpytest("--model", "random", "-m", "avt", "--junitxml", "junit.xml")
    xml = (bench.path / "junit.xml").read_text(encoding="utf-8")
    assert xml.count("<testcase ") == 8 and xml.count('<property name="outcome" ') == 8
    assert '"raw_response"' not in xml  # readable properties, no serialised record


def test_benchmark_run_does_not_collect_the_projects_own_tests(bench):
    unit = bench.mkdir("tests/unit")
    (unit / "test_needs_dev_extras.py").write_text("import a_dev_only_module\n", encoding="utf-8")
    res = bench.runpytest("--model", "random", "-m", "avt")
    assert (
        res.ret == pytest.ExitCode.OK
    )  # wrong answers do not fail a benchmark run; nothing failed to collect
    assert "a_dev_only_module" not in res.stdout.str()
    res = bench.runpytest()
    res.stdout.fnmatch_lines(["*ModuleNotFoundError*a_dev_only_module*"])


def test_the_model_is_closed_after_its_last_answer(bench, monkeypatch):
    import vsync_pytest.session as session
    from vsync_models.models.baselines import ConstantModel

    log = bench.path / "model.log"

    class Closing(ConstantModel):
        def generate(self, request):
            with log.open("a") as f:
                f.write("answer\n")
            return super().generate(request)

        def close(self):
            with log.open("a") as f:
                f.write("close\n")

    monkeypatch.setattr(session, "build_model", lambda name, cfg, **_: Closing())
    res = bench.runpytest("--model", "constant", "-m", "avt", "--no-cache", "-q")
    res.assert_outcomes(passed=2, failed=6)
    assert log.read_text().splitlines() == ["answer"] * 8 + ["close"]
