"""The OpenAI-compatible adapter against a scripted local server (127.0.0.1 only, never a real API).

What matters for the benchmark: the modality ablations must really withhold what they claim
(no ASR in ``vt``, no frames in ``at``), frames must carry their timestamps, infrastructure
trouble must surface as ``ModelError`` rather than as an answer, and the key must never leak.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WerkzeugRequest
from werkzeug import Response as WerkzeugResponse

from vsync_models.errors import ConfigError, ModalityViolation, ModelRequestError, ModelUnavailable
from vsync_models.models.base import ModelOutput, ask
from vsync_models.models.openai_compat import OpenAICompatModel, resolve_openai_settings
from vsync_models.types import Modality, Request

SENTINEL_KEY = "sk-SENTINEL-0123456789abcdef"
ASR = "Hello there, said the woman at the start."
QUESTION = "Who speaks first?"
SYSTEM = "You are a precise video-audio reasoning assistant."
OPTIONS = ("A. the woman", "B. the man", "C. the child", "D. nobody")
USER_PROMPT = "Please carefully analyze the video."
ANSWER_FORMAT = "Answer ONLY with the option letter (A, B, C, or D)."
CHAT_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class FakeFrame:
    t: float
    jpeg: bytes
    width: int = 32
    height: int = 24


@dataclass
class FakeMedia:
    """Stands in for ``vsync_models.data.media.MediaView``; records how frames were asked for."""

    modality: Modality
    content_hash: str = "fake-hash"
    stored: tuple[FakeFrame, ...] = (
        FakeFrame(0.0, b"\xff\xd8jpeg-zero"),
        FakeFrame(1.0, b"\xff\xd8jpeg-one"),
        FakeFrame(2.5, b"\xff\xd8jpeg-two-and-a-half"),
    )
    calls: list[dict[str, Any]] = field(default_factory=list)

    def frames(self, interval_s: float, max_frames: int, max_side: int = 448, quality: int = 70) -> list:
        if not self.modality.sees_video:
            raise ModalityViolation("frames requested for an audio-only request")
        self.calls.append(
            {"interval_s": interval_s, "max_frames": max_frames, "max_side": max_side, "quality": quality}
        )
        return list(self.stored)


class ExplodingMedia:
    """Fails the test if the adapter so much as asks for a frame."""

    modality = Modality.AT
    content_hash = "fake-hash"

    def frames(self, *args: Any, **kwargs: Any) -> list:
        raise AssertionError("frames() must not be called for the audio-only modality")


def make_request(modality: Modality, media: Any | None = None) -> Request:
    """Mirror what prompts.build_request produces: ASR only when the modality hears audio."""
    asr = ASR if modality.sees_audio else None
    parts = [f"[SYSTEM]\n{SYSTEM}"]
    if asr is not None:
        parts.append(f"[ASR]\n{asr}")
    parts += ["Options:\n" + "\n".join(OPTIONS), USER_PROMPT, ANSWER_FORMAT]
    return Request(
        item_id="7",
        level=1,
        modality=modality,
        prompt="\n\n".join(parts),
        question=QUESTION,
        options=OPTIONS,
        system_prompt=SYSTEM,
        user_prompt=USER_PROMPT,
        answer_format=ANSWER_FORMAT,
        asr_text=asr,
        media=media if media is not None else FakeMedia(modality),
    )


def completion(content: str | None = "B", usage: bool = True, choices: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ]
        if choices
        else [],
    }
    if usage:
        body["usage"] = {"prompt_tokens": 120, "completion_tokens": 1, "total_tokens": 121}
    return body


@pytest.fixture
def server(httpserver_ipv4: HTTPServer) -> HTTPServer:
    """pytest-httpserver bound to 127.0.0.1 on a free port."""
    return httpserver_ipv4


def base_url(server: HTTPServer) -> str:
    return server.url_for("/v1")


def make_model(url: str, **kwargs: Any) -> OpenAICompatModel:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout_s", 5.0)
    return OpenAICompatModel("gpt4o", "gpt-4o", url, kwargs.pop("api_key", SENTINEL_KEY), **kwargs)


def closed_port_url() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def sent_payloads(server: HTTPServer) -> list[dict[str, Any]]:
    return [req.get_json() for req, _ in server.log if req.path == CHAT_PATH]


def user_parts(payload: dict[str, Any]) -> list[dict[str, Any]]:
    (user,) = [m for m in payload["messages"] if m["role"] == "user"]
    return user["content"]


# -- (1) payload --------------------------------------------------------------------------


def test_payload_carries_decoding_params_prompt_and_timestamped_frames(server: HTTPServer) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(completion())
    media = FakeMedia(Modality.AVT)
    model = make_model(
        base_url(server), max_tokens=32, frame_interval_s=0.5, max_frames=4, frame_max_side=320
    )

    model.generate(make_request(Modality.AVT, media))

    (payload,) = sent_payloads(server)
    assert payload["model"] == "gpt-4o"
    assert payload["temperature"] == 0.0
    assert payload["max_tokens"] == 32
    assert "top_p" not in payload
    assert [m["role"] for m in payload["messages"]] == ["user"], "system prompt travels as [SYSTEM] text"
    assert media.calls == [{"interval_s": 0.5, "max_frames": 4, "max_side": 320, "quality": 70}]

    parts = user_parts(payload)
    lead = parts[0]
    assert lead["type"] == "text"
    assert USER_PROMPT in lead["text"] and ANSWER_FORMAT in lead["text"] and "A. the woman" in lead["text"]
    assert lead["text"].index(ANSWER_FORMAT) < lead["text"].index(QUESTION), (
        "original order: prompt, question"
    )

    rest = parts[1:]
    assert len(rest) == 2 * len(media.stored)
    for (label, image), frame in zip(zip(rest[::2], rest[1::2], strict=True), media.stored, strict=True):
        assert label == {"type": "text", "text": f"Frame at {frame.t:.1f}s:"}
        assert image["type"] == "image_url"
        assert image["image_url"]["detail"] == "low"
        prefix = "data:image/jpeg;base64,"
        assert image["image_url"]["url"].startswith(prefix)
        assert base64.b64decode(image["image_url"]["url"][len(prefix) :]) == frame.jpeg

    (req, _) = server.log[0]
    assert req.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"


def test_top_p_is_sent_only_when_configured(server: HTTPServer) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(completion())
    make_model(base_url(server), top_p=0.9, temperature=0.2).generate(make_request(Modality.AVT))
    (payload,) = sent_payloads(server)
    assert payload["top_p"] == 0.9
    assert payload["temperature"] == 0.2


@pytest.mark.parametrize(
    ("t", "label"), [(0.0, "0.0"), (3.0, "3.0"), (2.5, "2.5"), (0.25, "0.25"), (12.0, "12.0")]
)
def test_frame_labels_keep_sub_second_precision(t: float, label: str) -> None:
    media = FakeMedia(Modality.VT, stored=(FakeFrame(t, b"x"),))
    parts = make_model("http://127.0.0.1:9/v1").build_messages(make_request(Modality.VT, media))[-1][
        "content"
    ]
    assert parts[1]["text"] == f"Frame at {label}s:"


# -- (2) modality ablations ---------------------------------------------------------------


def test_video_only_request_carries_frames_but_no_asr(server: HTTPServer) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(completion())
    make_model(base_url(server)).generate(make_request(Modality.VT))
    (payload,) = sent_payloads(server)
    raw = json.dumps(payload)
    assert ASR not in raw and "[ASR]" not in raw
    assert any(p["type"] == "image_url" for p in user_parts(payload))


def test_audio_only_request_has_no_images_and_never_asks_for_frames(server: HTTPServer) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(completion())
    make_model(base_url(server)).generate(make_request(Modality.AT, ExplodingMedia()))
    (payload,) = sent_payloads(server)
    parts = user_parts(payload)
    assert all(p["type"] == "text" for p in parts)
    assert "Frame at" not in json.dumps(payload)
    assert ASR in parts[0]["text"] and QUESTION in parts[0]["text"]


# -- (3) response parsing -----------------------------------------------------------------


def test_response_text_and_usage_are_returned(server: HTTPServer) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(completion("C. the child"))
    out = make_model(base_url(server)).generate(make_request(Modality.AVT))
    assert out == ModelOutput(
        text="C. the child", usage={"prompt_tokens": 120, "completion_tokens": 1, "total_tokens": 121}
    )


def test_missing_usage_gives_none(server: HTTPServer) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(completion("A", usage=False))
    out = make_model(base_url(server)).generate(make_request(Modality.AVT))
    assert out == ModelOutput(text="A", usage=None)


# -- (4) HTTP errors and retries ----------------------------------------------------------


def test_server_error_is_retried_then_succeeds(server: HTTPServer) -> None:
    server.expect_ordered_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": {"message": "boom"}}, status=500, headers={"retry-after-ms": "1"}
    )
    server.expect_ordered_request(CHAT_PATH, method="POST").respond_with_json(completion("D"))
    out = make_model(base_url(server), max_retries=2).generate(make_request(Modality.AVT))
    assert out.text == "D"
    assert len(server.log) == 2
    server.check_assertions()


def test_bad_request_is_not_retried(server: HTTPServer) -> None:
    server.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": {"message": "image too large"}}, status=400
    )
    with pytest.raises(ModelRequestError) as info:
        make_model(base_url(server), max_retries=2).generate(make_request(Modality.AVT))
    assert "400" in str(info.value) and "image too large" in str(info.value)
    assert len(server.log) == 1


def test_unauthorized_generate_is_a_request_error(server: HTTPServer) -> None:
    server.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": {"message": "nope"}}, status=401
    )
    with pytest.raises(ModelRequestError, match="401"):
        make_model(base_url(server), max_retries=2).generate(make_request(Modality.AVT))
    assert len(server.log) == 1


def test_long_error_body_is_cut_short(server: HTTPServer) -> None:
    server.expect_request(CHAT_PATH, method="POST").respond_with_data("x" * 5000, status=422)
    with pytest.raises(ModelRequestError) as info:
        make_model(base_url(server)).generate(make_request(Modality.AVT))
    assert "422" in str(info.value)
    assert len(str(info.value)) < 400


def test_persistent_server_error_is_an_infrastructure_error_not_an_answer(server: HTTPServer) -> None:
    server.expect_request(CHAT_PATH, method="POST").respond_with_json({"error": {}}, status=503)
    response = ask(make_model(base_url(server)), make_request(Modality.AVT))
    assert response.text == ""
    assert response.error is not None and "ModelRequestError" in response.error and "503" in response.error


# -- (5) unreachable server ---------------------------------------------------------------


def test_connection_refused_is_unavailable_and_names_the_url() -> None:
    url = closed_port_url()
    with pytest.raises(ModelUnavailable) as info:
        make_model(url, max_retries=0).generate(make_request(Modality.AVT))
    assert url in str(info.value)


def test_timeout_is_unavailable_and_names_the_url(server: HTTPServer) -> None:
    def slow(_: WerkzeugRequest) -> WerkzeugResponse:
        time.sleep(0.5)
        return WerkzeugResponse(json.dumps(completion()), content_type="application/json")

    server.expect_request(CHAT_PATH, method="POST").respond_with_handler(slow)
    url = base_url(server)
    with pytest.raises(ModelUnavailable) as info:
        make_model(url, timeout_s=0.1).generate(make_request(Modality.AVT))
    assert url in str(info.value)


# -- (6) empty responses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [completion(choices=False), completion(content=None)], ids=["no-choices", "null"]
)
def test_empty_response_is_a_request_error(server: HTTPServer, body: dict[str, Any]) -> None:
    server.expect_oneshot_request(CHAT_PATH, method="POST").respond_with_json(body)
    with pytest.raises(ModelRequestError, match="empty response"):
        make_model(base_url(server)).generate(make_request(Modality.AVT))


# -- (7) preflight ------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ["OPENAI_API_KEY", "GEMINI_API_KEY"])
def test_check_without_key_names_the_env_variable(env_name: str) -> None:
    model = make_model(closed_port_url(), api_key=None, api_key_env=env_name)
    with pytest.raises(ConfigError, match=env_name):
        model.check()
    with pytest.raises(ConfigError, match=env_name):
        model.generate(make_request(Modality.AVT))


def test_check_unreachable_names_the_url() -> None:
    url = closed_port_url()
    with pytest.raises(ConfigError) as info:
        make_model(url).check()
    assert url in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
def test_check_rejected_key(server: HTTPServer, status: int) -> None:
    server.expect_request("/v1/models", method="GET").respond_with_json({"error": {}}, status=status)
    url = base_url(server)
    with pytest.raises(ConfigError, match=f"API key rejected by {url}"):
        make_model(url, max_retries=3).check()
    assert len(server.log) == 1


@pytest.mark.parametrize("status", [200, 404])
def test_check_passes_when_server_answers(server: HTTPServer, status: int) -> None:
    body = {"object": "list", "data": []} if status == 200 else {"error": "no such route"}
    server.expect_request("/v1/models", method="GET").respond_with_json(body, status=status)
    make_model(base_url(server)).check()
    assert [req.path for req, _ in server.log] == ["/v1/models"]


# -- (8) the key never leaks --------------------------------------------------------------


def echo_auth(status: int):
    """A server that quotes the rejected key back, as real providers partly do."""

    def handler(request: WerkzeugRequest) -> WerkzeugResponse:
        body = {"error": {"message": f"Incorrect API key provided: {request.headers.get('Authorization')}"}}
        return WerkzeugResponse(json.dumps(body), status=status, content_type="application/json")

    return handler


def test_key_never_appears_in_fingerprint_or_repr() -> None:
    model = make_model("http://127.0.0.1:9/v1")
    fp = model.fingerprint()
    assert SENTINEL_KEY not in json.dumps(fp)
    assert SENTINEL_KEY not in repr(model)
    assert SENTINEL_KEY not in str(vars(model))
    assert fp["model_name"] == "gpt-4o" and fp["base_url"] == "http://127.0.0.1:9/v1"
    assert {"temperature", "max_tokens", "frame_interval_s", "max_frames", "frame_max_side"} <= fp.keys()


def test_fingerprint_tracks_what_changes_answers() -> None:
    base = make_model("http://127.0.0.1:9/v1").fingerprint()
    assert make_model("http://127.0.0.1:9/v1/").fingerprint() == base
    assert make_model("http://127.0.0.1:9/v1", api_key="other-key").fingerprint() == base
    assert make_model("http://127.0.0.1:9/v1", max_frames=16).fingerprint() != base
    assert make_model("http://127.0.0.1:9/v1", temperature=0.7).fingerprint() != base


@pytest.mark.parametrize("status", [400, 401, 403])
def test_key_echoed_by_server_is_redacted_from_errors(server: HTTPServer, status: int) -> None:
    server.expect_request(CHAT_PATH, method="POST").respond_with_handler(echo_auth(status))
    server.expect_request("/v1/models", method="GET").respond_with_handler(echo_auth(status))
    model = make_model(base_url(server))
    raised: list[BaseException] = []
    for call in (lambda: model.generate(make_request(Modality.AVT)), model.check):
        try:
            call()
        except Exception as exc:
            raised.append(exc)
    assert any(isinstance(e, ModelRequestError) for e in raised)
    for exc in raised:
        assert SENTINEL_KEY not in str(exc) and SENTINEL_KEY not in repr(exc)
        assert exc.__cause__ is None or SENTINEL_KEY not in str(exc.__cause__)


def test_key_absent_from_connection_errors() -> None:
    model = make_model(closed_port_url())
    for call, kind in (
        (lambda: model.generate(make_request(Modality.AVT)), ModelUnavailable),
        (model.check, ConfigError),
    ):
        with pytest.raises(kind) as info:
            call()
        assert SENTINEL_KEY not in str(info.value) and SENTINEL_KEY not in repr(info.value)


# -- (9) settings resolution --------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "env", "expected"),
    [
        (None, {}, ("https://api.openai.com/v1", None)),
        ("", {"OPENAI_API_KEY": ""}, ("https://api.openai.com/v1", None)),
        ("http://cfg/v1", {}, ("http://cfg/v1", None)),
        ("http://cfg/v1", {"OPENAI_API_BASE": "http://legacy/v1"}, ("http://legacy/v1", None)),
        (
            "http://cfg/v1",
            {"OPENAI_API_BASE": "http://legacy/v1", "OPENAI_BASE_URL": "http://sdk/v1"},
            ("http://sdk/v1", None),
        ),
        ("http://cfg/v1", {"OPENAI_BASE_URL": "", "OPENAI_API_BASE": ""}, ("http://cfg/v1", None)),
        (None, {"OPENAI_API_KEY": SENTINEL_KEY}, ("https://api.openai.com/v1", SENTINEL_KEY)),
    ],
)
def test_resolve_openai_settings_precedence(
    config: str | None, env: dict[str, str], expected: tuple[str, str | None]
) -> None:
    assert resolve_openai_settings(config, env) == expected


def test_close_closes_the_sdk_client_it_built_but_not_a_callers_http_client(server: HTTPServer) -> None:
    import openai

    own = make_model(base_url(server))
    built = own._sdk_client()
    own.close()
    assert built.is_closed() and own._sdk_client() is not built  # a later request gets a new client
    given = openai.DefaultHttpxClient()
    borrowed = make_model(base_url(server), http_client=given)
    borrowed._sdk_client()
    borrowed.close()
    assert not given.is_closed  # the caller's to close
    given.close()
