"""One ``httpx2.Client`` per model, shared by its threads: settings read from the environment once.

``requests`` read the proxies of every request by iterating ``os.environ``; pytest sets and pops
``PYTEST_CURRENT_TEST`` around every test phase, so a request from a pipeline thread could fail with
``KeyError: 'PYTEST_CURRENT_TEST'`` (seen under ``--concurrency``). These tests keep that hazard gone.
"""

from __future__ import annotations

import os
import sys
import threading

import httpx2
import pytest
from pytest_httpserver import HTTPServer

from vsync_models.models.omni_server import OmniServerModel
from vsync_models.models.replicas import ReplicaSet, probe_reachable

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers there


def test_a_client_keeps_the_proxy_settings_it_was_built_with(monkeypatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/health").respond_with_data("ok")
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    model = OmniServerModel("m", httpserver.url_for("/"))
    monkeypatch.delenv("NO_PROXY")  # from now on, reading the environment would route via the proxy
    try:
        assert model._client.get(httpserver.url_for("/health"), timeout=5).text == "ok"
        assert model._answers_health()
    finally:
        model.close()
    with httpx2.Client() as fresh, pytest.raises(httpx2.TransportError):  # what reading it now does
        fresh.get(httpserver.url_for("/health"), timeout=5)


def test_the_replica_probe_builds_its_client_with_the_set(monkeypatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/health").respond_with_data("ok")
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    url = httpserver.url_for("/v1")
    replicas = ReplicaSet([OmniServerModel("m", url)], [url])
    monkeypatch.delenv("NO_PROXY")
    try:
        assert replicas._probe(url)
    finally:
        replicas.close()
    assert not probe_reachable(url, timeout_s=5), "a client built now goes through the dead proxy"


def test_requests_from_threads_survive_the_environment_changing_under_them(httpserver: HTTPServer) -> None:
    """pytest's main thread sets and pops PYTEST_CURRENT_TEST around every test phase."""
    httpserver.expect_request("/health").respond_with_data("ok")
    model = OmniServerModel("m", httpserver.url_for("/"))
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            os.environ["VSYNC_TEST_CHURN"] = "x"
            os.environ.pop("VSYNC_TEST_CHURN", None)

    errors: list[BaseException] = []

    def ask() -> None:
        for _ in range(100):
            try:
                model._client.get(httpserver.url_for("/health"), timeout=5)
            except BaseException as exc:  # any of them is the failure
                errors.append(exc)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so a request meets the churn mid-read
    churner = threading.Thread(target=churn)
    askers = [threading.Thread(target=ask) for _ in range(4)]
    try:
        churner.start()
        for t in askers:
            t.start()
        for t in askers:
            t.join()
    finally:
        stop.set()
        churner.join()
        sys.setswitchinterval(interval)
        model.close()
    assert errors == []
