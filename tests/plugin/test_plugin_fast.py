"""--concurrency end to end: pytester runs against a stand-in OpenAI server on 127.0.0.1 that counts
requests in flight. Nothing here measures time; latencies only make requests overlap."""

from __future__ import annotations

import json
import re
import threading

import pytest

from tests.standins.tiny_omni import make_clip
from tests.support import choice_items, last_run, write_dataset
from vsync_models.standin import StandIn

LEVEL = re.compile(r"said sentence (\d+)\?")
VERBOSE = re.compile(r"tests/test_level1\.py::test_item\[(\S+)\] (PASSED|WRONG)")


def always_a(text: str) -> str:
    """One answer for every item: whether an item passes is then up to its correct answer."""
    return "A"


def item_number(text: str) -> int:
    return int(LEVEL.search(text).group(1))


@pytest.fixture
def server():
    with StandIn(latency_s=0.3, answer=always_a) as srv:
        yield srv


@pytest.fixture
def fast(bench, server, monkeypatch, warm_openai_sdk):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text("runtime: {max_retries: 0}\n", encoding="utf-8")
    write_dataset(bench.path / "data" / "level_1", choice_items(24, answers="A"))
    return bench


def run(bench, *args):
    return bench.runpytest("--model", "openai:standin", *args)


def wait_quiet(server: StandIn) -> None:
    """Let any request the run left behind reach the server (and finish) before counting."""
    done = threading.Event()
    for _ in range(3):  # quiet for three latencies in a row
        while server.in_flight:
            done.wait(0.05)
        done.wait(server.latency_s)
    assert server.in_flight == 0


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_concurrency_8_keeps_8_requests_in_flight_whatever_n(fast, server, workers):
    res = run(fast, "-m", "at", "--concurrency", "8", *workers)
    res.assert_outcomes(passed=24)
    # With -n, an item stolen while its request is in flight is not asked again (vsync_models.run.handoff)
    assert server.requests == 24
    assert server.peak_in_flight == 8
    res.stdout.fnmatch_lines(["vsync media:*; requests: up to 8 in flight, peak 8*"])


def test_default_is_one_request_at_a_time_for_in_process_models_and_16_for_http(fast, server):
    res = run(fast, "-m", "at")
    res.assert_outcomes(passed=24)
    assert server.peak_in_flight == 16


def test_outcomes_are_reported_per_item_in_item_order(fast, server):
    write_dataset(fast.path / "data" / "level_1", choice_items(24, answers="AB"))
    server.delay = lambda text: 0.02 * (24 - item_number(text))  # later items are answered first
    res = run(fast, "-m", "at", "--concurrency", "8", "-v")
    verdicts = [m.groups() for line in res.outlines if (m := VERBOSE.match(line))]
    assert verdicts == [(f"q{i:03d}-at", "PASSED" if i % 2 == 0 else "WRONG") for i in range(24)]
    doc = json.loads((last_run(fast.path) / "results_openai_standin_level1_at.json").read_text("utf-8"))
    assert [(r["id"], r["is_correct"]) for r in doc["results"]] == [
        (f"q{i:03d}", i % 2 == 0) for i in range(24)
    ]


def test_x_stops_issuing_requests(fast, server):
    items = choice_items(24, answers="A")
    items[0]["correct_answer"] = "B"  # the stand-in answers A: the first item fails
    write_dataset(fast.path / "data" / "level_1", items)
    server.latency_s = 0.5
    res = run(fast, "-m", "at", "--concurrency", "2", "-x")
    res.assert_outcomes(failed=1)
    wait_quiet(server)
    # Two in flight when the first answer came back, two more started meanwhile at most; the other
    # six queued requests (look-ahead 8) were dropped, and nothing after them was ever asked.
    assert server.requests <= 5
    res.stdout.fnmatch_lines(["*requests: up to 2 in flight*, [1-9] cancelled before they started"])


