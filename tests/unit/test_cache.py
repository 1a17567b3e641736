"""Response cache: keys, round trips, concurrent writers, and survival of a killed writer."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from vsync_models.run.cache import ResponseCache, cache_key
from vsync_models.types import Modality, Response


def fake_request(item_id: str = "q1", modality: Modality = Modality.AVT, prompt: str = "P"):
    return SimpleNamespace(
        item_id=item_id, level=1, modality=modality, prompt=prompt, question="Q?", options=("A. x", "B. y")
    )


def test_key_changes_with_everything_that_can_change_an_answer():
    base = cache_key("m", {"t": 0}, fake_request(), "h1")
    assert base == cache_key("m", {"t": 0}, fake_request(), "h1")
    variants = [
        cache_key("m2", {"t": 0}, fake_request(), "h1"),
        cache_key("m", {"t": 1}, fake_request(), "h1"),
        cache_key("m", {"t": 0}, fake_request(prompt="P2"), "h1"),
        cache_key("m", {"t": 0}, fake_request(modality=Modality.VT), "h1"),
        cache_key("m", {"t": 0}, fake_request(), "h2"),
        cache_key("m", {"t": 0}, SimpleNamespace(**{**vars(fake_request()), "repeat": 1}), "h1"),
    ]
    assert len({base, *variants}) == 7
    # repeat 0 is the plain request: a --repeat run reuses a plain run's answers
    assert base == cache_key("m", {"t": 0}, SimpleNamespace(**{**vars(fake_request()), "repeat": 0}), "h1")


def test_round_trip_and_errors_are_never_stored(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", fake_request(), "m", Response(text="B", latency_s=1.5, usage={"total_tokens": 3}))
    hit = cache.get("k")
    assert hit == Response(text="B", latency_s=1.5, usage={"total_tokens": 3}, cached=True)
    with pytest.raises(ValueError):
        cache.put("e", fake_request(), "m", Response(text="", latency_s=0, error="boom"))
    assert len(cache) == 1


def _writer(path: str, worker: int, n: int, start) -> None:
    start.wait(30)  # all writers open the fresh file at the same moment
    cache = ResponseCache(Path(path))
    for i in range(n):
        cache.put(f"{worker}-{i}", fake_request(f"q{i}"), "m", Response(text=str(i), latency_s=0.0))
    cache.close()


def test_concurrent_writers_lose_nothing(tmp_path):
    path = tmp_path / "c.sqlite"
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(path), w, 50, start)) for w in range(4)]
    for p in procs:
        p.start()
    time.sleep(1.0)
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = ResponseCache(path)
    assert len(cache) == 200
    assert cache.get("3-49").text == "49"


def test_killed_writer_keeps_every_committed_answer(tmp_path):
    path = tmp_path / "c.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from types import SimpleNamespace
        from vsync_models.run.cache import ResponseCache
        from vsync_models.types import Modality, Response
        cache = ResponseCache(__import__("pathlib").Path({str(path)!r}))
        for i in range(100000):
            req = SimpleNamespace(item_id=str(i), level=1, modality=Modality.AVT)
            assert cache.put(str(i), req, "m", Response(text=str(i), latency_s=0.0)), cache.read_only
            print(i, flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    reported = -1
    deadline = time.monotonic() + 60
    while reported < 200 and time.monotonic() < deadline:
        reported = int(proc.stdout.readline())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert reported >= 200
    cache = ResponseCache(path)
    # every answer the writer reported as stored survived the kill, and the file is intact
    assert all(cache.get(str(i)) is not None for i in range(reported + 1))
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _open_and_write(path: str, start, results) -> None:
    start.wait(30)
    try:
        cache = ResponseCache(Path(path))
        cache.get("probe")
        stored = cache.put(str(os.getpid()), fake_request(), "m", Response(text="A", latency_s=0.0))
        results.put("ok" if stored else f"not stored: {cache.read_only}")
    except Exception as exc:  # reported back to the parent, which asserts on it
        results.put(repr(exc))


def test_many_processes_opening_a_fresh_cache_at_once(tmp_path):
    # Without serialising the switch to WAL, this race failed a few times in 30 rounds.
    ctx = mp.get_context("fork")
    outcomes = []
    for round_ in range(30):
        start, results = ctx.Event(), ctx.Queue()
        path = str(tmp_path / f"c{round_}.sqlite")
        procs = [ctx.Process(target=_open_and_write, args=(path, start, results)) for _ in range(6)]
        for p in procs:
            p.start()
        time.sleep(0.05)
        start.set()
        for p in procs:
            p.join(60)
        outcomes += [results.get(timeout=10) for _ in procs]
    assert outcomes == ["ok"] * 180


# -- a cache that cannot be written never costs an answer ----------------------------------------


class CountingModel:
    """Answers every request with "A" and counts the calls."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def fingerprint(self) -> dict:
        return {"adapter": "counting"}

    def check(self) -> None:
        pass

    def generate(self, request):
        from vsync_models.models.base import ModelOutput

        self.calls += 1
        return ModelOutput(text="A")


