"""ReplicaSet: least-in-flight choice, failover of a request whose replica died, re-admission, and
a cache identity that does not depend on which replica answered."""

from __future__ import annotations

import threading

import pytest

from vsync_models.config import load_config
from vsync_models.errors import ModelUnavailable
from vsync_models.models.base import ModelOutput, ask
from vsync_models.models.registry import build_model
from vsync_models.models.replicas import ReplicaSet
from vsync_models.run.pipeline import Pipeline
from vsync_models.standin import StandIn


class Fake:
    name = "fake"

    def __init__(self, url: str, fail: bool = False) -> None:
        self.url, self.fail, self.calls = url, fail, 0
        self.gate: threading.Event | None = None

    def fingerprint(self) -> dict:
        return {"model_name": "m", "base_url": self.url}

    def check(self) -> None:
        pass

    def generate(self, request: object) -> ModelOutput:
        self.calls += 1
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail:
            raise ModelUnavailable(f"cannot reach {self.url}")
        return ModelOutput(text="A")


def test_requests_go_to_the_replica_with_fewest_in_flight() -> None:
    a, b = Fake("a"), Fake("b")
    a.gate = threading.Event()
    replicas = ReplicaSet([a, b], ["a", "b"], probe=lambda url: True)
    busy = threading.Thread(target=replicas.generate, args=(None,))
    busy.start()  # one request parked on a
    while a.calls == 0:
        threading.Event().wait(0.01)
    assert [replicas.generate(None).replica for _ in range(3)] == ["b", "b", "b"]
    a.gate.set()
    busy.join()
    assert [replicas.generate(None).replica for _ in range(2)] == ["a", "b"]  # idle: least recently used


def test_a_dead_replica_is_taken_out_and_its_request_retried_elsewhere() -> None:
    a, b = Fake("a", fail=True), Fake("b")
    clock = [0.0]
    alive = {"a": False, "b": True}
    replicas = ReplicaSet(
        [a, b], ["a", "b"], probe=lambda url: alive[url], recheck_s=10, clock=lambda: clock[0]
    )
    assert replicas.generate(None).replica == "b"  # tried a first (tie, lower index), failed over
    assert replicas.healthy == ["b"]
    assert [replicas.generate(None).replica for _ in range(3)] == ["b"] * 3 and a.calls == 1
    a.fail, alive["a"] = False, True
    clock[0] = 11.0  # due for a new health check: back in
    assert {replicas.generate(None).replica for _ in range(2)} == {"a", "b"}


def test_an_alive_replica_keeps_the_error_and_all_dead_is_an_infrastructure_error() -> None:
    replicas = ReplicaSet([Fake("a", fail=True)], ["a"], probe=lambda url: True)
    with pytest.raises(ModelUnavailable, match="cannot reach a"):
        replicas.generate(None)
    replicas = ReplicaSet([Fake("a", fail=True), Fake("b", fail=True)], ["a", "b"], probe=lambda url: False)
    response = ask(replicas, None)  # type: ignore[arg-type]
    assert response.error and "no healthy replica left of 2" in response.error


def test_fingerprint_does_not_name_the_replica() -> None:
    replicas = ReplicaSet([Fake("a"), Fake("b")], ["a", "b"])
    assert replicas.fingerprint() == {"model_name": "m"}


def test_server_url_list_builds_a_replica_set_spreading_real_requests(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # a list of replicas wins over this
    with StandIn(latency_s=0.05) as one, StandIn(latency_s=0.05) as two:
        cfg = tmp_path / "config.yaml"
        cfg.write_text(
            f"runtime: {{max_retries: 0}}\nmodels:\n  standin:\n    server_url: [{one.url}, {two.url}]\n",
            encoding="utf-8",
        )
        model = build_model("openai:standin", load_config(cfg))
        assert isinstance(model, ReplicaSet) and model.urls == [one.url, two.url]
        model.check()

        class Req:  # what OpenAICompatModel reads of an at request
            prompt, question = "p", "q"
            modality = type("M", (), {"sees_video": False})()

        pipe = Pipeline(lambda i: model.generate(Req()).replica, concurrency=4)  # type: ignore[arg-type]
        pipe.plan(range(16))
        answered = [pipe.result(i) for i in range(16)]
        assert one.requests + two.requests == 16 and one.requests > 0 and two.requests > 0
        assert answered.count(one.url) == one.requests


def test_close_reaches_every_replica() -> None:
    class Closing(Fake):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    a, b = Closing("a"), Closing("b")
    ReplicaSet([a, b], ["a", "b"], probe=lambda url: True).close()
    assert (a.closed, b.closed) == (1, 1)
