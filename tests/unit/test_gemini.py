"""Gemini's native client against a local fake of the Gemini REST API (never the real one).

The fake speaks what google-genai sends: ``models/{m}:generateContent``, the resumable upload
(``upload/.../files`` start, then the upload URL with ``upload, finalize``), ``files/{name}``
get/delete and ``models/{m}`` get.
"""

from __future__ import annotations

import base64
import email.utils
import io
import itertools
import json
import re
import socket
import time
import wave
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request as WzRequest
from werkzeug import Response

from tests.standins.tiny_omni import make_clip
from vsync_models.config import load_config
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request
from vsync_models.errors import ConfigError, ModelRequestError, ModelUnavailable
from vsync_models.models.base import ask
from vsync_models.models.gemini import GeminiModel
from vsync_models.models.openai_compat import OpenAICompatModel
from vsync_models.models.registry import build_model
from vsync_models.types import Item, Modality

pytest.importorskip("google.genai", reason="google-genai is the [gemini] extra (also in [dev])")

KEY = "test-key-123"
VERSION = r"/v1[a-z0-9]*"


def error_json(code: int, status: str, message: str, details: list | None = None) -> str:
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json.dumps({"error": error})


def answer_json(text: str = "B", *, audio_tokens: int = 25) -> dict:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
        "usageMetadata": {
            "promptTokenCount": 300,
            "candidatesTokenCount": 1,
            "totalTokenCount": 301,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 75},
                {"modality": "VIDEO", "tokenCount": 200},
                {"modality": "AUDIO", "tokenCount": audio_tokens},
            ],
        },
    }


class FakeGemini:
    """Just enough of the Gemini API, with scripted answers and file states."""

    def __init__(self, httpserver) -> None:
        self.url = httpserver.url_for("/").rstrip("/")
        self.files: dict[str, dict] = {}
        self.states: dict[str, list[str]] = {}
        self.after_upload = ["PROCESSING", "ACTIVE"]
        self.answers: list = []
        self.generated: list[dict] = []
        self.uploads: list[tuple[str, bytes]] = []
        self.gets = 0
        self.conflicts = 0
        self.hidden_once: set[str] = set()
        self.model_status = 200
        self.sessions: dict[str, str] = {}
        httpserver.expect_request(
            re.compile(rf"^{VERSION}/models/[^/:]+:generateContent$"), method="POST"
        ).respond_with_handler(self.generate)
        httpserver.expect_request(
            re.compile(rf"^/upload{VERSION}/files$"), method="POST"
        ).respond_with_handler(self.upload_start)
        httpserver.expect_request(re.compile(r"^/upload-session/\d+$"), method="POST").respond_with_handler(
            self.upload_data
        )
        httpserver.expect_request(re.compile(rf"^{VERSION}/files/[^/]+$"), method="GET").respond_with_handler(
            self.get_file
        )
        httpserver.expect_request(
            re.compile(rf"^{VERSION}/files/[^/]+$"), method="DELETE"
        ).respond_with_handler(self.delete_file)
        httpserver.expect_request(
            re.compile(rf"^{VERSION}/models/[^/:]+$"), method="GET"
        ).respond_with_handler(self.get_model)
        self._ids = itertools.count(1)

    def file_json(self, name: str) -> dict:
        states = self.states[name]
        return {"name": name, "uri": f"{self.url}/v1beta/{name}", "mimeType": "video/mp4", "state": states[0]}

    def generate(self, request: WzRequest) -> Response:
        assert request.headers["x-goog-api-key"] == KEY
        self.generated.append(json.loads(request.get_data()))
        answer = self.answers.pop(0) if self.answers else answer_json()
        if isinstance(answer, Response):
            return answer
        if isinstance(answer, float):
            time.sleep(answer)
            answer = answer_json()
        return Response(json.dumps(answer), content_type="application/json")

    def upload_start(self, request: WzRequest) -> Response:
        assert request.headers["X-Goog-Upload-Command"] == "start"
        name = json.loads(request.get_data())["file"]["name"]
        if name in self.files:
            self.conflicts += 1
            return Response(
                error_json(409, "ALREADY_EXISTS", "exists"), status=409, content_type="application/json"
            )
        session = str(next(self._ids))
        self.sessions[session] = name
        return Response(
            "{}",
            content_type="application/json",
            headers={"x-goog-upload-url": f"{self.url}/upload-session/{session}"},
        )

    def upload_data(self, request: WzRequest) -> Response:
        assert "finalize" in request.headers["X-Goog-Upload-Command"]
        name = self.sessions[request.path.rsplit("/", 1)[1]]
        self.uploads.append((name, request.get_data()))
        self.files[name] = {"data": request.get_data()}
        self.states[name] = list(self.after_upload)
        return Response(
            json.dumps({"file": self.file_json(name)}),
            content_type="application/json",
            headers={"x-goog-upload-status": "final"},
        )

    def get_file(self, request: WzRequest) -> Response:
        self.gets += 1
        name = "files/" + request.path.rsplit("/", 1)[1]
        if name not in self.files or name in self.hidden_once:
            self.hidden_once.discard(name)
            return Response(
                error_json(404, "NOT_FOUND", "no such file"), status=404, content_type="application/json"
            )
        if len(self.states[name]) > 1:
            self.states[name].pop(0)
        return Response(json.dumps(self.file_json(name)), content_type="application/json")

    def delete_file(self, request: WzRequest) -> Response:
        name = "files/" + request.path.rsplit("/", 1)[1]
        self.files.pop(name, None)
        return Response("{}", content_type="application/json")

    def get_model(self, request: WzRequest) -> Response:
        if self.model_status != 200:
            status = {403: "PERMISSION_DENIED", 404: "NOT_FOUND"}.get(self.model_status, "INTERNAL")
            return Response(
                error_json(self.model_status, status, f"nope {KEY}"),
                status=self.model_status,
                content_type="application/json",
            )
        return Response(json.dumps({"name": request.path.split("/", 2)[2]}), content_type="application/json")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("gemini") / "clip.mp4", seconds=1.0)


