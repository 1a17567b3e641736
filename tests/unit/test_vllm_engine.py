"""vLLM as the engine: the exact ``vllm serve`` command, the wait, reuse, teardown, and what is sent.

vLLM itself needs a GPU; a stand-in executable (tests/standins/fake_vllm.py) takes its place. It is
started exactly as ``vllm serve`` would be and speaks the same protocol, including what vLLM does
not do (interleave a video's soundtrack, decode m4a audio).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, free_port, last_run, live_processes
from vsync_models.serve.launch import ServerStartError, stop_server, wait_until_ready
from vsync_models.serve.vllm_engine import VllmSettings, probe_models, start_vllm, vllm_command

FAKE_VLLM = REPO / "tests" / "standins" / "fake_vllm.py"
LIMIT = '{"image":0,"video":1,"audio":1}'


def records(path: Path) -> list[dict]:
    return (
        [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    )


@pytest.fixture
def vllm_bench(bench, monkeypatch):
    """A pytester project whose qwen3_omni is served by the stand-in ``vllm`` on GPUs 0 and 1."""
    port = free_port()
    model_path = str(bench.path / "Qwen3-Omni-30B-A3B-Instruct")
    record = bench.path / "vllm_starts.jsonl"
    monkeypatch.setenv("FAKE_VLLM_RECORD", str(record))
    real = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0]
    for name in ("clip0.mp4", "clip1.mp4", "clip2.mp4"):
        (bench.path / "data" / "level_1" / "videos" / name).write_bytes(real.read_bytes())
    (bench.path / "config").mkdir()

    def write_config(**extra: object) -> None:
        settings = {
            "model_path": model_path,
            "port": port,
            "gpu_ids": [0, 1],
            "vllm_command": [sys.executable, str(FAKE_VLLM)],
            **extra,
        }
        text = json.dumps({"models": {"qwen3_omni": settings}})  # JSON is YAML
        (bench.path / "config" / "config.yaml").write_text(text, encoding="utf-8")

    write_config(engine="vllm")
    return bench, model_path, port, record, write_config


def test_vllm_command_is_the_one_the_model_card_documents():
    settings = VllmSettings(tensor_parallel_size=4, max_model_len=65536, extra_args=("--seed", "1"))
    assert vllm_command("/m/Qwen3-Omni", settings, host="127.0.0.1", port=8901) == [
        "vllm",
        "serve",
        "/m/Qwen3-Omni",
        "--host",
        "127.0.0.1",
        "--port",
        "8901",
        "--tensor-parallel-size",
        "4",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "65536",
        "--limit-mm-per-prompt",
        LIMIT,
        "--seed",
        "1",
    ]


def test_run_starts_vllm_once_with_tensor_parallel_over_gpu_ids_sends_audio_apart_and_stops_it(
    vllm_bench, monkeypatch
):
    bench, model_path, port, record, write_config = vllm_bench
    write_config(engine="vllm", num_video_frames=4)
    monkeypatch.setenv("FAKE_VLLM_LOAD_S", "1")
    res = bench.runpytest_subprocess(
        "--model", "qwen3_omni", "-m", "avt", "-n", "2", "-p", "xdist", "--tb=no"
    )
    outcomes = res.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, res.stdout.str()[-3000:] + res.stderr.str()[-3000:]
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8
    starts = records(record)
    assert len(starts) == 1, "one vllm serve for both workers"
    assert starts[0]["cuda_visible_devices"] == "0,1"
    assert starts[0]["argv"] == [
        "serve",
        model_path,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--tensor-parallel-size",
        "2",
        "--dtype",
        "bfloat16",
        "--max-model-len",
        "32768",
        "--limit-mm-per-prompt",
        LIMIT,
    ]
    res.stderr.fnmatch_lines(["vsync: starting the vllm server for qwen3_omni (waiting up to 1800s; log *)"])
    res.stdout.fnmatch_lines(
        ["audio canary: passed (*); audio sent as a separate WAV audio_url stream beside the video_url*"]
    )
    canary = json.loads((last_run(bench.path) / "audio_canary_qwen3_omni.json").read_text("utf-8"))
    assert canary["engine"] == "vllm" and "separate WAV audio_url" in canary["audio_feed"]
    doc = json.loads((last_run(bench.path) / "results_qwen3_omni_level1.json").read_text("utf-8"))
    for item in doc["results"]:  # the stand-in echoes what reached it
        seen = json.loads(item["raw_response"])
        assert [m["kind"] for m in seen["media"]] == ["video", "audio"]
        assert seen["media"][1]["streams"] == ["audio"] and seen["use_audio_in_video"] is False
        assert seen["video"]["max_frames"] == 4, "frame sampling reached vLLM's video loader"
    assert "$ " + " ".join([sys.executable, str(FAKE_VLLM), "serve", model_path]) in (
        last_run(bench.path) / "server_qwen3_omni.log"
    ).read_text("utf-8")
    assert not live_processes(model_path, "fake_vllm.py"), "vllm serve outlived the run"


def test_a_healthy_vllm_is_reused_and_interleaving_it_ignores_is_caught_by_the_canary(vllm_bench, tmp_path):
    bench, model_path, port, record, write_config = vllm_bench
    write_config()  # no engine in the config: --engine chooses it
    settings = VllmSettings(executable=(sys.executable, str(FAKE_VLLM)))
    server = start_vllm(model_path, settings, log_path=tmp_path / "own.log", port=port, startup_timeout_s=120)
    try:
        assert probe_models(server.url)[0]["id"] == model_path
        res = bench.runpytest_subprocess(
            "--model", "qwen3_omni", "--engine", "vllm", "-m", "avt", "-k", "q000"
        )
        assert res.parseoutcomes().get("errors", 0) == 0, res.stdout.str()[-3000:]
        res.stdout.fnmatch_lines(["audio canary: passed*"])
        assert len(records(record)) == 1 and not (last_run(bench.path) / "server_qwen3_omni.log").exists()

        # Asking vLLM to interleave (audio_mode: in_video) sends no audio at all: vllm serve drops
        # use_audio_in_video, so the prompt with audio is no longer than the one without.
        write_config(engine="vllm", audio_mode="in_video")
        res = bench.runpytest_subprocess("--model", "qwen3_omni", "-m", "avt", "--require-audio")
        assert res.ret == pytest.ExitCode.USAGE_ERROR
        res.stderr.fnmatch_lines(["*--require-audio: the audio canary failed for 'qwen3_omni'*"])
        assert server.process.poll() is None and len(records(record)) == 1, "reused, never restarted"
    finally:
        stop_server(server)


def test_a_vllm_that_cannot_start_stops_the_run_with_its_log_tail(vllm_bench, monkeypatch):
    bench, model_path, _, _, _ = vllm_bench
    monkeypatch.setenv("FAKE_VLLM_FAIL", "1")
    res = bench.runpytest_subprocess("--model", "qwen3_omni", "-m", "avt")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(
        ["*the model server exited with status 1 before it was ready*", "*CUDA out of memory*"]
    )
    assert not live_processes(model_path, "fake_vllm.py")


def test_a_missing_vllm_executable_is_a_clear_start_error(tmp_path):
    settings = VllmSettings(executable=(str(tmp_path / "no-vllm-here"),))
    with pytest.raises(ServerStartError, match=r"cannot run .*no-vllm-here"):
        start_vllm("/m", settings, log_path=tmp_path / "v.log", startup_timeout_s=5)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += 10.0  # each poll lasts ten seconds of the fake clock


class NeverReady:
    def poll(self) -> int | None:
        return None


def test_a_slow_start_reports_progress_with_the_last_log_line_then_times_out(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("$ vllm serve /m\nINFO loading safetensors shards 3/13\n", encoding="utf-8")
    clock, said = FakeClock(), []
    with pytest.raises(ServerStartError) as info:
        wait_until_ready(
            NeverReady(),  # type: ignore[arg-type]
            log,
            65.0,
            find_url=lambda: "http://127.0.0.1:1",
            is_ready=lambda url: False,
            progress=said.append,
            progress_every_s=30.0,
            clock=clock,
            sleep=clock.sleep,
        )
    assert said == [
        f"still waiting for the model server: {t}s of 65s; log {log}: INFO loading safetensors shards 3/13"
        for t in (30, 60)
    ]
    assert "did not become ready within 65s (models.<name>.startup_timeout raises the limit)" in str(
        info.value
    )
    assert "loading safetensors shards 3/13" in str(info.value)


def test_the_stand_in_speaks_like_vllm(tmp_path):
    """The stand-in is only worth its tests if it behaves like vLLM where the harness can tell."""
    import requests

    settings = VllmSettings(executable=(sys.executable, str(FAKE_VLLM)))
    server = start_vllm("/m/q3", settings, log_path=tmp_path / "v.log", startup_timeout_s=120)
    try:
        health = requests.get(f"{server.url}/health", timeout=5)
        assert health.status_code == 200 and health.content == b""
        assert "vsync" not in probe_models(server.url)[0]
        m4a = {"type": "audio_url", "audio_url": {"url": "data:audio/mp4;base64,AAAA"}}
        body = {
            "model": "/m/q3",
            "messages": [{"role": "user", "content": [m4a, {"type": "text", "text": "?"}]}],
        }
        assert requests.post(f"{server.base_url}/chat/completions", json=body, timeout=10).status_code == 400
    finally:
        assert stop_server(server) is not None
    assert subprocess.run([sys.executable, str(FAKE_VLLM), "bogus"], capture_output=True).returncode == 2
