"""Sessions that read proxy settings once: no request thread iterates ``os.environ`` while pytest
changes it (``KeyError: 'PYTEST_CURRENT_TEST'`` under ``--concurrency``)."""

from __future__ import annotations

import os
import sys
import threading

import pytest
import requests
from pytest_httpserver import HTTPServer

from vsync_models.models.http_env import HttpEnv
from vsync_models.models.omni_server import OmniServerModel

DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing answers there


def test_no_proxy_decides_per_host_and_the_rest_is_passed_on() -> None:
    env = HttpEnv(proxies={"http": DEAD_PROXY, "https": DEAD_PROXY, "no": "127.0.0.1,.internal"})
    assert env.proxies_for("http://127.0.0.1:8000/v1") == {}
    assert env.proxies_for("http://gpu3.internal:8000") == {}
    assert env.proxies_for("http://example.org/v1") == {"http": DEAD_PROXY, "https": DEAD_PROXY}
    assert HttpEnv().proxies_for("http://example.org") == {}


def test_read_takes_proxies_and_ca_bundle_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/bundle.pem")
    env = HttpEnv.read()
    assert env.proxies["http"] == DEAD_PROXY and env.proxies["no"] == "localhost"
    assert env.verify == "/etc/ssl/bundle.pem"
    session = env.session("http://example.org")
    assert session.trust_env is False and session.proxies == {"http": DEAD_PROXY}


def test_a_session_keeps_the_settings_it_was_made_with(monkeypatch, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/health").respond_with_data("ok")
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    session = HttpEnv.read().session(httpserver.url_for("/"))
    monkeypatch.delenv("NO_PROXY")  # from now on, reading the environment would route via the proxy
    assert session.get(httpserver.url_for("/health"), timeout=5).text == "ok"
    with pytest.raises(requests.ConnectionError):  # what a session reading it per request does
        requests.Session().get(httpserver.url_for("/health"), timeout=5)


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
                model._session.get(httpserver.url_for("/health"), timeout=5)
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
