"""The omni model server's HTTP layer, against a stand-in backend: protocol, uploads, limits, errors.

No torch here: :class:`tests.standins.tiny_omni.EchoBackend` reports what reached it. The server
runs for real (uvicorn on a loopback port, in a thread or, for the CLI, as a process).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from tests.standins.tiny_omni import REPO, EchoBackend, make_clip, serve_app
from vsync_models.serve.__main__ import build_parser
from vsync_models.serve.app import ServerSettings, create_app
from vsync_models.serve.backend import BackendError
from vsync_models.serve.backends import load_backend
from vsync_models.serve.launch import ServerStartError, probe_health, start_server, stop_server
from vsync_models.serve.media import MediaStore

LIMIT = 512 * 1024


def data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def chat(url: str, parts: list, **extra) -> requests.Response:
    body = {"messages": [{"role": "user", "content": parts}], **extra}
    return requests.post(f"{url}/v1/chat/completions", json=body, timeout=30)


def video_part(url: str) -> dict:
    return {"type": "video_url", "video_url": {"url": url}}


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("served")
    allowed = root / "allowed"
    allowed.mkdir()
    outside = root / "outside"
    outside.mkdir()
    av_clip = make_clip(allowed / "av.mp4", seconds=1.0)
    silent = make_clip(allowed / "silent.mp4", seconds=1.0, audio=False)
    secret = make_clip(outside / "secret.mp4", seconds=1.0)
    (allowed / "escape.mp4").symlink_to(secret)
    garbage = allowed / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 10)
    return SimpleNamespace(
        root=root, allowed=allowed, av=av_clip, silent=silent, secret=secret, garbage=garbage
    )


@pytest.fixture(scope="module")
def server(media: SimpleNamespace) -> Iterator[SimpleNamespace]:
    backend = EchoBackend()
    settings = ServerSettings(
        served_model_name="echo-model",
        max_request_bytes=LIMIT,
        default_max_tokens=7,
        allowed_local_media_paths=(media.allowed,),
    )
    store = MediaStore(settings.allowed_local_media_paths, tmp_root=media.root)
    app = create_app(backend, settings, store)
    with serve_app(app) as url:
        yield SimpleNamespace(url=url, backend=backend, store=store)
    store.close()


@pytest.fixture
def echo(server: SimpleNamespace) -> SimpleNamespace:
    server.backend.prompts.clear()
    server.backend.fail_with = None
    return server


def assert_json_error(response: requests.Response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"]
    return error


def test_health_and_models_report_the_checkpoint_and_its_config_hash(echo):
    assert requests.get(f"{echo.url}/health", timeout=5).json() == {
        "status": "ok",
        "model": "echo-model",
        "backend": "echo",
    }
    models = requests.get(f"{echo.url}/v1/models", timeout=5).json()
    assert models["object"] == "list"
    (card,) = models["data"]
    assert card["id"] == "echo-model" and card["root"] == "/models/echo"
    assert card["vsync"]["config_hash"] == "c0ffee" and card["vsync"]["max_request_bytes"] == LIMIT
    assert requests.get(f"{echo.url}/v1/models/echo-model", timeout=5).json()["id"] == "echo-model"
    assert_json_error(requests.get(f"{echo.url}/v1/models/other", timeout=5), 404)


def test_a_chat_completion_has_the_openai_shape_and_counts_audio_tokens(echo, media):
    response = chat(
        echo.url,
        [video_part(data_url(media.av, "video/mp4")), {"type": "text", "text": "Who?"}],
        modality="avt",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "echo-model"
    seen = json.loads(body["choices"][0]["message"]["content"])
    assert seen["use_audio_in_video"] is True  # avt turns it on by default
    assert seen["media"][0]["streams"] == ["audio", "video"]
    assert seen["max_new_tokens"] == 7  # the server's default when the request names none
    usage = body["usage"]
    assert usage["prompt_tokens_details"]["audio_tokens"] == 100
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert body["vsync"] == {"backend": "echo", "modality": "avt", "use_audio_in_video": True}


def test_upload_names_never_become_paths_and_uploads_are_deleted(echo, media):
    evil = "../../../evil.mp4"
    part = {
        "type": "video_url",
        "video_url": {"url": data_url(media.av, "video/mp4"), "filename": evil},
        "filename": evil,
    }
    response = chat(echo.url, [part, {"type": "text", "text": "x"}], modality="vt")
    assert response.status_code == 200, response.text
    (prompt,) = echo.backend.prompts
    (seen,) = prompt.media()
    assert seen.path.parent == echo.store.tmp_dir
    assert re.fullmatch(r"[0-9a-f]{32}\.mp4", seen.path.name), seen.path.name
    assert not seen.path.exists(), "uploads are deleted when the request ends"
    assert list(echo.store.tmp_dir.iterdir()) == []
    assert not any(p.name == "evil.mp4" for p in media.root.parent.rglob("evil.mp4"))


def test_local_paths_only_below_allowed_directories(echo, media):
    ok = chat(echo.url, [video_part(f"file://{media.av}")], modality="avt")
    assert ok.status_code == 200, ok.text
    assert echo.backend.prompts[-1].media()[0].path == media.av.resolve()

    outside = assert_json_error(chat(echo.url, [video_part(f"file://{media.secret}")]), 403)
    assert outside["code"] == "local_media_forbidden"
    escape = assert_json_error(chat(echo.url, [video_part(f"file://{media.allowed / 'escape.mp4'}")]), 403)
    assert escape["code"] == "local_media_forbidden", "a symlink out of the allowed directory is refused"
    traversal = assert_json_error(
        chat(echo.url, [video_part(f"file://{media.allowed}/../outside/secret.mp4")]), 403
    )
    assert traversal["code"] == "local_media_forbidden"
    assert_json_error(chat(echo.url, [video_part(f"file://{media.allowed / 'missing.mp4'}")]), 404)
    assert_json_error(chat(echo.url, [video_part("file://other-host/x.mp4")]), 400)
    assert_json_error(chat(echo.url, [video_part(f"file://{media.allowed}/av.mp4%00.txt")]), 400)


def test_local_paths_are_refused_when_no_directory_is_allowed(media):
    app = create_app(EchoBackend(), ServerSettings(served_model_name="m"))
    with serve_app(app) as url:
        error = assert_json_error(chat(url, [video_part(f"file://{media.av}")]), 403)
    assert "--allowed-local-media-path" in error["message"]


def test_remote_urls_are_never_fetched(echo):
    error = assert_json_error(chat(echo.url, [video_part("http://127.0.0.1:9/clip.mp4")]), 400)
    assert error["code"] == "unsupported_url"
    assert echo.backend.prompts == []


def test_request_size_limit_answers_413_and_the_server_keeps_serving(echo):
    big = {"messages": [{"role": "user", "content": "x" * (LIMIT + 10)}]}
    response = requests.post(f"{echo.url}/v1/chat/completions", json=big, timeout=30)
    assert assert_json_error(response, 413)["code"] == "request_too_large"

    def chunks():  # no Content-Length: counted while it streams in
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(8):
            yield b"y" * (LIMIT // 4)
        yield b'"}]}'

    chunked = requests.post(f"{echo.url}/v1/chat/completions", data=chunks(), timeout=30)
    assert assert_json_error(chunked, 413)["code"] == "request_too_large"
    assert requests.get(f"{echo.url}/health", timeout=5).status_code == 200
    assert chat(echo.url, [{"type": "text", "text": "still here"}]).status_code == 200


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deep(depth: int, where: str = "x") -> bytes:
    """A chat body with a value nested ``depth`` levels deep (past Python's stack for JSON)."""
    nested = "[" * depth + "]" * depth
    return f'{{"messages": [{{"role": "user", "content": "hi"}}], "{where}": {nested}}}'.encode()


MALFORMED = {
    "not json": (b"{nope", 400, "invalid_json"),
    "nested too deeply": (deep(100_000), 400, "invalid_json"),
    "nested too deeply in a field": (deep(5_000, "temperature"), 400, "invalid_json"),
    "not an object": ([1, 2], 400, None),
    "no messages": ({"model": "echo-model"}, 400, None),
    "empty messages": ({"messages": []}, 400, None),
    "bad role": ({"messages": [{"role": "robot", "content": "hi"}]}, 400, None),
    "content not list": ({"messages": [{"role": "user", "content": 5}]}, 400, None),
    "unknown part": (
        {"messages": [{"role": "user", "content": [{"type": "hologram"}]}]},
        400,
        "unsupported_part",
    ),
    "image part": (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]},
        400,
        "unsupported_part",
    ),
    "video without url": ({"messages": [{"role": "user", "content": [{"type": "video_url"}]}]}, 400, None),
    "bad base64": (
        {"messages": [{"role": "user", "content": [video_part("data:video/mp4;base64,@@@")]}]},
        400,
        "bad_base64",
    ),
    "not base64 data url": (
        {"messages": [{"role": "user", "content": [video_part("data:video/mp4,rawbytes")]}]},
        400,
        None,
    ),
    "unsupported type": (
        {"messages": [{"role": "user", "content": [video_part(f"data:text/html;base64,{b64('<p>')}")]}]},
        415,
        "unsupported_media_type",
    ),
    "input_audio bad format": (
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "input_audio", "input_audio": {"data": b64("x"), "format": "exe"}}],
                }
            ]
        },
        415,
        "unsupported_media_type",
    ),
    "not media": (
        {
            "messages": [
                {"role": "user", "content": [video_part(f"data:video/mp4;base64,{b64('garbage' * 20)}")]}
            ]
        },
        400,
        "unreadable_media",
    ),
    "media in system message": (
        {"messages": [{"role": "system", "content": [video_part("data:video/mp4;base64,AAAA")]}]},
        400,
        None,
    ),
    "stream": ({"messages": [{"role": "user", "content": "hi"}], "stream": True}, 400, "unsupported"),
    "n > 1": ({"messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "unsupported"),
    "max_tokens 0": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, None),
    "max_tokens huge": ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}, 400, None),
    "temperature text": ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, 400, None),
    "top_p zero": ({"messages": [{"role": "user", "content": "hi"}], "top_p": 0}, 400, None),
    "unknown mm kwarg": (
        {"messages": [{"role": "user", "content": "hi"}], "mm_processor_kwargs": {"speed": 2}},
        400,
        None,
    ),
    "bad fps": (
        {"messages": [{"role": "user", "content": "hi"}], "mm_processor_kwargs": {"fps": 0}},
        400,
        None,
    ),
    "unknown modality": ({"messages": [{"role": "user", "content": "hi"}], "modality": "smell"}, 400, None),
    "use_audio_in_video twice": (
        {
            "messages": [{"role": "user", "content": "hi"}],
            "use_audio_in_video": True,
            "mm_processor_kwargs": {"use_audio_in_video": False},
        },
        400,
        None,
    ),
    "use_audio_in_video without video": (
        {"messages": [{"role": "user", "content": "hi"}], "use_audio_in_video": True},
        400,
        None,
    ),
    "wrong model": (
        {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]},
        404,
        "model_not_found",
    ),
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_malformed_requests_get_a_json_4xx_and_the_server_keeps_serving(echo, case):
    body, status, code = MALFORMED[case]
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = requests.post(
        f"{echo.url}/v1/chat/completions", data=raw, headers={"content-type": "application/json"}, timeout=30
    )
    error = assert_json_error(response, status)
    if code:
        assert error["code"] == code
    if case.startswith("nested"):
        assert error["message"] == "request body is not valid JSON: nested too deeply"
    assert echo.backend.prompts == [], "nothing malformed reaches the model"
    assert requests.get(f"{echo.url}/health", timeout=5).status_code == 200


