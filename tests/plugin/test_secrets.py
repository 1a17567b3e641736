"""Secrets never leave the process: a whole run with a sentinel key, then every byte it wrote
(HTML and Allure reports, JUnit XML, results, cache rows and keys, the server's request log,
the terminal with its assertion and error messages) is searched for the key."""

from __future__ import annotations

import sqlite3

from tests.support import choice_items, last_run, write_dataset
from vsync_models.standin import FaultPlan, StandIn

SENTINEL = "sk-SENTINEL-7a3f9e1b2c4d"


def test_a_sentinel_key_appears_in_no_output_of_a_run(bench, monkeypatch, warm_openai_sdk):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text(
        "runtime: {max_retries: 1, retry_base_sec: 0.01}\n", encoding="utf-8"
    )
    write_dataset(bench.path / "data" / "level_1", choice_items(6))
    # the first item is refused with the key echoed back; the second needs a retry; wrong answers fail
    plan = FaultPlan(script=["401", "500"])
    with StandIn(plan, log_path=bench.path / "standin.jsonl") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        res = bench.runpytest(
            "--model", "openai:standin", "-m", "at", "-rA", "-vv", "--tb=long", "--vsync-report",
            "--alluredir", "allure-results", "--junitxml", "junit.xml", "--save-baseline", "baseline.json",
            "--min-coverage", "0",  # one item of six is an error by design: still save the baseline
        )  # fmt: skip
    outcomes = res.parseoutcomes()
    assert outcomes["errors"] == 1 and outcomes.get("passed", 0) + outcomes.get("failed", 0) == 5
    res.stdout.fnmatch_lines(
        ["*API key rejected*HTTP 401; check OPENAI_API_KEY*incorrect API key provided: [*][*][*]*"]
    )

    totals = "1 retries over 1 calls; errors: 1 (auth 1)"
    res.stdout.fnmatch_lines([f"*reliability: 6 answers (0 from cache), {totals}*"])
    assert totals in (last_run(bench.path) / "openai_standin.html").read_text("utf-8"), "the HTML report too"
    output = res.stdout.str() + res.stderr.str()
    assert SENTINEL not in output
    files = [p for p in bench.path.rglob("*") if p.is_file() and p.suffix not in (".py", ".yaml")]
    assert {"junit.xml", "baseline.json", "openai_standin.html", "standin.jsonl", "responses.sqlite"} <= {
        p.name for p in files
    }
    assert any(p.parent.name == "allure-results" for p in files)
    leaks = [str(p.relative_to(bench.path)) for p in files if SENTINEL.encode() in p.read_bytes()]
    assert leaks == []
    db = sqlite3.connect(bench.path / ".vsync_cache" / "responses.sqlite")
    rows = db.execute("SELECT * FROM responses").fetchall()
    assert len(rows) == 5 and not any(SENTINEL in str(value) for row in rows for value in row)
