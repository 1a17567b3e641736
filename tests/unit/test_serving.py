"""vsync_models.serve.serving: how a model is served is decided once, in the library, and the
plugin only calls the Serving interface (start, connect, gone, exited, stop, the audio canary)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO
from vsync_models.config import load_config
from vsync_models.models.omni_server import OmniServerModel, ServerLaunch
from vsync_models.models.registry import build_model
from vsync_models.models.replicas import ReplicaSet
from vsync_models.run.records import ReplayModel
from vsync_models.serve.launch import ServerProcess, ServerStartError
from vsync_models.serve.serving import (
    DEFAULT_HTTP_CONCURRENCY,
    Endpoint,
    InProcess,
    LocalServer,
    Replicas,
    VllmServer,
    serving_for,
)


def config(tmp_path: Path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=env or {})


def test_in_process_models_are_served_by_nothing_one_request_at_a_time(tmp_path):
    cfg = config(tmp_path, "")
    for name in ("random", "constant", "av_sync"):
        serving = serving_for(build_model(name, cfg), tmp_path)
        assert isinstance(serving, InProcess) and not serving.is_remote
        assert serving.default_concurrency == 1
        assert serving.start(root=tmp_path) is None and serving.gone() is None and serving.exited() == []
        assert serving.audio_canary(tmp_path / "clip.mp4", None) is None  # type: ignore[arg-type]
    assert isinstance(serving_for(ReplayModel(name="m"), tmp_path), InProcess), "a rescore asks nobody"


def test_apis_are_remote_endpoints_that_nothing_starts(tmp_path):
    cfg = config(
        tmp_path,
        "models: {standin: {server_url: ['http://127.0.0.1:9/v1', 'http://127.0.0.1:10/v1']}}\n",
        env={"OPENAI_API_KEY": "sk-test", "GEMINI_API_KEY": "g-test"},
    )
    for name in ("gpt4o", "openai:my-model", "gemini_2_5_flash", "openai:standin"):
        serving = serving_for(build_model(name, cfg), tmp_path)
        assert isinstance(serving, Endpoint) and serving.is_remote, name
        assert serving.default_concurrency == DEFAULT_HTTP_CONCURRENCY == 16
        assert serving.start(root=tmp_path) is None and serving.gone() is None
    assert not list(tmp_path.glob("server_*.log"))


def test_local_omni_models_get_our_server_or_vllm_from_their_launch_settings(tmp_path):
    cfg = config(tmp_path, "models: {qwen3_omni: {model_path: /models/q3, port: 8123}}\n")
    ours = serving_for(build_model("qwen3_omni", cfg), tmp_path)
    assert type(ours) is LocalServer and ours.is_remote and ours.default_concurrency == 16
    assert ours.log_path == tmp_path / "server_qwen3_omni.log" and ours.reuse
    vllm = serving_for(build_model("qwen3_omni", cfg, engine="vllm"), tmp_path)
    assert type(vllm) is VllmServer and vllm.launch.engine == "vllm"
    # A client built by hand, without launch settings, talks to a server someone else runs; whether
    # audio reaches it is checked all the same (here: no clip, so the canary says it could not ask).
    bare = serving_for(OmniServerModel("m", "http://127.0.0.1:9"), tmp_path)
    assert isinstance(bare, Endpoint) and bare.canary is not None
    assert bare.audio_canary(tmp_path / "c.mp4", None).status == "error"  # type: ignore[arg-type,union-attr]


def test_replicas_start_one_server_each_and_reuse_only_a_url_named_alone(tmp_path):
    groups = serving_for(
        build_model(
            "qwen2_5_omni", config(tmp_path, "models: {qwen2_5_omni: {gpu_ids: [[0, 1], [2, 3]]}}\n")
        ),
        tmp_path,
    )
    assert isinstance(groups, Replicas) and [s.launch.gpu_ids for s in groups.servers] == [(0, 1), (2, 3)]
    assert [s.log_path.name for s in groups.servers] == [
        "server_qwen2_5_omni_0.log",
        "server_qwen2_5_omni_1.log",
    ]
    assert not any(s.reuse for s in groups.servers), "GPU groups share the default URL: each starts fresh"
    listed = serving_for(
        build_model(
            "qwen2_5_omni",
            config(tmp_path, "models: {qwen2_5_omni: {server_url: ['http://h1:9000', 'http://h2:9000']}}\n"),
        ),
        tmp_path,
    )
    assert isinstance(listed, Replicas) and all(s.reuse for s in listed.servers)


class Scripted(LocalServer):
    """A LocalServer whose health probe and process are the test's: ``code`` is what the
    'server' exits with (``None``: it keeps running until stopped)."""

    def __init__(self, model, log_path, *, running=False, code=None, fail=False, port=40001):
        super().__init__(model, ServerLaunch(backend="b", model_path="/m"), log_path)
        self.running, self.code, self.fail, self.port, self.launches = running, code, fail, port, 0

    def _running(self, url):
        return self.running

    def _launch(self, model_path, env, progress):
        self.launches += 1
        if self.fail:
            raise ServerStartError("the model server exited with status 1 before it was ready")
        body = "import time; time.sleep(60)" if self.code is None else f"raise SystemExit({self.code})"
        process = subprocess.Popen([sys.executable, "-c", body], start_new_session=True)
        self.log_path.write_text("$ server\nlast words\n", encoding="utf-8")
        return ServerProcess(url=f"http://127.0.0.1:{self.port}", process=process, log_path=self.log_path)


def test_a_local_server_is_reused_or_started_pointed_at_and_stopped(tmp_path):
    model = OmniServerModel("m", "http://127.0.0.1:8000")
    reused = Scripted(model, tmp_path / "a.log", running=True)
    assert reused.start() == "http://127.0.0.1:8000/v1" and reused.launches == 0
    reused.stop()  # nothing of ours to stop

    lines: list[str] = []
    started = Scripted(model, tmp_path / "b.log")
    assert started.start(progress=lines.append) == "http://127.0.0.1:40001/v1" == model.base_url
    assert lines == [
        f"starting the transformers server for m (waiting up to 1800s; log {tmp_path / 'b.log'})"
    ]
    assert started.exited() == []
    started.stop()
    assert started.process is not None and started.process.process.returncode is not None


def test_a_server_that_exited_is_reported_with_its_log_and_gone_names_the_log(tmp_path):
    model = OmniServerModel("m", "http://127.0.0.1:8000")
    server = Scripted(model, tmp_path / "server_m.log", code=3)
    server.start()
    assert server.process is not None
    server.process.process.wait(10)
    (line,) = server.exited()
    assert re.match(
        r"the model server \(pid \d+\) exited with status 3 during the run; log .*server_m.log", line
    )
    assert line.endswith("last lines:\n$ server\nlast words")
    assert server.gone() is None, "gone is what the client found out, not the process table"
    model.gone = "model 'm': the model server at http://127.0.0.1:40001 is gone (Connection refused)"
    assert server.gone() == f"{model.gone}; its log: {tmp_path / 'server_m.log'}"
    server.log_path.unlink()
    assert server.gone() == model.gone, "no log named where there is none"
    server.stop()


def test_replicas_stop_what_they_started_when_one_cannot_start(tmp_path):
    a, b = OmniServerModel("m", "http://127.0.0.1:1"), OmniServerModel("m", "http://127.0.0.1:2")
    first, second = Scripted(a, tmp_path / "0.log"), Scripted(b, tmp_path / "1.log", fail=True)
    replicas = Replicas(ReplicaSet([a, b], [a.base_url, b.base_url]), [first, second])
    with pytest.raises(ServerStartError):
        replicas.start()
    assert first.process is not None and first.process.process.poll() is not None, "stopped, not leaked"


def test_replicas_hand_their_urls_to_workers_and_are_gone_only_when_all_are(tmp_path):
    a, b = OmniServerModel("m", "http://127.0.0.1:1"), OmniServerModel("m", "http://127.0.0.1:2")
    model = ReplicaSet([a, b], [a.base_url, b.base_url])
    replicas = Replicas(model, [Scripted(a, tmp_path / "0.log"), Scripted(b, tmp_path / "1.log", port=40002)])
    try:
        urls = replicas.start()
        assert urls == model.urls == ["http://127.0.0.1:40001/v1", "http://127.0.0.1:40002/v1"]
    finally:
        replicas.stop()

    worker_a, worker_b = (
        OmniServerModel("m", "http://127.0.0.1:1"),
        OmniServerModel("m", "http://127.0.0.1:2"),
    )
    on_worker = ReplicaSet([worker_a, worker_b], [worker_a.base_url, worker_b.base_url])
    worker = Replicas(
        on_worker, [Scripted(worker_a, tmp_path / "0.log"), Scripted(worker_b, tmp_path / "1.log")]
    )
    worker.connect(["http://127.0.0.1:7001", "http://127.0.0.1:7002/v1"])
    assert on_worker.urls == ["http://127.0.0.1:7001/v1", "http://127.0.0.1:7002/v1"]
    assert worker_b.base_url == "http://127.0.0.1:7002/v1"

    worker_a.gone = "model 'm': the model server at http://127.0.0.1:7001 is gone"
    assert worker.gone() is None, "one replica left: the set fails over, the run goes on"
    worker_b.gone = "model 'm': the model server at http://127.0.0.1:7002 is gone"
    assert (
        worker.gone()
        == f"{worker_a.gone}; its log: {tmp_path / '0.log'}; {worker_b.gone}; its log: {tmp_path / '1.log'}"
    )


def test_the_plugin_asks_the_serving_and_the_library_never_imports_pytest():
    plugin = "\n".join(p.read_text("utf-8") for p in (REPO / "vsync_pytest").glob("*.py"))
    probes = re.findall(
        r"(?:get|has)attr\(\w*model\w*, \"(?:launch|replicas|gone|base_url|connect)\"", plugin
    )
    assert probes == [], "how a model is served is vsync_models.serve.serving's decision"
    for path in (REPO / "vsync_models").rglob("*.py"):
        text = path.read_text("utf-8")
        assert not re.search(r"^\s*(?:import pytest|from pytest|from _pytest|import _pytest)", text, re.M), (
            path
        )