def test_modality_is_enforced_on_the_server(echo, media):
    av_url, silent_url = data_url(media.av, "video/mp4"), data_url(media.silent, "video/mp4")
    audio_part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(media.av.read_bytes()).decode(), "format": "m4a"},
    }
    assert (
        assert_json_error(chat(echo.url, [video_part(av_url), audio_part], modality="vt"), 400)["code"]
        == "modality_violation"
    )
    assert assert_json_error(
        chat(echo.url, [video_part(av_url)], modality="vt", use_audio_in_video=True), 400
    )["code"] == ("modality_violation")
    assert (
        assert_json_error(chat(echo.url, [video_part(av_url)], modality="at"), 400)["code"]
        == "modality_violation"
    )
    assert (
        assert_json_error(chat(echo.url, [video_part(silent_url)], modality="avt"), 400)["code"]
        == "no_audio_track"
    )
    two = assert_json_error(chat(echo.url, [video_part(av_url), video_part(av_url)]), 400)
    assert two["code"] == "too_many_media"
    assert echo.backend.prompts == []

    assert chat(echo.url, [video_part(av_url)], modality="vt").status_code == 200
    assert echo.backend.prompts[-1].use_audio_in_video is False
    vllm_style = chat(echo.url, [video_part(av_url)], mm_processor_kwargs={"use_audio_in_video": True})
    assert vllm_style.status_code == 200
    assert echo.backend.prompts[-1].use_audio_in_video is True
    separate = chat(echo.url, [video_part(av_url), audio_part], modality="avt")
    assert separate.status_code == 200, separate.text
    assert echo.backend.prompts[-1].use_audio_in_video is False, (
        "a separate audio part replaces the soundtrack"
    )