def _items(tmp_path: Path, n: int):
    from vsync_models.types import Item

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"not decoded: the at modality reads only the transcript")
    return [
        Item(
            id=f"q{i}",
            video_path=clip.name,
            question=f"Question {i}?",
            options=("A. x", "B. y"),
            correct_answer="A",
            video_file=clip,
            asr_content="hi",
        )
        for i in range(n)
    ]


def _evaluator(model, cache: ResponseCache, tmp_path: Path):
    from vsync_models.data.media import MediaPreparer
    from vsync_models.data.prompts import PromptSettings
    from vsync_models.run.evaluate import Evaluator

    return Evaluator(
        model=model, prompts={1: PromptSettings()}, preparer=MediaPreparer(tmp_path / "m"), cache=cache
    )


def test_a_full_disk_makes_the_cache_read_only_and_keeps_every_answer(tmp_path, monkeypatch):
    from vsync_models.types import Outcome

    writes: list[str] = []

    def disk_full(self, key, *args):
        writes.append(key)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(ResponseCache, "_put", disk_full)
    cache = ResponseCache(tmp_path / "c.sqlite")
    model = CountingModel()
    evaluator = _evaluator(model, cache, tmp_path)
    results = [evaluator.evaluate(item, Modality.AT) for item in _items(tmp_path, 3)]
    assert [r.outcome for r in results] == [Outcome.CORRECT] * 3, [r.response.error for r in results]
    assert [r.response.text for r in results] == ["A"] * 3 and model.calls == 3
    assert len(writes) == 1, "tried once; read-only from then on"
    assert cache.read_only == "OperationalError: database or disk is full"
    notice = cache.newly_read_only()
    assert notice and "read-only for the rest of this run" in notice and "disk is full" in notice
    assert cache.newly_read_only() is None, "said once"


def test_a_cache_that_cannot_even_be_created_is_a_miss_and_read_only(tmp_path):
    from vsync_models.types import Outcome

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    cache = ResponseCache(blocker / "responses.sqlite")
    evaluator = _evaluator(CountingModel(), cache, tmp_path)
    results = [evaluator.evaluate(item, Modality.AT) for item in _items(tmp_path, 2)]
    assert [r.outcome for r in results] == [Outcome.CORRECT] * 2, [r.response.error for r in results]
    assert cache.read_only and cache.newly_read_only() and cache.newly_read_only() is None


# -- two runs sharing a cache ask for an item once ---------------------------------------------------


class SlowModel(CountingModel):
    """Holds each request until told to answer, so that a second run finds it in flight."""

    def __init__(self, release) -> None:
        super().__init__()
        self.release = release

    def generate(self, request):
        assert self.release.wait(60), "never released"
        return super().generate(request)


