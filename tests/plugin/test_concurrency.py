"""Four xdist workers, concurrent requests and retries against one stand-in, one cache, one
results file: every item answered exactly once, stored exactly once, reported exactly once."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from tests.support import choice_items, last_run, write_dataset
from vsync_models.standin import FaultPlan, StandIn

N_ITEMS = 24


def test_four_workers_lose_and_duplicate_nothing(bench, monkeypatch, warm_openai_sdk):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-concurrency")
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text(
        "runtime: {max_retries: 8, retry_base_sec: 0.01, retry_cap_sec: 0.05}\n", encoding="utf-8"
    )
    write_dataset(bench.path / "data" / "level_1", choice_items(N_ITEMS))
    questions = {item["question"]: item["id"] for item in choice_items(N_ITEMS)}
    # Each worker keeps 4 requests in flight; xdist's load scheduler (no work stealing, so no item
    # is asked by two workers) keeps "asked exactly once" exact.
    args = ["--model", "openai:standin", "-m", "at", "-n", "4", "--concurrency", "16", "--dist", "load"]

    def results():  # of the last run: each run writes a folder of its own
        return last_run(bench.path) / "results_openai_standin_level1_at.json"

    with StandIn(FaultPlan(rates={"500": 0.2, "reset": 0.05, "429": 0.05}, seed=3)) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        res = bench.runpytest(*args)
        first = server.entries
        assert res.parseoutcomes().get("errors", 0) == 0
        res.stdout.fnmatch_lines(
            ["*reliability: 24 answers (0 from cache), * retries over * calls; errors: 0*"]
        )
        retries = sum(r["retries"] for r in json.loads(results().read_text("utf-8"))["results"])
        rerun = bench.runpytest(*args)
        assert server.entries == first, "the rerun was answered from the cache alone"
    answered = Counter(questions[e["question"]] for e in first if e["fault"] == "ok")
    assert answered == Counter(questions.values()), "each item answered by the server exactly once"
    faults = sum(e["fault"] != "ok" for e in first)
    assert faults > 0 and retries == faults, "every injected fault was retried once, and counted"

    db = sqlite3.connect(bench.path / ".vsync_cache" / "responses.sqlite")
    rows = db.execute("SELECT item_id, COUNT(*) FROM responses GROUP BY item_id").fetchall()
    assert dict(rows) == dict.fromkeys(questions.values(), 1)
    doc = json.loads(results().read_text("utf-8"))
    assert sorted(r["id"] for r in doc["results"]) == sorted(questions.values())
    assert all(r["cached"] for r in doc["results"])
    for outcome in ("passed", "failed"):
        assert rerun.parseoutcomes().get(outcome, 0) == res.parseoutcomes().get(outcome, 0)
