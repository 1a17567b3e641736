"""The plugin against a scripted OpenAI-compatible server on 127.0.0.1: errors are not failures,
unparseable answers are their own outcome, and the cache resumes a run without asking again."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from werkzeug import Request, Response

from tests.support import choice_items, last_run, write_dataset


class ScriptedServer:
    """Answers each question with the scripted text for its item; HTTP 500 where the script says so."""

    def __init__(self, httpserver) -> None:
        self.server = httpserver
        self.script: dict[str, str | int] = {}
        self.asked: list[str] = []
        self.delay_s = 0.0
        httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self.handle)
        httpserver.expect_request("/v1/models").respond_with_json({"data": []})

    def handle(self, request: Request) -> Response:
        text = request.get_json()["messages"][-1]["content"][0]["text"]
        n = int(re.search(r"said sentence (\d+)\?", text).group(1))
        item = f"q{n:03d}"
        time.sleep(self.delay_s)
        self.asked.append(item)
        reply = self.script.get(item, "A")
        if isinstance(reply, int):
            return Response(
                json.dumps({"error": {"message": "scripted failure"}}),
                status=reply,
                content_type="application/json",
            )
        body = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "scripted",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
        }
        return Response(json.dumps(body), content_type="application/json")

    @property
    def url(self) -> str:
        return self.server.url_for("/v1")


def start_scripted(bench, httpserver, monkeypatch, items: list[dict]) -> ScriptedServer:
    """A scripted OpenAI endpoint for an in-process run over ``items``: a key set, retries off."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text("runtime: {max_retries: 0}\n", encoding="utf-8")
    write_dataset(bench.path / "data" / "level_1", items)
    server = ScriptedServer(httpserver)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    return server


@pytest.fixture
def scripted(bench, httpserver, monkeypatch, warm_openai_sdk):
    return start_scripted(bench, httpserver, monkeypatch, choice_items(6, answers="A"))


def run(bench, *args):
    return bench.runpytest("--model", "openai:scripted", "-m", "at", *args)


def report(bench) -> dict:
    return json.loads((last_run(bench.path) / "results_openai_scripted_level1_at.json").read_text("utf-8"))


def test_errors_are_errors_and_unparseable_is_its_own_outcome(bench, scripted):
    scripted.script = {"q001": "B", "q002": "I cannot tell from this clip.", "q003": 500, "q004": "**A**"}
    res = run(bench, "-rf")  # -rf: each wrong answer in full
    res.assert_outcomes(passed=3, failed=2, errors=1)
    res.stdout.fnmatch_lines(["*unparseable: item 'q002' [[]at[]]*", "*extracted: nothing (refusal)*"])
    res.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_item[[]q003-at[]]*",
            "*model could not answer q003-at: ModelRequestError*500*",
        ]
    )
    doc = report(bench)
    assert (doc["correct"], doc["total"], doc["errors"], doc["unparseable"]) == (3, 5, 1, 1)
    assert doc["accuracy"] == 60.0
    by_id = {r["id"]: r for r in doc["results"]}
    assert by_id["q002"]["prediction"] is None and by_id["q002"]["outcome"] == "unparseable"
    assert by_id["q003"]["outcome"] == "error" and "500" in by_id["q003"]["error"]
    assert by_id["q004"]["prediction"] == "A" and by_id["q004"]["usage"]["total_tokens"] == 11


def test_rerun_answers_from_cache_and_asks_only_for_errored_items(bench, scripted):
    scripted.script = {"q003": 503}
    run(bench).assert_outcomes(passed=5, errors=1)
    assert sorted(scripted.asked) == [f"q{i:03d}" for i in range(6)]
    scripted.asked.clear()
    scripted.script = {}
    run(bench).assert_outcomes(passed=6)
    assert scripted.asked == ["q003"]
    assert sum(r["cached"] for r in report(bench)["results"]) == 5
    scripted.asked.clear()
    run(bench, "--refresh").assert_outcomes(passed=6)
    assert len(scripted.asked) == 6
    scripted.asked.clear()
    run(bench, "--no-cache").assert_outcomes(passed=6)
    assert len(scripted.asked) == 6


def test_the_api_key_never_reaches_results_or_cache(bench, scripted):
    run(bench).assert_outcomes(passed=6)
    for path in [*(bench.path / "reports").rglob("*"), *(bench.path / ".vsync_cache").rglob("*")]:
        if path.is_file():
            assert b"sk-test-not-a-real-key" not in path.read_bytes(), path


def test_missing_key_names_the_variable(bench, scripted, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    res = run(bench)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*OPENAI_API_KEY*"])


def test_unreachable_server_names_the_url(bench, scripted, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    res = run(bench)
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*http://127.0.0.1:9/v1*"])
    assert "Traceback" not in res.stderr.str()


def test_killed_run_loses_no_answer_and_resumes_with_the_rest(bench, scripted):
    """SIGKILL the whole pytest process mid-run; the rerun asks only for what was not stored."""
    scripted.delay_s = 0.3
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--model",
        "openai:scripted",
        "-m",
        "at",
    ]
    proc = subprocess.Popen(
        args, cwd=bench.path, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while len(scripted.asked) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(scripted.asked) >= 3, "the run never got going"
    db = bench.path / ".vsync_cache" / "responses.sqlite"
    stored = {row[0] for row in sqlite3.connect(db).execute("SELECT item_id FROM responses")}
    assert len(stored) >= 2 and stored <= set(scripted.asked)

    scripted.asked.clear()
    scripted.delay_s = 0.0
    run(bench).assert_outcomes(passed=6)
    assert not stored & set(scripted.asked), "an answer stored before the kill was asked again"
    assert stored | set(scripted.asked) == {f"q{i:03d}" for i in range(6)}
