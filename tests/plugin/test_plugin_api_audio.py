"""A run of an OpenAI-compatible model with ``send_audio``, end to end against the stand-in server
that counts the parts of every request: audio in avt and at only, the canary before the first item,
``--require-audio``, and the ceiling line at the model's sampling in every report."""

from __future__ import annotations

import json

import pytest

from tests.support import REPO, last_run
from tests.unit.test_api_audio import heard
from tests.unit.test_ceilings_and_sampling import write_ceilings
from vsync_models.standin import StandIn


def answer(text: str) -> str:
    """Letters for items; for the canary, what the stand-in heard (the last line of its text)."""
    return text.rsplit("\n", 1)[-1] if "Transcribe exactly" in text else "Answer: A"


@pytest.fixture
def api_bench(bench, monkeypatch, tmp_path, warm_openai_sdk):
    real = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0]
    for name in ("clip0.mp4", "clip1.mp4", "clip2.mp4"):  # real clips: the audio is decoded to WAV
        (bench.path / "data" / "level_1" / "videos" / name).write_bytes(real.read_bytes())
    (bench.path / "config").mkdir()
    (bench.path / "config" / "config.yaml").write_text(
        "runtime: {max_retries: 0}\nmodels: {standin: {send_audio: true}}\n", encoding="utf-8"
    )
    monkeypatch.setattr(
        "vsync_models.report.ceilings.CEILINGS_PATH", write_ceilings(tmp_path / "ceilings.json")
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    # every clip here 'says' its item's transcript, "sentence <i> was said here."
    hear = lambda wav: "static" if heard(wav) == "static" else "sentence 0 was said here"  # noqa: E731
    with StandIn(answer=answer, hear=hear) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        yield bench, server


def test_audio_goes_in_avt_and_at_only_the_canary_passes_and_reports_show_audio_and_ceiling(api_bench):
    bench, server = api_bench
    res = bench.runpytest(
        "--model", "openai:standin", "--require-audio", "--vsync-report", "-p", "no:randomly"
    )
    outcomes = res.parseoutcomes()
    assert outcomes.get("errors", 0) == 0 and outcomes["passed"] + outcomes.get("failed", 0) == 24, outcomes

    canary, *items = server.entries
    assert canary["parts"] == {"text": 1, "input_audio": 1}, "the canary: the audio alone, before any item"
    assert len(items) == 24
    with_frames = [e["parts"] for e in items if e["parts"].get("image_url")]
    without = [e["parts"] for e in items if not e["parts"].get("image_url")]
    # 8 avt and 8 vt requests carry frames, 8 at requests none: exactly the avt ones carry audio.
    assert sorted(p.get("input_audio", 0) for p in with_frames) == [0] * 8 + [1] * 8
    assert [p.get("input_audio", 0) for p in without] == [1] * 8, "every at request: one audio part"

    res.stdout.fnmatch_lines(
        [
            "ceiling at this model's sampling: level 1 (1 fps, <= 8 frames; av_sync): "
            "avt 78.6% [68.6-88.6] of 280, vt 25.0% [15.0-35.0] of 280",
            "audio canary: passed (the answer names *); audio sent as an input_audio part (16 kHz mono WAV)",
        ]
    )
    reports = last_run(bench.path)  # the canary's record is one of the run's files
    record = json.loads((reports / "audio_canary_openai_standin.json").read_text("utf-8"))
    assert record["status"] == "passed" and record["method"] == "transcript"
    avt = json.loads((reports / "results_openai_standin_level1.json").read_text("utf-8"))
    vt = json.loads((reports / "results_openai_standin_level1_vt.json").read_text("utf-8"))
    at = json.loads((reports / "results_openai_standin_level1_at.json").read_text("utf-8"))
    assert (avt["audio_sent"], vt["audio_sent"], at["audio_sent"]) == (True, False, True)
    assert avt["ceiling"]["sampling"] == "1 fps, <= 8 frames" and avt["ceiling"]["accuracy"] == 78.57
    assert avt["ceiling"]["tasks"] == {"who_said": {"accuracy": 31.25, "ci": [21.25, 41.25], "n": 80}}
    assert vt["ceiling"]["accuracy"] == 25.0 and "ceiling" not in at, "no row for at: no ceiling"
    html = (reports / "openai_standin.html").read_text("utf-8")
    assert "ceiling at this model&#x27;s sampling: level 1" in html, "the line among the report's facts"
    assert "<dt>audio</dt><dd>sent in avt and at, never in vt; avt: an input_audio part" in html
    assert "<th>ceiling at this model's sampling</th>" in html, "and a column of the accuracy table"
    assert "<td class='t'>78.6% [68.6-88.6] of 280</td>" in html and "<td class='t'>-</td>" in html


def test_require_audio_stops_the_run_before_any_item_when_the_server_drops_the_audio(api_bench):
    bench, server = api_bench
    server.hear = None
    res = bench.runpytest("--model", "openai:standin", "-m", "avt", "--require-audio")
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(
        [
            "*--require-audio: the audio canary failed for 'openai:standin': the answer names 0 of the "
            "clip's 3 words (needs 50%): the audio does not reach the model*"
        ]
    )
    assert len(server.entries) == 1, "only the canary was asked"


def test_without_send_audio_the_run_says_the_model_heard_nothing_and_sends_no_audio(api_bench):
    bench, server = api_bench
    (bench.path / "config" / "config.yaml").write_text("runtime: {max_retries: 0}\n", encoding="utf-8")
    res = bench.runpytest("--model", "openai:standin", "-k", "q000")
    assert res.parseoutcomes().get("errors", 0) == 0
    assert len(server.entries) == 3 and all("input_audio" not in e["parts"] for e in server.entries), (
        "no canary"
    )
    res.stdout.fnmatch_lines(["audio: not sent: in avt and at the model gets the transcript, not the sound*"])
    doc = json.loads((last_run(bench.path) / "results_openai_standin_level1.json").read_text("utf-8"))
    assert doc["audio_sent"] is False and "audio_feed" not in doc