def test_two_runs_sharing_a_cache_ask_for_an_item_once(tmp_path):
    import threading

    from vsync_models.run.handoff import Claims
    from vsync_models.types import Outcome

    items = _items(tmp_path, 1)
    release = threading.Event()
    first, second = SlowModel(release), CountingModel()
    runs = [_evaluator(model, ResponseCache(tmp_path / "c.sqlite"), tmp_path) for model in (first, second)]
    runs[0].claims = Claims(tmp_path / "claims", pid=1001, alive=lambda pid: True)
    runs[1].claims = Claims(tmp_path / "claims", pid=1002, alive=lambda pid: True)
    results: dict[int, object] = {}
    one = threading.Thread(target=lambda: results.update({0: runs[0].evaluate(items[0], Modality.AT)}))
    one.start()
    marker = runs[0].claims.marker(_key(runs[0], items[0]))
    _until(marker.exists)
    two = threading.Thread(target=lambda: results.update({1: runs[1].evaluate(items[0], Modality.AT)}))
    two.start()
    _until(lambda: runs[1].claims.waited == 1)  # the second run waits for the first's request
    release.set()
    one.join(60)
    two.join(60)
    assert first.calls == 1 and second.calls == 0, "asked once for both runs"
    assert results[1].outcome is Outcome.CORRECT and results[1].response.cached
    assert not marker.exists()


def test_a_claim_left_by_a_killed_run_is_stale(tmp_path):
    from vsync_models.run.handoff import Claims

    items = _items(tmp_path, 1)
    model = CountingModel()
    run = _evaluator(model, ResponseCache(tmp_path / "c.sqlite"), tmp_path)
    dead = Claims(tmp_path / "claims", pid=4242)
    assert dead.claim(_key(run, items[0]))  # left behind by a run that was SIGKILLed
    run.claims = Claims(tmp_path / "claims", alive=lambda pid: pid != 4242)
    assert run.evaluate(items[0], Modality.AT).response.text == "A" and model.calls == 1
    old = Claims(tmp_path / "claims2", pid=1, clock=lambda: 0.0)  # alive, but far too old
    assert old.claim("k")
    assert Claims(tmp_path / "claims2", alive=lambda pid: True).claim("k")


def test_a_stale_claim_found_by_two_processes_leaves_the_fresh_claim_of_the_first(tmp_path):
    from vsync_models.run.handoff import Claims

    Claims(tmp_path, pid=4242).claim("k")  # left behind by a killed run
    first = Claims(tmp_path, pid=1001, alive=lambda pid: pid != 4242)
    second = Claims(tmp_path, pid=1002, alive=lambda pid: pid != 4242)
    judge = second._stale
    seen: list[bool] = []

    def stale_then_first_claims(path):
        verdict = judge(path)
        if not seen:  # between the second's look and its removal, the first reclaims the key
            seen.append(verdict)
            assert first.claim("k")
        return verdict

    second._stale = stale_then_first_claims
    assert seen == [] and not second.claim("k"), "the fresh claim holds"
    assert seen == [True]
    assert json.loads(first.marker("k").read_text(encoding="utf-8"))["pid"] == 1001


def _key(evaluator, item) -> str:
    from vsync_models.data.prompts import build_request

    request = build_request(item, Modality.AT, evaluator.prompts[1], evaluator.preparer)
    return cache_key(evaluator.model.name, evaluator.model.fingerprint(), request, request.media.content_hash)


def _until(condition, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "condition never came true"
        time.sleep(0.01)


def test_identical_items_share_one_cached_answer_and_the_reliability_line_says_so(tmp_path):
    """Intended: the cache key is what the model is shown, not the item id (docs/reliability.md)."""
    from dataclasses import replace

    from vsync_models.report.reliability import format_reliability, reliability
    from vsync_models.run.evaluate import evaluate_case

    first, other = _items(tmp_path, 2)
    twin = replace(first, id="q-twin")  # same text and clip under another id
    model = CountingModel()
    evaluator = _evaluator(model, ResponseCache(tmp_path / "c.sqlite"), tmp_path)
    records = [evaluate_case(evaluator, item, Modality.AT)[1] for item in (first, twin, other)]
    assert model.calls == 2 and [r.cached for r in records] == [False, True, False]
    costs = reliability(records)
    assert costs.shared == 1 and costs.eventful
    assert "3 answers (1 from cache, 1 identical to another item's request)" in format_reliability(costs)
    assert reliability([records[0], records[2]]).shared == 0