@pytest.fixture
def fake(httpserver) -> FakeGemini:
    return FakeGemini(httpserver)


@pytest.fixture
def env(tmp_path: Path) -> SimpleNamespace:
    return SimpleNamespace(preparer=MediaPreparer(tmp_path / "media"), sleeps=[])


def gemini(fake: FakeGemini, env: SimpleNamespace, **kw) -> GeminiModel:
    kw.setdefault("sleep", env.sleeps.append)
    kw.setdefault("rng", lambda: 1.0)  # the nominal backoff; jitter is tested in test_retry
    return GeminiModel("gemini_2_5_flash", "gemini-2.5-flash", KEY, base_url=fake.url, **kw)


def request_for(clip: Path, modality: Modality, env: SimpleNamespace):
    item = Item(
        id="g1",
        video_path=clip.name,
        question="Who said it?",
        options=("A. the red one", "B. the blue one"),
        correct_answer="B",
        video_file=clip,
        asr_content="it was said",
    )
    return build_request(item, modality, PromptSettings(), env.preparer)


def field(obj: dict, camel: str):
    """The SDK writes some nested keys in camelCase and some in snake_case; the API takes both."""
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return obj[camel] if camel in obj else obj[snake]


def inline(part: dict) -> tuple[str, bytes]:
    data = field(part, "inlineData")
    payload = data["data"]
    return field(data, "mimeType"), base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def streams_of(data: bytes) -> set[str]:
    with av.open(io.BytesIO(data)) as container:
        return {s.type for s in container.streams}


def test_avt_sends_the_clip_itself_inline_so_gemini_hears_it(fake, env, clip):
    model = gemini(fake, env, max_tokens=5)
    out = model.generate(request_for(clip, Modality.AVT, env))
    assert out.text == "B"
    assert (
        out.usage["audio_tokens"] == 25
        and out.usage["video_tokens"] == 200
        and out.usage["prompt_tokens"] == 300
    )
    (body,) = fake.generated
    video, text = body["contents"][0]["parts"]
    mime, data = inline(video)
    assert mime == "video/mp4" and data == clip.read_bytes()
    assert "[ASR]\nit was said" in text["text"] and text["text"].endswith("Who said it?")
    config = body["generationConfig"]
    assert config["temperature"] == 0.0 and config["maxOutputTokens"] == 5
    assert fake.uploads == []


def test_vt_sends_a_video_without_audio_and_at_a_wav_of_the_audio_alone(fake, env, clip):
    model = gemini(fake, env)
    model.generate(request_for(clip, Modality.VT, env))
    model.generate(request_for(clip, Modality.AT, env))
    vt, at = (body["contents"][0]["parts"] for body in fake.generated)
    mime, data = inline(vt[0])
    assert mime == "video/mp4" and streams_of(data) == {"video"}
    assert "[ASR]" not in vt[1]["text"]
    mime, data = inline(at[0])
    assert mime == "audio/wav"
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 16000, 2)
        assert abs(wav.getnframes() / 16000 - 1.0) < 0.1


