"""The in-flight hand-over between xdist workers (vsync_models.run.handoff), without xdist: two Handoff
objects with different pids stand for the worker that loses an item and the one that takes it."""

from __future__ import annotations

from vsync_models.run.handoff import Handoff


def pair(tmp_path, alive=lambda pid: True):
    loser = Handoff(tmp_path, "run-1", pid=101, alive=alive)
    taker = Handoff(tmp_path, "run-1", pid=202, alive=alive, sleep=lambda s: loser.finish("item-a"))
    return loser, taker


def test_the_new_owner_waits_until_the_request_in_flight_elsewhere_has_ended(tmp_path):
    loser, taker = pair(tmp_path)
    assert loser.start("item-a")
    assert loser.give_away(["item-a"]) == ["item-a"]
    assert loser.marker("item-a").is_file()
    assert taker.wait("item-a") is True  # its sleep is the loser's request ending
    assert not loser.marker("item-a").exists()
    assert taker.waited == 1
    assert taker.wait("item-a") is False  # nothing held any more: no wait


def test_an_item_given_away_before_its_request_started_is_never_asked_here(tmp_path):
    loser, _ = pair(tmp_path)
    assert loser.give_away(["item-b"]) == []  # not running: no marker, nobody waits
    assert not loser.marker("item-b").exists()
    assert loser.start("item-b") is False  # a job that was about to start does not ask
    loser.give_away(["item-c"])
    loser.reclaim(["item-c"])  # back in this worker's own queue (another worker died)
    assert loser.start("item-c") is True


def test_a_marker_of_a_dead_worker_is_removed_and_not_waited_for(tmp_path):
    loser, _ = pair(tmp_path)
    loser.start("item-a")
    loser.give_away(["item-a"])
    taker = Handoff(tmp_path, "run-1", pid=202, alive=lambda pid: False, sleep=lambda s: None)
    assert taker.wait("item-a") is False
    assert not loser.marker("item-a").exists()


def test_the_own_marker_of_an_item_stolen_back_is_waited_for_until_its_request_ends(tmp_path):
    calls = []
    worker = Handoff(tmp_path, "run-1", pid=101, alive=lambda pid: False)
    worker._sleep = lambda s: (calls.append(s), worker.finish("item-a"))
    worker.start("item-a")
    worker.give_away(["item-a"])
    assert worker.wait("item-a") is True and calls


def test_the_end_of_a_session_removes_the_markers_of_requests_still_running(tmp_path):
    loser, _ = pair(tmp_path)
    loser.start("item-a")
    loser.give_away(["item-a"])
    loser.close()
    assert not list(tmp_path.glob("*.json"))
    loser.finish("item-a")  # the abandoned request ending later changes nothing


def test_markers_of_another_run_in_the_same_cache_are_not_this_runs(tmp_path):
    loser, _ = pair(tmp_path)
    loser.start("item-a")
    loser.give_away(["item-a"])
    other = Handoff(tmp_path, "run-2", pid=303, alive=lambda pid: True, sleep=lambda s: None)
    assert other.wait("item-a") is False


def test_a_normal_session_end_lets_the_requests_given_away_finish_first(tmp_path):
    import threading

    loser, _ = pair(tmp_path)
    loser.start("item-a")
    loser.give_away(["item-a"])
    events = []
    ending = threading.Timer(0.05, lambda: (loser.finish("item-a"), events.append("request ended")))
    ending.start()
    loser.close(wait_s=30)
    events.append("session closed")
    ending.join()
    assert events == ["request ended", "session closed"]
    assert not list(tmp_path.glob("*.json"))
