"""Our model server as a target: the bearer token, refusing an open bind without one, and a
server that answers a barrage of hostile requests with JSON 4xx and then still serves.

(Size limits, upload names, local paths and the loopback default are tested in test_serve_app.)
"""

from __future__ import annotations

import json
import logging
import socket

import pytest
import requests

from tests.standins.tiny_omni import EchoBackend, make_clip, serve_app
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request
from vsync_models.models.base import ask
from vsync_models.models.omni_server import OmniServerModel
from vsync_models.serve.__main__ import TOKEN_ENV, main
from vsync_models.serve.app import ServerSettings, create_app
from vsync_models.types import Item, Modality

TOKEN = "tok-SENTINEL-5f2c"


@pytest.fixture(scope="module")
def guarded():
    app = create_app(
        EchoBackend(), ServerSettings(served_model_name="echo", max_request_bytes=1 << 20, token=TOKEN)
    )
    with serve_app(app) as url:
        yield url


def post(url: str, body: bytes | dict, **headers: str) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("Content-Type", "application/json")
    return requests.post(f"{url}/v1/chat/completions", data=data, headers=headers, timeout=30)


GOOD = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 2}


def test_token_is_required_everywhere_but_health(guarded):
    assert requests.get(f"{guarded}/health", timeout=10).status_code == 200
    for response in (
        requests.get(f"{guarded}/v1/models", timeout=10),
        post(guarded, GOOD),
        post(guarded, GOOD, Authorization="Bearer wrong"),
        post(guarded, GOOD, Authorization=TOKEN),  # not as a bearer token
    ):
        assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_token"
        assert TOKEN not in response.text
    ok = post(guarded, GOOD, Authorization=f"Bearer {TOKEN}")
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"]


def test_the_client_sends_the_token_and_a_refusal_is_an_auth_error_not_retried(guarded, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0)
    item = Item(
        id="q1",
        video_path=clip.name,
        question="Who?",
        options=("A. x", "B. y"),
        correct_answer="A",
        video_file=clip,
    )
    request = build_request(item, Modality.VT, PromptSettings(), MediaPreparer(tmp_path / "media"))
    slept: list[float] = []
    with_token = OmniServerModel("qwen2_5_omni", guarded, token=TOKEN, sleep=slept.append)
    assert ask(with_token, request).error is None
    assert TOKEN not in repr(with_token) and TOKEN not in json.dumps(with_token.fingerprint())
    without = OmniServerModel("qwen2_5_omni", guarded, sleep=slept.append)
    response = ask(without, request)
    assert response.error_kind == "auth" and "bearer token" in response.error and slept == []


def test_non_loopback_bind_needs_a_token(monkeypatch, caplog):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with caplog.at_level(logging.ERROR, logger="vsync_models.serve"):
        code = main(["--backend", "qwen2_5_omni", "--model-path", "/nowhere", "--host", "0.0.0.0"])
    assert code == 2 and f"refusing to bind 0.0.0.0 without a token: set {TOKEN_ENV}" in caplog.text


def test_non_loopback_bind_with_a_token_warns_and_goes_on(monkeypatch, caplog):
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with caplog.at_level(logging.WARNING, logger="vsync_models.serve"):
        # the missing checkpoint stops it right after the bind check
        code = main(["--backend", "qwen2_5_omni", "--model-path", "/nowhere", "--host", "0.0.0.0"])
    assert code == 2 and "binding 0.0.0.0: anyone who can reach this address" in caplog.text
    assert "cannot load the model" in caplog.text and TOKEN not in caplog.text


HOSTILE = [
    b"",
    b"{",
    b"\xff\xfe\x00garbage",
    b"[]",
    b'{"messages": "not a list"}',
    b'{"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "file:///etc/passwd"}}]}]}',
    b'{"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "data:video/mp4;base64,!!!"}}]}]}',
    b'{"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": "../../etc/passwd"}}]}]}',
    b'{"messages": [{"role": "user", "content": "\\u0000"}], "max_tokens": -1}',
    b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e309}',
    json.dumps({"messages": [{"role": "user", "content": "x" * 10}], "model": "../../etc"}).encode(),
    json.dumps({"messages": [{"role": "user", "content": [{"type": "nope"}] * 1000}]}).encode(),
]


def test_a_barrage_of_hostile_requests_gets_json_4xx_and_the_server_keeps_serving(guarded):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for body in HOSTILE:
        response = post(guarded, body, **auth)
        assert 400 <= response.status_code < 500, (body[:80], response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith("application/json")
        assert "Traceback" not in response.text and response.json()["error"]["message"]
    with socket.create_connection(("127.0.0.1", int(guarded.rsplit(":", 1)[1])), timeout=10) as raw:
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        raw.sendall(head.encode() + b"Content-Length: 50\r\n\r\n{")
        raw.shutdown(socket.SHUT_WR)  # a client that hangs up half-way through its body
        raw.recv(1024)
    assert post(guarded, GOOD, **auth).status_code == 200