def test_thinking_budget_and_video_fps_are_sent_and_fingerprinted(fake, env, clip):
    model = gemini(fake, env, max_tokens=8, thinking_budget=128, video_fps=4.0)
    model.generate(request_for(clip, Modality.AVT, env))
    body = fake.generated[0]
    assert body["generationConfig"]["maxOutputTokens"] == 8 + 128
    assert field(field(body["generationConfig"], "thinkingConfig"), "thinkingBudget") == 128
    video = body["contents"][0]["parts"][0]
    assert field(video, "videoMetadata")["fps"] == 4.0
    fp = model.fingerprint()
    assert fp["thinking_budget"] == 128 and fp["video_fps"] == 4.0 and KEY not in json.dumps(fp)
    assert KEY not in repr(model)


def test_large_files_go_through_the_files_api_once_and_wait_until_active(fake, env, clip):
    model = gemini(fake, env, inline_max_bytes=1000, poll_interval_s=0.5)
    model.generate(request_for(clip, Modality.AVT, env))
    model.generate(request_for(clip, Modality.AVT, env))
    ((name, data),) = fake.uploads
    assert re.fullmatch(r"files/vsync-[0-9a-f]{34}", name) and data == clip.read_bytes()
    assert env.sleeps == [0.5], "polled once while PROCESSING"
    for body in fake.generated:
        part = body["contents"][0]["parts"][0]
        file_data = field(part, "fileData")
        assert field(file_data, "fileUri").endswith(name) and field(file_data, "mimeType") == "video/mp4"

    # Another process (an xdist worker, the next run) finds the file by its content name.
    gets = fake.gets
    gemini(fake, env, inline_max_bytes=1000).generate(request_for(clip, Modality.AVT, env))
    assert len(fake.uploads) == 1 and fake.gets == gets + 1


def test_an_upload_race_with_another_worker_reuses_its_file(fake, env, clip):
    gemini(fake, env, inline_max_bytes=1000).generate(
        request_for(clip, Modality.AVT, env)
    )  # the other worker
    ((name, _),) = fake.uploads
    fake.hidden_once.add(name)  # it lands between our look-up and our upload: the upload conflicts
    out = gemini(fake, env, inline_max_bytes=1000).generate(request_for(clip, Modality.AVT, env))
    assert out.text == "B"
    assert len(fake.uploads) == 1 and fake.conflicts == 1


def test_a_file_that_fails_processing_is_a_request_error(fake, env, clip):
    fake.after_upload = ["PROCESSING", "FAILED"]
    model = gemini(fake, env, inline_max_bytes=1000)
    with pytest.raises(ModelRequestError, match="could not process files/vsync-"):
        model.generate(request_for(clip, Modality.AVT, env))


def test_a_file_that_never_becomes_active_times_out_as_unavailable(fake, env, clip):
    fake.after_upload = ["PROCESSING"]
    ticks = itertools.count(0.0, 30.0)
    model = gemini(fake, env, inline_max_bytes=1000, active_timeout_s=100, clock=lambda: next(ticks))
    with pytest.raises(ModelUnavailable, match="still PROCESSING after 100s"):
        model.generate(request_for(clip, Modality.AVT, env))


def test_429_is_retried_after_the_retry_after_header(fake, env, clip):
    fake.answers = [
        Response(
            error_json(429, "RESOURCE_EXHAUSTED", "slow down"),
            status=429,
            headers={"Retry-After": "7"},
            content_type="application/json",
        ),
        answer_json("A"),
    ]
    assert gemini(fake, env).generate(request_for(clip, Modality.AVT, env)).text == "A"
    assert env.sleeps == [7.0]


def test_retry_after_as_a_date_and_retry_info_in_the_body_are_honoured(fake, env, clip):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    retry_info = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]
    fake.answers = [
        Response(
            error_json(503, "UNAVAILABLE", "later"),
            status=503,
            headers={"Retry-After": when},
            content_type="application/json",
        ),
        Response(
            error_json(429, "RESOURCE_EXHAUSTED", "quota", retry_info),
            status=429,
            content_type="application/json",
        ),
        Response(error_json(500, "INTERNAL", "oops"), status=500, content_type="application/json"),
        answer_json("C"),
    ]
    out = gemini(fake, env).generate(request_for(clip, Modality.AVT, env))
    assert out.text == "C" and out.retries == 3
    date_wait, info_wait, backoff = env.sleeps
    assert 15 <= date_wait <= 21 and info_wait == 3.0 and backoff == 4.0


def test_persistent_server_errors_become_error_outcomes_not_answers(fake, env, clip):
    fake.answers = [
        Response(error_json(500, "INTERNAL", "broken"), status=500, content_type="application/json")
    ] * 3
    model = gemini(fake, env, max_retries=2)
    response = ask(model, request_for(clip, Modality.AVT, env))
    assert response.text == "" and "HTTP 500" in response.error and "after 3 attempts" in response.error
    assert response.error_kind == "server_error" and response.retries == 2
    assert env.sleeps == [1.0, 2.0]