def test_per_request_sampling_and_decoding_reach_the_backend(echo, media):
    response = chat(
        echo.url,
        [video_part(data_url(media.av, "video/mp4"))],
        modality="vt",
        max_tokens=3,
        temperature=0.5,
        top_p=0.9,
        seed=11,
        mm_processor_kwargs={"fps": 1.5, "max_frames": 6, "min_pixels": 3136, "max_pixels": 12544},
    )
    assert response.status_code == 200, response.text
    prompt = echo.backend.prompts[-1]
    assert (prompt.max_new_tokens, prompt.temperature, prompt.top_p, prompt.seed) == (3, 0.5, 0.9, 11)
    assert prompt.video.as_dict() == {"fps": 1.5, "max_frames": 6, "min_pixels": 3136, "max_pixels": 12544}


def test_a_failing_backend_is_a_json_500_and_the_server_keeps_serving(echo):
    echo.backend.fail_with = RuntimeError("CUDA out of memory (pretend)")
    error = assert_json_error(chat(echo.url, [{"type": "text", "text": "hi"}]), 500)
    assert error["type"] == "server_error" and "out of memory" in error["message"]
    echo.backend.fail_with = None
    assert chat(echo.url, [{"type": "text", "text": "hi"}]).status_code == 200


def test_an_unexpected_server_fault_is_still_a_json_500(echo, media, monkeypatch):
    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(echo.store, "materialise", full_disk)
    error = assert_json_error(chat(echo.url, [video_part(data_url(media.av, "video/mp4"))]), 500)
    assert error["type"] == "server_error" and "No space left" in error["message"]
    monkeypatch.undo()
    assert chat(echo.url, [video_part(data_url(media.av, "video/mp4"))]).status_code == 200


