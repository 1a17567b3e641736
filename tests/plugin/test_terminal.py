"""The terminal of a benchmark run: progress letters, live progress lines, ``--limit``, the cache line,
the V-SYNC table and gate line at the very end, and SIGTERM handled as a stop.

Runs go against stand-in OpenAI servers on 127.0.0.1 whose answers depend on the prompt only; the
progress lines are asked for every N percent, so what is printed depends on counts, never on time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.standins.tiny_omni import make_clip
from tests.support import choice_items, free_port, last_run, write_dataset
from vsync_models.standin import StandIn, spawn

PROGRESS = re.compile(
    r"^vsync: (\d+)/(\d+) answered \(\d+%\) \| .*\| errors (\d+) \| (\d+) cached \| (\d+) in flight"
)
GATE_LINE = "V-SYNC exit status"
SENTENCE = re.compile(r"said sentence (\d+)\?")


def by_number(text: str) -> str:
    """Item i answers A, B, "no idea", A, B, "no idea", ...: right, wrong (or right), unparseable."""
    i = int(SENTENCE.search(text).group(1))
    return ("A", "B", "no idea")[i % 3]


@pytest.fixture
def project(bench, monkeypatch, warm_openai_sdk):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-terminal-tests")
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text("runtime: {max_retries: 0}\n", encoding="utf-8")
    videos = write_dataset(bench.path / "data" / "level_1", choice_items(9, answers="A")) / "videos"
    for i in range(3):  # real clips: avt and vt send frames
        make_clip(videos / f"clip{i}.mp4", seconds=1.0 + 0.25 * i)
    return bench


@pytest.fixture
def standin(project, monkeypatch):
    with StandIn(answer=by_number) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        yield server


def lines_of(res: pytest.RunResult) -> list[str]:
    return [line.rstrip() for line in res.outlines]


def test_letters_tell_outcomes_apart_and_no_failed_line_per_answer(project, standin):
    res = project.runpytest(
        "--model", "openai:standin", "-m", "avt", "-ra", "--progress", "off", "-p", "no:cacheprovider"
    )  # fmt: skip
    res.assert_outcomes(passed=3, failed=6)  # wrong and unparseable are still failed tests for pytest
    letters = "".join(
        ch for line in res.outlines if line.startswith("tests/test_level1.py ") for ch in line[21:]
    )
    assert letters.replace(" ", "").split("[")[0] == ".WU" * 3, res.stdout.str()
    out = res.stdout.str()
    assert "FAILED" not in out and "= FAILURES =" not in out, "no line and no section per wrong answer"
    lines = lines_of(res)
    assert lines[-1].startswith(GATE_LINE), "the gate line is the very last line"
    table = next(i for i, line in enumerate(lines) if "V-SYNC results: openai:standin" in line)
    final = next(i for i, line in enumerate(lines) if re.search(r"\d+ failed, \d+ passed", line))
    assert final < table, "the V-SYNC table comes after pytest's own last line"
    assert "answers: 0 from the response cache, 9 asked the model" in lines[table:]


def test_rf_or_strict_items_lists_each_wrong_answer(project, standin):
    res = project.runpytest(
        "--model", "openai:standin", "-m", "avt", "-rf", "--tb=line", "-p", "no:cacheprovider"
    )
    res.stdout.fnmatch_lines(
        [
            "*short test summary info*",
            "WRONG tests/test_level1.py::test_item?q001-avt? - Failed: wrong: item 'q001'*",
            "UNPARSEABLE tests/test_level1.py::test_item?q002-avt? - Failed: unparseable:*",
        ]
    )
    strict = project.runpytest(
        "--model", "openai:standin", "-m", "avt", "--strict-items", "-p", "no:cacheprovider"
    )
    listed = [line for line in strict.outlines if re.match(r"(WRONG|UNPARSEABLE) tests/test_level1.py", line)]
    assert len(listed) == 6 and "= FAILURES =" in strict.stdout.str()
    assert "answers: 9 from the response cache, 0 asked the model" in strict.stdout.str()


def test_verbose_words_and_quiet_quiet(project, standin):
    res = project.runpytest("--model", "openai:standin", "-m", "avt", "-v", "-p", "no:cacheprovider")
    res.stdout.fnmatch_lines(["*test_item?q001-avt? WRONG*", "*test_item?q002-avt? UNPARSEABLE*"])
    quiet = project.runpytest("--model", "openai:standin", "-m", "avt", "-qq", "--progress", "10%")
    assert not any(PROGRESS.match(line) for line in quiet.outlines), "no progress lines under -qq"


def test_progress_lines_every_n_percent(project, standin):
    res = project.runpytest("--model", "openai:standin", "--progress", "25%", "-p", "no:cacheprovider")
    found = [PROGRESS.match(line) for line in res.outlines]
    counts = [(int(m.group(1)), int(m.group(2))) for m in found if m]
    # 27 tests: a line when 25, 50, 75 and 100 % are first reached, each with its own count
    assert counts == [(7, 27), (14, 27), (21, 27), (27, 27)], res.stdout.str()
    last = next(line for line in res.outlines if line.startswith("vsync: 27/27"))
    # item i answers right when i % 3 == 0: 3 of 9 in every modality, so the gain is 0
    assert "avt 33.3% vt 33.3% at 33.3% | gain +0.0 | errors 0 | 0 cached" in last


def test_bad_progress_value_is_a_usage_error(project):
    res = project.runpytest("--model", "random", "--progress", "often")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--progress*'often'*auto, off, seconds (e.g. 10s) or percent*"])


def test_limit_spreads_over_tasks_and_states_the_choice(bench):
    items = [
        dict(item, task=("who_said", "said_when", "in_sync")[i % 3])
        for i, item in enumerate(choice_items(30))
    ]
    write_dataset(bench.path / "data" / "level_1", items)
    res = bench.runpytest(
        "--model", "random", "--limit", "10", "-m", "level1", "-ra", "-p", "no:cacheprovider"
    )
    assert "FAILED" not in res.stdout.str(), "random answers wrong often; -ra lists none of them"
    outcomes = res.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 30, "10 items x 3 modalities"
    res.stdout.fnmatch_lines(
        ["vsync: --limit 10: items spread over tasks (stratified, seed 0); level 1: 10 of 30"]
    )
    doc = json.loads((last_run(bench.path) / "results_random_level1.json").read_text("utf-8"))
    assert doc["limit"] == {
        "per_level": 10,
        "seed": 0,
        "selected": 10,
        "of": 30,
        "how": "stratified over tasks, seeded",
    }
    tasks = [r["task"] for r in doc["results"]]
    assert sorted(tasks.count(t) for t in set(tasks)) == [3, 3, 4], "spread over the three tasks"
    assert doc["coverage"] == 100.0 and doc["collected"] == 10, "coverage counts what was chosen"
    again = bench.runpytest("--model", "random", "--limit", "10", "-m", "level1", "-p", "no:cacheprovider")
    doc2 = json.loads((last_run(bench.path) / "results_random_level1.json").read_text("utf-8"))
    assert [r["id"] for r in doc2["results"]] == [r["id"] for r in doc["results"]], "a seeded choice"
    assert again.parseoutcomes() == outcomes


def test_limit_below_one_is_a_usage_error(bench):
    res = bench.runpytest("--model", "random", "--limit", "0")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--limit must be at least 1, got 0*"])


# -- SIGTERM and the recorded terminal session: pytest as its own process, a slow stand-in ---------------


def _cached_ids(cache: Path) -> set[str]:
    db = sqlite3.connect(cache / "responses.sqlite")
    try:
        return {row[0] for row in db.execute("SELECT item_id FROM responses")}
    finally:
        db.close()


def _asked(server) -> list[str]:
    """Item ids the stand-in was asked for (``choice_items`` numbers its questions)."""
    numbers = (int(SENTENCE.search(e["question"]).group(1)) for e in server.entries())
    return [f"q{n:03d}" for n in numbers]


@pytest.fixture
def slow_project(bench, monkeypatch):
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text("runtime: {max_retries: 0}\n", encoding="utf-8")
    write_dataset(bench.path / "data" / "level_1", choice_items(24))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-terminal-tests")
    servers = []
    port = str(free_port())  # one port for every stand-in: the URL is part of the cache key

    def start(*args: str):
        server = spawn(
            bench.path / "standins", "--port", port, "--latency", "0.4", *args, name=f"standin{len(servers)}"
        )
        servers.append(server)
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        return server

    yield bench, start
    for server in servers:
        server.stop()


def _argv(*extra: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "--model", "openai:standin", "-m", "at", "-n", "2",
        "--concurrency", "4", "-p", "no:cacheprovider", "--progress", "25%", *extra,
    ]  # fmt: skip


def test_sigterm_to_the_controller_is_a_stop_with_a_summary(slow_project):
    bench, start = slow_project
    server = start()
    log = bench.path / "run.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            _argv(), cwd=bench.path, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
        deadline = time.monotonic() + 240
        while len(server.entries()) < 8 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # a count of requests decides when, not a clock
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=240)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert rc == pytest.ExitCode.INTERRUPTED, text
    assert "V-SYNC results: openai:standin" in text and "V-SYNC exit status 2" in text, text
    assert "cannot send" not in text and "PluggyTeardownRaisedWarning" not in text, text
    reports = last_run(bench.path)
    doc = json.loads((reports / "results_openai_standin_level1_at.json").read_text("utf-8"))
    records = (reports / "results_openai_standin_level1_at.records.jsonl").read_text("utf-8").splitlines()
    assert len(records) == len(doc["results"]) < 24, "records and results agree on a partial run"
    asked = set(_asked(server))
    cached = _cached_ids(bench.path / ".vsync_cache")
    assert len(cached) == len(asked) >= len(doc["results"]), "every request on the wire was kept"

    server.stop()
    again = start()
    res = subprocess.run(_argv(), cwd=bench.path, capture_output=True, text=True, env=os.environ.copy())
    assert res.returncode == 0, res.stdout
    assert not set(_asked(again)) & asked, "nothing answered before the SIGTERM is asked again"
    assert f"answers: {len(cached)} from the response cache, {24 - len(cached)} asked the model" in res.stdout


def test_recorded_terminal_session_shows_progress_and_ends_on_the_answer(slow_project):
    """A terminal session (``script``: pytest sees a TTY) of an ``-n 2`` run against a slow
    stand-in: progress lines while it runs, and the last screen is the table and the gate line."""
    if shutil.which("script") is None:
        pytest.skip("needs script(1) from util-linux to record a terminal session")
    bench, start = slow_project
    start()
    typescript = bench.path / "session.txt"
    command = " ".join(_argv("--color=no"))
    subprocess.run(
        ["script", "-q", "-e", "-c", command, str(typescript)],
        cwd=bench.path,
        env={**os.environ, "COLUMNS": "160", "LINES": "50"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        check=True,
        timeout=300,
    )
    text = typescript.read_text(encoding="utf-8", errors="replace").replace("\r", "")
    screen = [line for line in text.splitlines() if not line.startswith("Script ")]  # script's own notes
    progress = [line for line in screen if PROGRESS.match(line)]
    assert [PROGRESS.match(line).group(1) for line in progress] == ["6", "12", "18", "24"], screen
    assert all("items/s" in line for line in progress), "a rate once answers arrive"
    assert any("left" in line for line in progress[:-1]), "time left while the run is going"
    last_screen = [line for line in screen if line.strip()][-20:]
    assert last_screen[-1].startswith("V-SYNC exit status 0"), last_screen
    table = [i for i, line in enumerate(last_screen) if "V-SYNC results: openai:standin" in line]
    assert table, "the V-SYNC table is on the last screen"
    assert not any(re.search(r"\d+ (failed|passed)", line) for line in last_screen[table[0] :])
    assert any(re.match(r"\s+1\s+at\s+all\s+24\s", line) for line in last_screen), last_screen