def test_client_errors_are_not_retried_and_the_key_is_never_shown(fake, env, clip):
    fake.answers = [
        Response(
            error_json(400, "INVALID_ARGUMENT", f"bad request for key {KEY}"),
            status=400,
            content_type="application/json",
        )
    ]
    with pytest.raises(ModelRequestError) as info:
        gemini(fake, env).generate(request_for(clip, Modality.AVT, env))
    assert "HTTP 400" in str(info.value) and KEY not in str(info.value) and "***" in str(info.value)
    assert info.value.kind == "bad_request" and info.value.retries == 0
    assert env.sleeps == []


def test_timeouts_are_retried_then_unavailable(env, clip):
    # A server of its own: the timed-out requests are still being answered after the test.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        own = FakeGemini(server)
        own.answers = [0.6, 0.6]
        model = GeminiModel(
            "g",
            "gemini-2.5-flash",
            KEY,
            base_url=own.url,
            sleep=env.sleeps.append,
            rng=lambda: 1.0,
            timeout_s=0.2,
            max_retries=1,
        )
        with pytest.raises(ModelUnavailable, match=r"within 0\.2s"):
            model.generate(request_for(clip, Modality.AVT, env))
        assert env.sleeps == [1.0]
    finally:
        server.clear()
        server.stop()


def test_an_unreachable_endpoint_is_unavailable(env, clip):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = GeminiModel(
        "g",
        "gemini-2.5-flash",
        KEY,
        base_url=f"http://127.0.0.1:{port}",
        sleep=env.sleeps.append,
        max_retries=1,
    )
    with pytest.raises(ModelUnavailable, match="cannot reach"):
        model.generate(request_for(clip, Modality.AVT, env))


def test_blocked_prompts_and_empty_answers_are_request_errors(fake, env, clip):
    fake.answers = [
        {"promptFeedback": {"blockReason": "SAFETY"}},
        {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "MAX_TOKENS"}]},
    ]
    model = gemini(fake, env)
    with pytest.raises(ModelRequestError, match="prompt blocked: SAFETY"):
        model.generate(request_for(clip, Modality.AVT, env))
    with pytest.raises(ModelRequestError, match="thinking used it up"):
        model.generate(request_for(clip, Modality.AVT, env))


def test_check_reports_key_model_and_reachability_problems(fake, env):
    gemini(fake, env).check()
    fake.model_status = 403
    with pytest.raises(ConfigError, match="API key rejected") as info:
        gemini(fake, env).check()
    assert KEY not in str(info.value)
    fake.model_status = 404
    with pytest.raises(ConfigError, match=r"has no model 'gemini-2\.5-flash'"):
        gemini(fake, env).check()
    with pytest.raises(ConfigError, match="needs an API key: set GEMINI_API_KEY"):
        GeminiModel("g", "gemini-2.5-flash", None, base_url=fake.url).check()


def test_registry_uses_the_native_client_unless_an_openai_endpoint_is_configured(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "models: {gemini_2_5_pro: {thinking_budget: 256}}\n",
        encoding="utf-8",
    )
    env = {"GEMINI_API_KEY": KEY, "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:1"}
    native = build_model("gemini_2_5_flash", load_config(path, environ=env))
    assert isinstance(native, GeminiModel) and native.base_url == "http://127.0.0.1:1"
    assert native.model_name == "gemini-2.5-flash" and native._key_source() == KEY
    assert native.thinking_budget == 0, "Flash answers without thinking unless told otherwise"
    pro = build_model("gemini_2_5_pro", load_config(path, environ=env))
    assert pro.thinking_budget == 256 and pro.model_name == "gemini-2.5-pro"

    path.write_text("api: {gemini: {base_url: 'http://127.0.0.1:2/openai'}}\n", encoding="utf-8")
    assert isinstance(build_model("gemini_2_5_flash", load_config(path, environ=env)), OpenAICompatModel)
    path.write_text("models: {gemini_2_5_flash: {client: openai}}\n", encoding="utf-8")
    assert isinstance(build_model("gemini_2_5_flash", load_config(path, environ=env)), OpenAICompatModel)
    path.write_text("models: {gemini_2_5_flash: {client: carrier-pigeon}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'native' or 'openai'"):
        build_model("gemini_2_5_flash", load_config(path, environ=env))


def test_close_closes_the_sdk_client_and_a_later_request_builds_a_new_one(fake, env):
    model = gemini(fake, env)
    closed = []
    built = model._sdk()
    built.close = lambda: closed.append(True)  # the real close, observed
    model.close()
    assert closed == [True] and model._sdk() is not built
    model.close()
