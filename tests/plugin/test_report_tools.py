"""Reports as the tools read them: Allure history ids, statuses and durations; JUnit properties read by
junitparser; the tidy table read by pandas and written to Parquet."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from junitparser import JUnitXml, Properties

from tests.plugin.test_plugin_openai import start_scripted
from tests.support import choice_items, last_run


@pytest.fixture(scope="module", autouse=True)
def parquet_loaded_once():
    """Load pandas' Parquet support before any pytester run: pytester drops the modules a test
    imported, and pandas, imported again, would register its Arrow types a second time (an
    ArrowKeyError in whichever later test writes Parquet)."""
    pd.DataFrame({"a": [1]}).to_parquet(io.BytesIO())


def allure_results(directory) -> dict[str, dict]:
    return {
        r["name"]: r
        for r in (json.loads(p.read_text(encoding="utf-8")) for p in directory.glob("*-result.json"))
    }


def test_changed_answers_keep_every_allure_history_id(bench):
    config = bench.path / "config"
    config.mkdir()
    ids = []
    for answer in "AB":  # the same model, items and tests; different answers
        (config / "config.yaml").write_text(f"models: {{constant: {{answer: {answer}}}}}\n", encoding="utf-8")
        bench.runpytest("--model", "constant", "--alluredir", f"allure-{answer}", "--no-cache")
        found = allure_results(bench.path / f"allure-{answer}")
        assert len(found) == 24
        ids.append(found)
    first, second = ids
    changed = [name for name in first if first[name]["status"] != second[name]["status"]]
    assert len(changed) == 12  # answers A and B: every B item and every A item changed its verdict
    assert {name: r["historyId"] for name, r in first.items()} == {
        name: r["historyId"] for name, r in second.items()
    }
    assert len({r["historyId"] for r in first.values()}) == 24  # and each test keeps its own


def test_failing_endpoint_items_are_broken_durations_are_the_calls_and_tables_agree(
    bench, httpserver, monkeypatch, warm_openai_sdk, tmp_path
):
    scripted = start_scripted(bench, httpserver, monkeypatch, choice_items(6, answers="AAB"))
    scripted.script = {"q001": 503, "q003": "no idea"}
    scripted.delay_s = 0.05
    res = bench.runpytest(
        "--model", "openai:scripted", "-m", "at", "--alluredir", "allure", "--junitxml", "junit.xml"
    )
    res.assert_outcomes(passed=2, failed=3, errors=1)
    reports = last_run(bench.path)
    records = {
        r["id"]: r
        for r in map(json.loads, (reports / "results_openai_scripted_level1_at.records.jsonl").open())
    }

    # Allure: the endpoint's failure is broken, not a failed answer; the duration is the model call's
    found = allure_results(bench.path / "allure")
    statuses = {name: r["status"] for name, r in found.items()}
    assert statuses == {
        "test_item[q000-at]": "passed",
        "test_item[q001-at]": "broken",
        "test_item[q002-at]": "failed",
        "test_item[q003-at]": "failed",
        "test_item[q004-at]": "passed",
        "test_item[q005-at]": "failed",
    }
    assert "model could not answer q001-at" in found["test_item[q001-at]"]["statusDetails"]["message"]
    for i in (0, 2, 3):
        r = found[f"test_item[q00{i}-at]"]
        latency = records[f"q00{i}"]["latency_s"]
        assert latency >= 0.05 and r["stop"] - r["start"] == round(1000 * latency)

    # JUnit: the error's kind, the unparseable answer's empty extraction
    (suite,) = JUnitXml.fromfile(str(bench.path / "junit.xml"))
    props = {c.name: {p.name: p.value for p in c.child(Properties)} for c in suite}
    assert props["test_item[q001-at]"]["outcome"] == "error"
    assert props["test_item[q001-at]"]["error_kind"] == "server_error"
    assert (props["test_item[q003-at]"]["outcome"], props["test_item[q003-at]"]["extracted"]) == (
        "unparseable",
        "",
    )
    suite_props = {p.name: p.value for p in suite.properties()}
    assert suite_props["accuracy.level1.at"].startswith("40.0% [95% CI ")  # 2 of 5 answered

    # the tidy table: one line to load, Parquet as loaded, and the file's own accuracy
    df = pd.read_json(reports / "results_openai_scripted_level1_at.items.jsonl", lines=True)
    assert len(df) == 6 and df.loc[df.id == "q001", "is_correct"].isna().all()
    df.to_parquet(tmp_path / "items.parquet")
    back = pd.read_parquet(tmp_path / "items.parquet")
    assert list(back.columns) == list(df.columns) and len(back) == 6
    doc = json.loads((reports / "results_openai_scripted_level1_at.json").read_text(encoding="utf-8"))
    accuracy = df.groupby(["level", "modality"]).is_correct.mean()
    assert round(100 * accuracy[(1, "at")], 2) == doc["accuracy"] == 40.0
    # the terminal table: n, correct, wrong, unparseable, errors, accuracy
    res.stdout.re_match_lines([r"\s*1\s+at\s+all\s+6\s+2\s+2\s+1\s+1\s+40\.0%\s.*"])
