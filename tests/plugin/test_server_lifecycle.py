"""The session starts a local model's server once per run, hands it to xdist workers, stops it."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support import REPO, free_port, last_run, live_processes


@pytest.fixture
def echo_config(bench):
    port = free_port()
    model_path = str(bench.path / "echo-checkpoint")
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text(
        "models:\n"
        "  qwen2_5_omni:\n"
        '    backend: "tests.standins.tiny_omni:EchoBackend"\n'
        f"    model_path: {json.dumps(model_path)}\n"
        f"    port: {port}\n",
        encoding="utf-8",
    )
    real = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0]
    for name in ("clip0.mp4", "clip1.mp4", "clip2.mp4"):
        (bench.path / "data" / "level_1" / "videos" / name).write_bytes(real.read_bytes())
    return bench, model_path, port


def test_one_server_for_all_workers_and_stopped_at_the_end(echo_config):
    bench, model_path, port = echo_config
    # Something unhealthy holds the configured port: the server must start elsewhere, and the
    # workers can only find it through the URL the controller hands them.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        res = bench.runpytest_subprocess(
            "--model", "qwen2_5_omni", "-m", "at", "-n", "2", "-p", "xdist", "--tb=no"
        )
    outcomes = res.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, res.stdout.str()[-3000:]
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8
    log = (last_run(bench.path) / "server_qwen2_5_omni.log").read_text(encoding="utf-8")
    assert sum(line.startswith("$ ") for line in log.splitlines()) == 1, "exactly one server start"
    assert not live_processes(model_path, "vsync_models.serve"), "the server outlived the run"
    doc = json.loads((last_run(bench.path) / "results_qwen2_5_omni_level1_at.json").read_text("utf-8"))
    assert all(r["usage"] and r["usage"].get("audio_tokens") for r in doc["results"]), "audio reached it"


def test_a_healthy_server_is_reused_and_left_running(echo_config):
    from vsync_models.serve.launch import start_server, stop_server

    bench, model_path, port = echo_config
    server = start_server(
        "tests.standins.tiny_omni:EchoBackend", model_path, log_path=bench.path / "own.log", port=port
    )
    try:
        res = bench.runpytest_subprocess("--model", "qwen2_5_omni", "-m", "at", "-k", "q000", "--tb=no")
        assert res.parseoutcomes().get("errors", 0) == 0
        assert not (last_run(bench.path) / "server_qwen2_5_omni.log").exists(), "no second server"
        assert live_processes(model_path, "vsync_models.serve"), "ours was left running"
    finally:
        stop_server(server)


def test_audio_canary_is_reported_and_require_audio_stops_a_deaf_server(echo_config, monkeypatch):
    bench, _, _ = echo_config
    res = bench.runpytest_subprocess(
        "--model",
        "qwen2_5_omni",
        "-m",
        "avt",
        "-k",
        "q000",
        "--tb=no",
        "--vsync-report",
        "--alluredir",
        "allure",
    )
    res.stdout.fnmatch_lines(
        [
            "audio canary: passed (prompt tokens with audio *, without *, audio tokens 100); "
            "audio sent as the video's own soundtrack, interleaved with its frames (use_audio_in_video)"
        ]
    )
    record = json.loads((last_run(bench.path) / "audio_canary_qwen2_5_omni.json").read_text("utf-8"))
    assert record["status"] == "passed" and record["engine"] == "transformers"
    html = (last_run(bench.path) / "qwen2_5_omni.html").read_text("utf-8")
    assert "audio canary" in html and "passed (prompt tokens with audio" in html, "in the HTML report's facts"
    env = (bench.path / "allure" / "environment.properties").read_text("utf-8").splitlines()
    assert any(line.startswith("audio_canary = passed (prompt tokens with audio") for line in env)

    monkeypatch.setenv("ECHO_DROP_AUDIO", "1")  # the stand-in now ignores audio, like a careless server
    res = bench.runpytest_subprocess("--model", "qwen2_5_omni", "-m", "avt", "--require-audio")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*--require-audio: the audio canary failed for 'qwen2_5_omni'*"])
    assert not live_processes(str(bench.path / "echo-checkpoint"), "vsync_models.serve"), (
        "stopped after the refusal too"
    )


@pytest.mark.parametrize("workers", [(), ("-n", "2", "-p", "xdist")], ids=["plain", "xdist"])
def test_a_server_that_dies_mid_run_stops_the_run_with_one_message(echo_config, monkeypatch, workers):
    bench, model_path, _ = echo_config
    config = bench.path / "config" / "config.yaml"
    config.write_text("runtime: {max_retries: 1}\n" + config.read_text("utf-8"), encoding="utf-8")
    monkeypatch.setenv("ECHO_EXIT_AFTER", "3")  # the server process dies on its fourth request
    res = bench.runpytest_subprocess(
        "--model", "qwen2_5_omni", "--modality", "at", "--tb=short", "--concurrency", "1", *workers
    )  # fmt: skip
    out = res.stdout.str()
    outcomes = res.parseoutcomes()
    # Three requests are answered before the fourth kills the server; with two workers the third
    # answer may still be on the wire when the other worker's request ends the process.
    answered = outcomes.get("passed", 0) + outcomes.get("failed", 0)
    assert answered in ({2, 3} if workers else {3}), out[-3000:]
    # Only requests in flight when it died fail (one per worker); the rest are never sent.
    errors = outcomes.get("errors", 0)
    assert 1 <= errors <= (2 if workers else 1), out[-3000:]
    assert res.ret == pytest.ExitCode.INTERRUPTED
    gone = [
        line
        for line in out.splitlines()
        if "Interrupted: vsync: model 'qwen2_5_omni': the model server" in line
    ]
    assert len(gone) == 1, out[-3000:]
    assert (
        "is gone" in gone[0]
        and "server_qwen2_5_omni.log" in gone[0]
        and "remaining items were not run" in gone[0]
    )
    res.stdout.fnmatch_lines(["vsync: the model server (pid *) exited with status 3 during the run; log *"])
    # The errors and the stop line name the cause, nothing per item. The short summary's ERROR lines
    # may repeat it too, cut to the terminal's width, so they are left out of the count.
    naming = [
        line for line in out.splitlines() if "Connection refused" in line and not line.startswith("ERROR ")
    ]
    assert len(naming) == errors + 1, "the errors and the stop line; nothing per item"
    assert not live_processes(model_path, "vsync_models.serve")
    doc = json.loads((last_run(bench.path) / "results_qwen2_5_omni_level1_at.json").read_text("utf-8"))
    assert len(doc["results"]) < 8, "the items not run are missing, not scored"


def test_gpu_groups_start_one_replica_each_and_both_answer(echo_config):
    bench, model_path, _port = echo_config
    (bench.path / "config" / "config.yaml").write_text(
        "models:\n"
        "  qwen2_5_omni:\n"
        '    backend: "tests.standins.tiny_omni:EchoBackend"\n'
        f"    model_path: {json.dumps(model_path)}\n"
        "    gpu_ids: [[0, 1], [2, 3]]\n",
        encoding="utf-8",
    )
    res = bench.runpytest_subprocess(
        "--model", "qwen2_5_omni", "-m", "at", "-n", "2", "-p", "xdist", "--tb=no", "--concurrency", "4"
    )
    outcomes = res.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, res.stdout.str()[-3000:]
    logs = [(last_run(bench.path) / f"server_qwen2_5_omni_{i}.log").read_text("utf-8") for i in (0, 1)]
    assert all(sum(line.startswith("$ ") for line in log.splitlines()) == 1 for log in logs)
    assert not live_processes(model_path, "vsync_models.serve"), "a replica outlived the run"
    doc = json.loads((last_run(bench.path) / "results_qwen2_5_omni_level1_at.json").read_text("utf-8"))
    # An item a worker stole while its request was in flight is answered from the cache (no replica).
    answered_by = {r["replica"] for r in doc["results"] if not r["cached"]}
    assert len(answered_by) == 2, "both replicas answered"