def test_cached_items_cause_no_request(fast, server):
    server.latency_s = 0.05
    first = run(fast, "-m", "at", "--concurrency", "4")
    first.assert_outcomes(passed=24)
    assert server.requests == 24
    server.reset_counts()
    again = run(fast, "-m", "at", "--concurrency", "4")
    again.assert_outcomes(passed=24)
    assert server.requests == 0
    doc = json.loads((last_run(fast.path) / "results_openai_standin_level1_at.json").read_text("utf-8"))
    assert all(r["cached"] for r in doc["results"])


def test_a_clip_shared_by_items_and_modalities_is_prepared_once_across_workers(fast, server, tmp_path):
    videos = fast.path / "data" / "level_1" / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        make_clip(videos / f"clip{i}.mp4", seconds=1.0 + 0.25 * i)  # three different contents
    write_dataset(fast.path / "data" / "level_1", choice_items(9, answers="A"))
    server.latency_s = 0.05
    res = run(fast, "-m", "avt or vt", "--concurrency", "4", "-n", "2")
    res.assert_outcomes(passed=18)
    # 18 requests need frames of 3 clips (avt and vt sample the same frames): 3 decodes in all,
    # whichever worker and thread asked first (a stolen item may ask once more: reused, not decoded).
    line = next(line for line in res.outlines if line.startswith("vsync media:"))
    prepared, reused = map(int, re.match(r"vsync media: (\d+) prepared, (\d+) reused", line).groups())
    assert prepared == 3 and reused >= 15, line


def test_two_replicas_both_answer_and_killing_one_loses_no_item(fast, monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL")
    with StandIn(latency_s=0.2, answer=always_a) as one, StandIn(latency_s=0.2, answer=always_a) as two:
        (fast.path / "config" / "config.yaml").write_text(
            f"runtime: {{max_retries: 0}}\nmodels:\n  standin:\n    server_url: [{one.url}, {two.url}]\n",
            encoding="utf-8",
        )

        def die_after_three(text: str) -> float:  # the replica dies with requests in flight
            if two.requests == 3:
                threading.Thread(target=two.crash).start()
            return 0.2

        two.delay = die_after_three
        res = run(fast, "-m", "at", "--concurrency", "4")
    res.assert_outcomes(passed=24)  # no item lost, none turned into an error
    doc = json.loads((last_run(fast.path) / "results_openai_standin_level1_at.json").read_text("utf-8"))
    by = [r["replica"] for r in doc["results"]]
    assert two.requests >= 3 and by.count(two.url) < 3  # its in-flight items were answered by one
    assert by.count(one.url) == 24 - by.count(two.url)


def test_a_benchmark_run_freezes_the_heap_for_its_tests_and_unfreezes_it_after(fast, server):
    import gc

    (fast.path / "tests" / "test_heap.py").write_text(
        "import gc\n\n\ndef test_frozen():\n    assert gc.get_freeze_count() > 0\n", encoding="utf-8"
    )
    res = run(fast, "-m", "at or not benchmark", "--concurrency", "4")
    res.assert_outcomes(passed=25)
    assert gc.get_freeze_count() == 0


def test_an_item_stolen_while_its_request_is_in_flight_is_not_asked_twice(fast, server):
    # -n 2 gives each worker 12 items up front; the second worker's take no time, so it runs dry at
    # once and steals the tail of the first worker's queue (items 6-11), all of whose requests are in
    # flight by then (16 threads per worker). They take longest: the first worker runs dry (or ends)
    # while the thief still waits for their answers.
    server.latency_s = 0.0
    server.delay = lambda text: [0.5, 1.5, 0.0][min(item_number(text) // 6, 2)]
    res = run(fast, "-m", "at", "--concurrency", "32", "-n", "2")
    res.assert_outcomes(passed=24)
    asked = [entry["question"] for entry in server.entries]
    assert len(asked) == 24 and len(set(asked)) == 24
    assert not list((fast.path / ".vsync_cache" / "inflight").glob("*.json"))  # no marker left behind
