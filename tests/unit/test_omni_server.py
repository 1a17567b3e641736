"""The omni-server client: what each modality puts on the wire, fingerprints, preflight, errors, canary.

Against the real server app with the stand-in :class:`~tests.standins.tiny_omni.EchoBackend` (it
reports the streams of every file it received), plus pytest-httpserver for scripted failures.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest
from werkzeug import Response

from tests.standins.tiny_omni import EchoBackend, make_clip, serve_app
from vsync_models.config import load_config
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request
from vsync_models.errors import ConfigError, ModelRequestError, ModelUnavailable, ServerGone
from vsync_models.models import omni_server
from vsync_models.models.base import ask
from vsync_models.models.omni_server import OmniServerModel, ServerLaunch, audio_canary
from vsync_models.models.registry import build_model, known_models
from vsync_models.serve.app import ServerSettings, create_app
from vsync_models.types import Item, Modality

OPTIONS = ("A. the red circle", "B. the blue square")


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    d = tmp_path_factory.mktemp("client-clips")
    return SimpleNamespace(dir=d, av=make_clip(d / "av.mp4", seconds=1.0))


@pytest.fixture
def preparer(tmp_path: Path) -> MediaPreparer:
    return MediaPreparer(tmp_path / "media")


def make_request(clip: Path, modality: Modality, preparer: MediaPreparer):
    item = Item(
        id="q1",
        video_path=clip.name,
        question="Which shape said hello?",
        options=OPTIONS,
        correct_answer="A",
        video_file=clip,
        asr_content="hello there",
    )
    return build_request(item, modality, PromptSettings(), preparer)


def echo_app(backend: EchoBackend | None = None, *allowed: Path, limit: int = 64 * 1024 * 1024):
    settings = ServerSettings(
        served_model_name="echo-model", allowed_local_media_paths=allowed, max_request_bytes=limit
    )
    return create_app(backend or EchoBackend(), settings)


@pytest.fixture(scope="module")
def echo_url():
    with serve_app(echo_app()) as url:
        yield url


def seen(output) -> dict:
    return json.loads(output.text)


def no_sleep(_: float) -> None:
    return None


def test_avt_sends_the_clip_with_its_audio_and_use_audio_in_video(echo_url, clips, preparer):
    model = OmniServerModel("qwen2_5_omni", echo_url, max_tokens=5)
    request = make_request(clips.av, Modality.AVT, preparer)
    body = model.build_body(request)
    (video, text) = body["messages"][0]["content"]
    assert video["type"] == "video_url" and text["type"] == "text"
    header, payload = video["video_url"]["url"].split(",", 1)
    assert header == "data:video/mp4;base64"
    assert base64.b64decode(payload) == clips.av.read_bytes(), "avt sends the clip itself"
    assert body["mm_processor_kwargs"] == {"use_audio_in_video": True}
    assert body["modality"] == "avt" and body["model"] == "echo-model" and body["max_tokens"] == 5
    assert "[ASR]\nhello there" in text["text"] and text["text"].endswith("Which shape said hello?")

    out = model.generate(request)
    got = seen(out)
    assert got["use_audio_in_video"] is True
    assert [m["streams"] for m in got["media"]] == [["audio", "video"]]
    assert out.usage["audio_tokens"] == 100 and out.usage["video_tokens"] == 50
    assert out.usage["total_tokens"] == out.usage["prompt_tokens"] + out.usage["completion_tokens"]


def test_vt_sends_a_copy_without_audio_and_no_transcript(echo_url, clips, preparer):
    model = OmniServerModel("qwen2_5_omni", echo_url)
    request = make_request(clips.av, Modality.VT, preparer)
    body = model.build_body(request)
    assert "mm_processor_kwargs" not in body and body["modality"] == "vt"
    assert [p["type"] for p in body["messages"][0]["content"]] == ["video_url", "text"]
    assert "[ASR]" not in body["messages"][0]["content"][-1]["text"]
    got = seen(model.generate(request))
    assert got["use_audio_in_video"] is False
    assert [m["streams"] for m in got["media"]] == [["video"]], "the file itself has no audio stream"


def test_at_sends_the_audio_track_alone(echo_url, clips, preparer):
    model = OmniServerModel("qwen2_5_omni", echo_url)
    request = make_request(clips.av, Modality.AT, preparer)
    body = model.build_body(request)
    (audio, _text) = body["messages"][0]["content"]
    assert audio["type"] == "audio_url" and audio["audio_url"]["url"].startswith("data:audio/mp4;base64,")
    got = seen(model.generate(request))
    assert [(m["kind"], m["streams"]) for m in got["media"]] == [("audio", ["audio"])]


def test_separate_audio_mode_sends_video_and_audio_parts(echo_url, clips, preparer):
    model = OmniServerModel("qwen2_5_omni", echo_url, audio_mode="separate")
    got = seen(model.generate(make_request(clips.av, Modality.AVT, preparer)))
    assert [m["kind"] for m in got["media"]] == ["video", "audio"]
    assert got["use_audio_in_video"] is False


def test_path_transport_sends_file_urls_that_the_server_reads(clips, preparer):
    with serve_app(echo_app(None, clips.dir, preparer.cache_dir.parent)) as url:
        model = OmniServerModel("qwen2_5_omni", url, media_transport="path")
        avt = model.build_body(make_request(clips.av, Modality.AVT, preparer))
        assert avt["messages"][0]["content"][0]["video_url"]["url"] == f"file://{clips.av.resolve()}"
        got = seen(model.generate(make_request(clips.av, Modality.VT, preparer)))
        assert got["media"][0]["streams"] == ["video"]
        assert Path(got["media"][0]["parent"]).is_relative_to(preparer.cache_dir.resolve())


def test_video_sampling_and_decoding_settings_travel_with_each_request(echo_url, clips, preparer):
    model = OmniServerModel(
        "qwen2_5_omni",
        echo_url,
        max_tokens=9,
        temperature=0.3,
        top_p=0.8,
        seed=4,
        video_fps=1.0,
        max_frames=6,
    )
    body = model.build_body(make_request(clips.av, Modality.VT, preparer))
    assert body["mm_processor_kwargs"] == {"fps": 1.0, "max_frames": 6}
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.3, 0.8, 4)
    got = seen(model.generate(make_request(clips.av, Modality.VT, preparer)))
    assert got["video"]["fps"] == 1.0 and got["video"]["max_frames"] == 6 and got["max_new_tokens"] == 9


def test_fingerprint_names_the_served_checkpoint_and_its_config_hash(echo_url):
    fp = OmniServerModel("qwen2_5_omni", echo_url).fingerprint()
    assert fp["server"] == {
        "model": "echo-model",
        "checkpoint": "/models/echo",
        "backend": "echo",
        "config_hash": "c0ffee",
        "weights_id": "w1",
    }
    json.dumps(fp)  # cache keys need JSON
    with serve_app(echo_app(EchoBackend(drop_audio=True))) as other:
        assert OmniServerModel("qwen2_5_omni", other).fingerprint() != fp
    assert OmniServerModel("qwen2_5_omni", echo_url, max_tokens=7).fingerprint() != fp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_check_names_the_url_and_how_to_start_a_server():
    port = free_port()
    launch = ServerLaunch(backend="qwen3_omni", model_path="/models/q3", port=port)
    model = OmniServerModel("qwen3_omni", f"http://127.0.0.1:{port}", launch=launch, sleep=no_sleep)
    with pytest.raises(ConfigError) as info:
        model.check()
    message = str(info.value)
    assert f"http://127.0.0.1:{port}" in message
    assert (
        f"python -m vsync_models.serve --backend qwen3_omni --model-path /models/q3 --port {port}" in message
    )
    assert "models.qwen3_omni.server_url" in message


def test_check_passes_against_a_running_server_and_refuses_the_wrong_backend(echo_url):
    OmniServerModel("qwen2_5_omni", echo_url, expected_backend="echo").check()
    with pytest.raises(ConfigError, match="serves backend 'echo'"):
        OmniServerModel("qwen2_5_omni", echo_url, expected_backend="qwen2_5_omni").check()
    with pytest.raises(ConfigError, match="not 'other-model'"):
        OmniServerModel("qwen2_5_omni", echo_url, model_name="other-model").check()


def test_server_errors_are_model_errors_never_answers(clips, preparer):
    backend = EchoBackend()
    backend.fail_with = RuntimeError("kaput")
    with serve_app(echo_app(backend)) as url:
        model = OmniServerModel("qwen2_5_omni", url)
        request = make_request(clips.av, Modality.AVT, preparer)
        with pytest.raises(ModelRequestError, match=r"HTTP 500: generation failed: RuntimeError: kaput"):
            model.generate(request)
        response = ask(model, request)
        assert response.text == "" and "kaput" in response.error


def test_a_server_that_is_gone_is_latched_and_never_asked_again(clips, preparer):
    sleeps: list[float] = []
    url = f"http://127.0.0.1:{free_port()}"
    model = OmniServerModel("qwen2_5_omni", url, max_retries=2, sleep=sleeps.append, rng=lambda: 1.0)
    request = make_request(clips.av, Modality.AVT, preparer)
    with pytest.raises(ServerGone, match=rf"the model server at {url} is gone \(.*/health does not answer"):
        model.generate(request)
    assert sleeps == [1.0, 2.0] and model.gone is not None
    with pytest.raises(ServerGone) as again:
        model.generate(request)
    assert str(again.value) == model.gone and sleeps == [1.0, 2.0], "no second round of retries"
    model.connect(url)  # a new server (e.g. restarted) starts with a clean slate
    assert model.gone is None


def test_every_thread_asks_through_one_client_and_close_ends_it(echo_url, clips, preparer, monkeypatch):
    made: list[httpx2.Client] = []
    users: dict[int, set[int]] = {}
    real = omni_server.BoundedClient

    class Spy(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

        def request(self, *args: object, **kwargs: object) -> httpx2.Response:
            users.setdefault(id(self), set()).add(threading.get_ident())
            return super().request(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(omni_server, "BoundedClient", Spy)
    model = OmniServerModel("qwen2_5_omni", echo_url, token="t0ken")
    model.fingerprint()
    request = make_request(clips.av, Modality.AT, preparer)
    together = threading.Barrier(4)  # all four alive at once: four distinct threads
    errors: list[str | None] = []

    def worker() -> None:
        together.wait(10)
        errors.extend(ask(model, request).error for _ in range(2))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [None] * 8
    assert len(made) == 1 and len(users[id(made[0])]) == 5, "one client, shared by every thread"
    assert made[0].headers["Authorization"] == "Bearer t0ken"
    assert "t0ken" not in str(vars(model))
    model.close()
    assert made[0].is_closed and len(made) == 2, (
        "close builds the next client at once, not in a request thread"
    )
    assert made[1].headers["Authorization"] == "Bearer t0ken"
    assert model.generate(request).text and not made[1].is_closed


class RefusingChatButHealthy:
    """A server whose chat endpoint drops the connection while /health still answers."""

    def __init__(self) -> None:
        self.health_checks = 0

    def request(self, method: str, url: str, **_: object) -> object:
        raise httpx2.ConnectError("Connection reset by peer")

    def get(self, url: str, **_: object) -> object:
        self.health_checks += 1
        return SimpleNamespace(status_code=200)


def test_a_connection_error_with_a_healthy_server_is_not_latched(clips, preparer):
    client = RefusingChatButHealthy()
    model = OmniServerModel("qwen2_5_omni", "http://127.0.0.1:9", max_retries=0, http_client=client)  # type: ignore[arg-type]
    with pytest.raises(ModelUnavailable, match="cannot reach") as info:
        model.generate(make_request(clips.av, Modality.AVT, preparer))
    assert not isinstance(info.value, ServerGone) and model.gone is None and client.health_checks == 1


def models_json(vsync: dict | None = None) -> dict:
    card = {"id": "m", "object": "model", "root": "/ckpt"}
    if vsync is not None:
        card["vsync"] = vsync
    return {"object": "list", "data": [card]}


def completion(text: str = "B") -> dict:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def test_busy_server_is_retried_honouring_retry_after(httpserver, clips, preparer):
    httpserver.expect_request("/v1/models").respond_with_json(models_json())
    answers = iter(
        [
            Response("busy", status=503, headers={"Retry-After": "7"}),
            Response("busy", status=429),
            Response(json.dumps(completion("B")), status=200, content_type="application/json"),
        ]
    )
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_handler(
        lambda _: next(answers)
    )
    sleeps: list[float] = []
    model = OmniServerModel("qwen2_5_omni", httpserver.url_for("/v1"), sleep=sleeps.append, rng=lambda: 1.0)
    out = model.generate(make_request(clips.av, Modality.VT, preparer))
    assert out.text == "B" and out.usage == {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}
    assert sleeps == [7.0, 2.0]


def test_vllm_style_server_without_vsync_block_still_fingerprints(httpserver, clips, preparer):
    httpserver.expect_request("/v1/models").respond_with_json(models_json())
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json({"choices": []})
    model = OmniServerModel("qwen3_omni", httpserver.url_for("/"))
    assert model.fingerprint()["server"]["checkpoint"] == "/ckpt"
    with pytest.raises(ModelRequestError, match="no choices"):
        model.generate(make_request(clips.av, Modality.VT, preparer))


def test_uploads_larger_than_the_server_accepts_fail_before_sending(httpserver, clips, preparer):
    httpserver.expect_request("/v1/models").respond_with_json(models_json({"max_request_bytes": 1000}))
    model = OmniServerModel("qwen2_5_omni", httpserver.url_for("/v1"))
    with pytest.raises(ModelRequestError, match="too large to upload"):
        model.generate(make_request(clips.av, Modality.AVT, preparer))
    assert not any(req.path.endswith("/chat/completions") for req, _ in httpserver.log)


def test_an_item_started_while_the_server_was_down_is_not_cached_under_a_serverless_key(
    httpserver, clips, preparer
):
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(completion())
    model = OmniServerModel("qwen2_5_omni", httpserver.url_for("/v1"), max_retries=0)
    httpserver.expect_oneshot_request("/v1/models").respond_with_data("down", status=500)
    fp = model.fingerprint()
    assert fp["server"] == {"unreachable": model.base_url}
    httpserver.expect_request("/v1/models").respond_with_json(models_json({"config_hash": "h"}))
    request = make_request(clips.av, Modality.VT, preparer)
    with pytest.raises(ModelUnavailable, match="unreachable when this item started"):
        model.generate(request)
    assert model.fingerprint()["server"]["config_hash"] == "h"
    assert model.generate(request).text == "B"


# -- audio canary -------------------------------------------------------------------------------


def test_audio_canary_passes_when_audio_costs_prompt_tokens(echo_url, clips, preparer):
    record = audio_canary(OmniServerModel("qwen2_5_omni", echo_url), clips.av, preparer)
    assert record.passed and record.status == "passed"
    assert record.prompt_tokens_with_audio - record.prompt_tokens_without_audio == 100
    assert record.audio_tokens == 100 and record.transcript is None and record.heard_expected is None
    assert json.loads(json.dumps(record.to_record()))["clip_sha256"] == record.clip_sha256


def test_audio_canary_fails_when_the_server_drops_audio(clips, preparer):
    with serve_app(echo_app(EchoBackend(drop_audio=True))) as url:
        record = audio_canary(
            OmniServerModel("qwen2_5_omni", url), clips.av, preparer, expected_words=["hello"]
        )
    assert record.status == "failed" and not record.passed
    assert "does not reach the model" in record.detail
    assert record.heard_expected is False and record.transcript is not None


def test_audio_canary_reports_an_unreachable_server_as_error(clips, preparer):
    model = OmniServerModel("qwen2_5_omni", f"http://127.0.0.1:{free_port()}", max_retries=0)
    record = audio_canary(model, clips.av, preparer)
    assert record.status == "error" and "ServerGone" in record.detail and "is gone" in record.detail


# -- registry -----------------------------------------------------------------------------------


def config(tmp_path: Path, text: str, env: dict | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=env or {})


def test_registry_serves_the_original_local_names_through_the_client(tmp_path):
    cfg = config(
        tmp_path,
        "models:\n  defaults: {max_tokens: 32}\n"
        "  qwen2_5_omni: {server_url: 'http://10.0.0.5:9000', num_video_frames: 16, use_audio_in_video: false}\n"
        "  qwen3_omni: {host: 127.0.0.1, port: 8123, model_path: /models/q3, gpu_ids: [0, 1]}\n",
    )
    q25 = build_model("qwen2_5_omni", cfg)
    assert isinstance(q25, OmniServerModel)
    assert q25.base_url == "http://10.0.0.5:9000/v1" and q25.video["max_frames"] == 16
    assert q25.audio_mode == "separate" and q25.max_tokens == 32
    q3 = build_model("qwen3_omni", cfg)
    assert q3.base_url == "http://127.0.0.1:8123/v1" and q3.expected_backend == "qwen3_omni"
    assert q3.launch == ServerLaunch(
        backend="qwen3_omni", model_path="/models/q3", host="127.0.0.1", port=8123, gpu_ids=(0, 1)
    )
    assert "CUDA_VISIBLE_DEVICES=0,1 python -m vsync_models.serve --backend qwen3_omni" in q3.launch.command()
    thinking = build_model("qwen3_omni_thinking", cfg)
    assert thinking.max_tokens == 4096, "models.defaults.max_tokens is for letter answers, not for thinking"
    assert thinking.launch.model_path == "Qwen/Qwen3-Omni-30B-A3B-Thinking"
    assert thinking.base_url == "http://127.0.0.1:8000/v1"

    tiny = build_model("qwen2_5_omni_tiny", cfg)
    assert tiny.launch.tiny and tiny.launch.backend == "qwen2_5_omni"
    assert "--video-max-pixels" in tiny.launch.extra_args
    assert {"qwen2_5_omni", "qwen3_omni", "qwen3_omni_thinking", "qwen2_5_omni_tiny"} <= set(
        known_models(cfg)
    )
    assert "miniomni_2" not in known_models(cfg)
    with pytest.raises(ConfigError, match="not supported yet"):
        build_model("miniomni_2", cfg)


def test_registry_serves_qwen_with_vllm_sending_audio_as_its_own_wav_stream(tmp_path):
    cfg = config(
        tmp_path,
        "models:\n"
        "  qwen3_omni: {engine: vllm, model_path: /models/q3, gpu_ids: [2, 3], port: 8300,\n"
        "               startup_timeout: 2400, vllm_args: '--gpu-memory-utilization 0.9'}\n",
    )
    q3 = build_model("qwen3_omni", cfg)
    assert q3.launch.engine == "vllm" and q3.launch.startup_timeout_s == 2400
    assert q3.launch.vllm.tensor_parallel_size == 2, "tensor parallel over the configured GPUs"
    assert q3.audio_mode == "separate" and q3.audio_format == "wav", "vllm serve cannot interleave"
    assert q3.expected_backend is None, "vLLM's /v1/models has no vsync block to compare"
    assert "separate WAV audio_url" in q3.audio_feed
    assert q3.launch.command() == (
        "CUDA_VISIBLE_DEVICES=2,3 vllm serve /models/q3 --host 127.0.0.1 --port 8300 "
        "--tensor-parallel-size 2 --dtype bfloat16 --max-model-len 32768 "
        '--limit-mm-per-prompt \'{"image":0,"video":1,"audio":1}\' --gpu-memory-utilization 0.9'
    )
    # --engine overrides the config, both ways; an explicit audio_mode still wins.
    assert build_model("qwen3_omni", cfg, engine="transformers").launch.engine == "transformers"
    q25 = build_model(
        "qwen2_5_omni", config(tmp_path, "models: {qwen2_5_omni: {audio_mode: in_video}}\n"), "vllm"
    )
    assert (
        q25.launch.engine == "vllm"
        and q25.audio_mode == "in_video"
        and q25.launch.vllm.tensor_parallel_size == 1
    )
    assert build_model("qwen3_omni", config(tmp_path, "")).launch.startup_timeout_s == 1800


def test_registry_refuses_unknown_engines_and_engines_for_other_models(tmp_path):
    with pytest.raises(
        ConfigError, match=r"models\.qwen3_omni\.engine = 'sglang': must be 'transformers' or 'vllm'"
    ):
        build_model("qwen3_omni", config(tmp_path, "models:\n  qwen3_omni: {engine: sglang}\n"))
    with pytest.raises(ConfigError, match="--engine applies to the local omni models"):
        build_model("gpt4o", config(tmp_path, ""), engine="vllm")


def test_vllm_layout_sends_wav_audio_apart_and_frame_sampling_to_the_video_loader(clips, preparer):
    with serve_app(echo_app()) as url:
        model = OmniServerModel(
            "qwen3_omni",
            url,
            engine="vllm",
            audio_mode="separate",
            audio_format="wav",
            max_frames=4,
            video_fps=2.0,
            max_pixels=12544,
        )
        avt = model.build_body(make_request(clips.av, Modality.AVT, preparer))
        at = model.build_body(make_request(clips.av, Modality.AT, preparer))
        fingerprint = model.fingerprint()
    video, audio, text = avt["messages"][0]["content"]
    assert video["type"] == "video_url" and audio["type"] == "audio_url" and text["type"] == "text"
    assert audio["audio_url"]["url"].startswith("data:audio/wav;base64,UklGR"), "a RIFF/WAV upload"
    assert avt["media_io_kwargs"] == {"video": {"num_frames": 4, "fps": 2.0}}
    assert avt["mm_processor_kwargs"] == {"max_pixels": 12544}, "no max_frames, no use_audio_in_video"
    assert "modality" not in avt and "media_io_kwargs" not in at
    assert [p["type"] for p in at["messages"][0]["content"]] == ["audio_url", "text"]
    assert fingerprint["engine"] == "vllm" and fingerprint["audio_format"] == "wav"
