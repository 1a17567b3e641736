"""Kill and resume: a SIGKILLed model server, xdist worker or pytest process loses no answer.

Each test runs a small benchmark against the stand-in server (its own process, on 127.0.0.1),
kills something at a point the stand-in's request count decides (not a clock), and checks:
in-flight items are errors, not failures; every answer that arrived is in the cache; the rerun
asks the stand-in for exactly the unfinished items; the final results equal an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys

import pytest

from tests.support import choice_items, last_run, write_dataset
from vsync_models.standin import spawn

N_ITEMS = 12


class Project:
    """The pytester project, its stand-ins, and what a run left behind."""

    def __init__(self, bench: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bench = bench
        self.path = bench.path
        self.monkeypatch = monkeypatch
        self.servers: list = []
        with socket.socket() as sock:  # one port for every stand-in: the URL is part of the cache key
            sock.bind(("127.0.0.1", 0))
            self.port = str(sock.getsockname()[1])
        self.questions = {item["question"]: item["id"] for item in choice_items(N_ITEMS)}

    def standin(self, *args: str):
        for old in self.servers:
            old.stop()
        server = spawn(self.path / "standins", "--port", self.port, *args, name=f"standin{len(self.servers)}")
        self.servers.append(server)
        self.monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        return server

    def argv(self, cache: str = ".vsync_cache") -> list[str]:
        # One request at a time: which item is in flight when the kill lands must be known exactly.
        return [
            "--model", "openai:standin", "-m", "at", "--cache-dir", cache, "-p", "no:cacheprovider",
            "--concurrency", "1",
        ]  # fmt: skip

    def run(self, *args: str, cache: str = ".vsync_cache") -> pytest.RunResult:
        return self.bench.runpytest(*self.argv(cache), *args)

    def asked(self, server) -> list[str]:
        """Item ids the stand-in was asked for, in order (its request log is the count)."""
        return [self.questions[e["question"]] for e in server.entries()]

    def results(self) -> dict:
        doc = json.loads((last_run(self.path) / "results_openai_standin_level1_at.json").read_text("utf-8"))
        return doc

    def cached_items(self, cache: str = ".vsync_cache") -> list[str]:
        db = sqlite3.connect(self.path / cache / "responses.sqlite")
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            return sorted(row[0] for row in db.execute("SELECT item_id FROM responses"))
        finally:
            db.close()

    def close(self) -> None:
        for server in self.servers:
            server.stop()


def verdicts(doc: dict) -> dict[str, tuple]:
    return {r["id"]: (r["outcome"], r["prediction"]) for r in doc["results"]}


@pytest.fixture
def project(bench, monkeypatch, warm_openai_sdk):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-kill-and-resume")
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text("runtime: {max_retries: 0}\n", encoding="utf-8")
    write_dataset(bench.path / "data" / "level_1", choice_items(N_ITEMS))
    proj = Project(bench, monkeypatch)
    yield proj
    proj.close()


@pytest.fixture
def clean(project) -> dict:
    """The uninterrupted run every interrupted one must end up equal to (its own cache)."""
    project.standin()
    res = project.run(cache="clean-cache")
    outcomes = res.parseoutcomes()
    assert outcomes.get("errors", 0) == 0 and outcomes["passed"] + outcomes.get("failed", 0) == N_ITEMS
    return project.results()


def all_ids() -> list[str]:
    return [item["id"] for item in choice_items(N_ITEMS)]


def test_server_sigkilled_mid_run(project, clean):
    server = project.standin("--kill-after", "5")  # answers 5, dies with the 6th in flight
    res = project.run()
    outcomes = res.parseoutcomes()
    assert outcomes["errors"] == N_ITEMS - 5, "in-flight and later items are errors"
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 5
    res.stdout.fnmatch_lines(
        ["*reliability: 12 answers (0 from cache), 0 retries over 0 calls; errors: 7 (connection 7)*"]
    )
    answered = project.asked(server)[:5]
    assert project.cached_items() == sorted(answered), "every answer that arrived is stored"
    first = project.results()
    assert {r["id"] for r in first["results"] if r["outcome"] == "error"} == set(all_ids()) - set(answered)
    assert first["errors_by_kind"] == {"connection": N_ITEMS - 5} and first["retries"] == 0

    again = project.standin()
    res = project.run()
    assert res.parseoutcomes().get("errors", 0) == 0
    assert sorted(project.asked(again)) == sorted(set(all_ids()) - set(answered)), (
        "rerun asks only the unfinished"
    )
    final = project.results()
    assert verdicts(final) == verdicts(clean) and final["accuracy"] == clean["accuracy"]
    assert sum(r["cached"] for r in final["results"]) == 5


def test_xdist_worker_sigkilled_mid_run(project, clean):
    (project.path / "conftest.py").write_text(
        "import os, signal\n"
        "from pathlib import Path\n"
        "def pytest_runtest_call(item):\n"
        '    flag = Path(__file__).parent / "killed-once"\n'
        '    if "q004" in item.nodeid and os.environ.get("PYTEST_XDIST_WORKER") and not flag.exists():\n'
        '        flag.write_text("the worker answered q004, then died")\n'
        "        os.kill(os.getpid(), signal.SIGKILL)\n",
        encoding="utf-8",
    )
    server = project.standin()
    res = project.run("-n", "2")
    outcomes = res.parseoutcomes()
    res.stdout.fnmatch_lines(["*worker*crashed while running*q004*"])
    assert outcomes["errors"] == 1, "the crashed item is an error, not a failed answer"
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == N_ITEMS - 1
    assert (project.path / "killed-once").is_file()
    assert sorted(project.asked(server)) == all_ids(), "each item asked once; the replacement worker went on"
    assert project.cached_items() == all_ids(), "the killed worker's last answer is stored too"
    assert verdicts(project.results()) == verdicts(clean), "its record reached the controller before it died"

    again = project.standin()
    res = project.run("-n", "2")
    assert res.parseoutcomes().get("errors", 0) == 0
    assert project.asked(again) == [], "nothing was unfinished, so nothing is asked again"
    assert verdicts(project.results()) == verdicts(clean)


def test_pytest_process_sigkilled_mid_run(project, clean):
    pid_file = project.path / "pytest.pid"
    results_file = last_run(project.path) / "results_openai_standin_level1_at.json"
    results_file.unlink()  # the clean run's
    server = project.standin("--kill-after", "4", "--kill-pid-file", str(pid_file))
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", *project.argv()],
        cwd=project.path,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_file.write_text(str(proc.pid))  # long before the 5th request: the run has to start first
    assert proc.wait(timeout=300) == -9, "the stand-in SIGKILLed the run at its 5th request"
    answered = project.asked(server)[:4]
    assert project.cached_items() == sorted(answered), "the cache is intact and holds every answer"
    assert not results_file.exists(), "killed before the end: nothing half-written"

    again = project.standin()
    res = project.run()
    assert res.parseoutcomes().get("errors", 0) == 0
    assert sorted(project.asked(again)) == sorted(set(all_ids()) - set(answered))
    final = project.results()
    assert verdicts(final) == verdicts(clean) and final["accuracy"] == clean["accuracy"]
