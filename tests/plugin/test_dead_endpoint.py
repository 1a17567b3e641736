"""A dead OpenAI-compatible endpoint stops the run after a run-wide number of refused connections.

The stand-in (its own process) SIGKILLs itself at a request count; after that every connection is
refused. Two xdist workers spend one budget (``runtime.max_refused_connections``), so the run
retries a handful of times in all, not ``max_retries`` per remaining item, then stops as for a
dead server.
"""

from __future__ import annotations

import json

from tests.support import choice_items, last_run, write_dataset
from vsync_models.standin import spawn

N_ITEMS = 24
BUDGET = 3


def test_a_dead_endpoint_costs_the_run_one_budget_of_retries_then_stops_it(bench, monkeypatch):
    write_dataset(bench.path / "data" / "level_1", choice_items(N_ITEMS))
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text(
        "runtime: {max_retries: 5, retry_base_sec: 0.01, retry_cap_sec: 0.01, "
        f"max_refused_connections: {BUDGET}}}\n",
        encoding="utf-8",
    )
    server = spawn(bench.path / "standins", "--port", "0", "--kill-after", "5")
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        result = bench.runpytest_subprocess(
            "--model", "openai:standin", "-m", "at", "-p", "no:cacheprovider", "-n", "2",
            "--concurrency", "2",
        )  # fmt: skip
    finally:
        server.stop()
    text = result.stdout.str()
    assert "max_refused_connections" in text and "the remaining items were not run" in text, text
    doc = json.loads((last_run(bench.path) / "results_openai_standin_level1_at.json").read_text("utf-8"))
    # what the workers sent after the kill: the budget, plus at most one refusal per request in
    # flight when it ran out (2 workers x concurrency 2), never max_retries per remaining item
    assert doc["retries"] <= BUDGET + 4, doc["retries"]
    assert len(doc["results"]) < N_ITEMS, "the run stopped before the end"