def test_unknown_routes_and_methods_are_json_errors(echo):
    assert_json_error(requests.get(f"{echo.url}/nope", timeout=5), 404)
    assert_json_error(requests.get(f"{echo.url}/v1/chat/completions", timeout=5), 405)


def test_health_answers_while_the_model_is_busy(media):
    started, release = threading.Event(), threading.Event()

    class Slow(EchoBackend):
        def generate(self, prompt):
            started.set()
            release.wait(10)
            return super().generate(prompt)

    app = create_app(Slow(), ServerSettings(served_model_name="slow"))
    with serve_app(app) as url:
        result: dict = {}
        worker = threading.Thread(target=lambda: result.update(r=chat(url, [{"type": "text", "text": "hi"}])))
        worker.start()
        assert started.wait(10)
        t0 = time.monotonic()
        assert requests.get(f"{url}/health", timeout=5).status_code == 200
        assert time.monotonic() - t0 < 2
        release.set()
        worker.join(10)
    assert result["r"].status_code == 200


# -- the process: CLI, bind address, launch helpers ------------------------------------------


ECHO = "tests.standins.tiny_omni:EchoBackend"


def child_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def test_cli_defaults_bind_loopback_only():
    args = build_parser().parse_args(["--backend", "qwen2_5_omni", "--model-path", "/m"])
    assert args.host == "127.0.0.1" and args.port == 8000 and args.max_request_mb == 256
    assert args.allowed_local_media_path == []
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--backend", "nonsense", "--model-path", "/m"])


def test_load_backend_by_name_or_factory():
    assert load_backend(ECHO, "/m").kind == "echo"
    with pytest.raises(BackendError, match="unknown backend 'nope'"):
        load_backend("nope", "/m")
    with pytest.raises(BackendError, match="cannot load backend"):
        load_backend("tests.standins.tiny_omni:Missing", "/m")


def non_loopback_address() -> str | None:
    """This host's address on its default route, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_launched_server_binds_loopback_serves_and_stops_cleanly(tmp_path):
    log = tmp_path / "logs" / "echo.log"
    server = start_server(ECHO, "/models/echo", log_path=log, env=child_env(), startup_timeout_s=60)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert probe_health(server.base_url) == {"status": "ok", "model": ECHO, "backend": "echo"}
        port = int(server.url.rsplit(":", 1)[1])
        other = non_loopback_address()
        if other is not None:  # the same port on the host's real address must not answer
            with pytest.raises(OSError), socket.create_connection((other, port), timeout=2):
                pass
    finally:
        code = stop_server(server)
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a graceful shutdown
    assert probe_health(server.url, timeout_s=0.5) is None
    text = log.read_text()
    assert "Uvicorn running on http://127.0.0.1" in text and "Finished server process" in text


def test_launch_takes_another_port_when_the_configured_one_is_taken(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        server = start_server(
            ECHO, "/m", log_path=tmp_path / "echo.log", port=taken, env=child_env(), startup_timeout_s=60
        )
        try:
            assert not server.url.endswith(f":{taken}")
            assert probe_health(server.url) is not None
        finally:
            stop_server(server)


def test_launch_failure_names_the_log_and_shows_its_tail(tmp_path):
    with pytest.raises(ServerStartError) as info:
        start_server(
            "tests.standins.tiny_omni:NoSuchBackend",
            "/m",
            log_path=tmp_path / "broken.log",
            env=child_env(),
            startup_timeout_s=60,
        )
    message = str(info.value)
    assert "exited with status 2" in message and str(tmp_path / "broken.log") in message
    assert "cannot load backend" in message
