"""Audio for OpenAI-compatible models (``send_audio``), its canary, and ``omni:<served-name>``."""

from __future__ import annotations

import io
import json
import sys
import wave
from pathlib import Path

import pytest

from tests.support import REPO
from vsync_models.config import load_config
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request
from vsync_models.errors import ConfigError, ModalityViolation
from vsync_models.models.omni_server import OmniServerModel
from vsync_models.models.openai_compat import OpenAICompatModel, api_audio_canary
from vsync_models.models.registry import build_model, known_models
from vsync_models.serve.serving import Endpoint, serving_for
from vsync_models.standin import StandIn
from vsync_models.types import Item, Modality

CLIP = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0]
TRANSCRIPT = "The parrot can say hello now. The dog is chasing its own tail."


def wav_info(data: bytes) -> tuple[int, int, int]:
    with wave.open(io.BytesIO(data)) as w:
        return w.getframerate(), w.getnchannels(), w.getnframes()


def heard(wav: bytes) -> str:
    """The stand-in's ears: a 16 kHz mono WAV of the clip's length 'says' the transcript."""
    rate, channels, frames = wav_info(wav)
    return TRANSCRIPT if (rate, channels) == (16000, 1) and frames > 5 * rate else "static"


def transcribe_or_letter(text: str) -> str:
    return text.rsplit("\n", 1)[-1] if "Transcribe exactly" in text else "Answer: A"


@pytest.fixture
def preparer(tmp_path):
    return MediaPreparer(tmp_path / "media")


def item(options: tuple[str, ...] = ("A. red", "B. blue", "C. green", "D. grey")) -> Item:
    return Item(
        id="q1",
        video_path=CLIP.name,
        question="Which character said 'hello'?",
        options=options,
        correct_answer="A",
        video_file=CLIP,
        asr_content=TRANSCRIPT,
    )


def test_the_media_view_hands_out_wav_audio_in_avt_and_at_and_refuses_it_in_vt(preparer):
    for modality in (Modality.AVT, Modality.AT):
        request = build_request(item(), modality, PromptSettings(), preparer)
        rate, channels, frames = wav_info(request.media.audio_wav())
        assert (rate, channels) == (16000, 1) and 9 * rate < frames < 12 * rate, "the whole soundtrack (11 s)"
    assert (preparer.stats.prepared, preparer.stats.reused) == (1, 1), "converted once, then reused"
    vt = build_request(item(), Modality.VT, PromptSettings(), preparer)
    with pytest.raises(ModalityViolation, match="withholds audio"):
        vt.media.audio_wav()


def test_send_audio_puts_one_wav_part_in_avt_and_at_and_none_in_vt(preparer):
    with StandIn(answer=lambda text: "Answer: A") as server:
        model = OpenAICompatModel("openai:standin", "standin", server.url, "sk-test", send_audio=True)
        for modality in (Modality.AVT, Modality.VT, Modality.AT):
            out = model.generate(build_request(item(), modality, PromptSettings(), preparer))
            assert out.text == "Answer: A"
        parts = [e["parts"] for e in server.entries]
    assert parts[0] == {"text": 9, "image_url": 8, "input_audio": 1}, "avt: prompt, 8 labelled frames, audio"
    assert parts[1] == {"text": 9, "image_url": 8}, "vt: frames, no audio"
    assert parts[2] == {"text": 1, "input_audio": 1}, "at: the audio, no frames"
    model.close()


def test_without_send_audio_no_request_carries_audio_and_the_cache_key_says_which(preparer):
    with StandIn() as server:
        plain = OpenAICompatModel("m", "standin", server.url, "sk-test")
        for modality in Modality:
            plain.generate(build_request(item(), modality, PromptSettings(), preparer))
        assert all("input_audio" not in e["parts"] for e in server.entries)
    hearing = OpenAICompatModel("m", "standin", "http://x/v1", "sk-test", send_audio=True)
    assert "send_audio" not in plain.fingerprint(), "runs without audio keep their cache keys"
    assert hearing.fingerprint()["send_audio"] == "wav 16000 Hz mono"
    assert plain.audio_feed == "" and "input_audio" in hearing.audio_feed


def test_the_api_canary_passes_when_the_audio_is_heard_and_fails_when_it_is_dropped(preparer):
    with StandIn(answer=transcribe_or_letter, hear=heard) as server:
        model = OpenAICompatModel("openai:standin", "standin", server.url, "sk-test", send_audio=True)
        record = api_audio_canary(model, CLIP, preparer, TRANSCRIPT)
        assert record.passed and record.method == "transcript", record
        assert (record.words_heard, record.words_expected) == (11, 11)
        assert server.entries[-1]["parts"] == {"text": 1, "input_audio": 1}, "audio alone, no frames"
        assert record.describe().startswith("passed (the answer names 11 of the clip's 11 words)")

        server.hear = None  # a server that drops the audio part: the model can only echo the question
        record = api_audio_canary(model, CLIP, preparer, TRANSCRIPT)
        assert record.status == "failed" and record.words_heard == 0
        assert "the audio does not reach the model" in record.detail

        no_words = api_audio_canary(model, CLIP, preparer, "")
        assert no_words.status == "error" and "no transcript" in no_words.detail


def config(tmp_path: Path, text: str = "", env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={"OPENAI_API_KEY": "sk-test", **(env or {})})


def test_send_audio_is_read_per_model_and_must_be_a_boolean(tmp_path):
    cfg = config(tmp_path, "models: {gpt-4o: {send_audio: true}, mini: {send_audio: 'yes'}}\n")
    assert build_model("openai:gpt-4o", cfg).send_audio is True
    assert build_model("gpt4o", cfg).send_audio is False, "gpt4o reads models.gpt4o, which says nothing"
    with pytest.raises(ConfigError, match=r"models\.mini\.send_audio = 'yes': must be a valid boolean"):
        build_model("openai:mini", cfg)


def test_the_canary_applies_to_omni_servers_and_to_apis_sent_audio_only(tmp_path):
    cfg = config(tmp_path, "models: {gpt-4o: {send_audio: true}}\n")
    hearing = serving_for(build_model("openai:gpt-4o", cfg), tmp_path)
    deaf = serving_for(build_model("openai:gpt-4o-mini", cfg), tmp_path)
    omni = serving_for(build_model("omni:ckpt", cfg), tmp_path)
    assert all(isinstance(s, Endpoint) for s in (hearing, deaf, omni))
    assert hearing.canary is not None and omni.canary is not None
    assert deaf.audio_canary(CLIP, MediaPreparer(tmp_path / "m"), TRANSCRIPT) is None, (
        "nothing sent, nothing to check"
    )


def test_omni_prefix_asks_any_server_for_the_served_name_at_the_configured_url(tmp_path):
    assert "omni:<served-name>" in known_models(config(tmp_path))
    model = build_model("omni:Org/Some-Omni-7B", config(tmp_path))
    assert isinstance(model, OmniServerModel) and model.model_name == "Org/Some-Omni-7B"
    assert model.base_url == "http://127.0.0.1:8000/v1" and model.launch is None, (
        "vLLM's default, never started"
    )
    assert (model.engine, model.audio_mode, model.audio_format) == ("vllm", "separate", "wav")
    from_env = build_model("omni:m", config(tmp_path, env={"VSYNC_OMNI_URL": "http://gpu-3:9000"}))
    assert from_env.base_url == "http://gpu-3:9000/v1"
    text = "models: {m: {server_url: 'http://gpu-4:8001/v1', engine: transformers, video_fps: 2}}\n"
    configured = build_model("omni:m", config(tmp_path, text, env={"VSYNC_OMNI_URL": "http://gpu-3:9000"}))
    assert configured.base_url == "http://gpu-4:8001/v1", "the model's own setting wins over the environment"
    assert configured.engine == "transformers" and configured.audio_mode == "in_video"
    with pytest.raises(ConfigError, match="needs the name the server serves"):
        build_model("omni:", config(tmp_path))


FAKE_VLLM = REPO / "tests" / "standins" / "fake_vllm.py"


def test_omni_prefix_runs_against_a_vllm_stand_in_with_video_and_wav_audio(tmp_path, preparer):
    from vsync_models.serve.launch import stop_server
    from vsync_models.serve.vllm_engine import VllmSettings, start_vllm

    served = str(tmp_path / "Unnamed-Omni-Checkpoint")
    settings = VllmSettings(executable=(sys.executable, str(FAKE_VLLM)))
    server = start_vllm(served, settings, log_path=tmp_path / "vllm.log", startup_timeout_s=120)
    try:
        cfg = config(tmp_path, env={"VSYNC_OMNI_URL": server.url})
        model = build_model(f"omni:{served}", cfg)
        model.check()
        assert model.fingerprint()["server"]["model"] == served
        seen = {}
        for modality in Modality:
            out = model.generate(build_request(item(), modality, PromptSettings(), preparer))
            seen[modality] = [m["kind"] for m in json.loads(out.text)["media"]]  # the echo backend's view
        assert seen == {Modality.AVT: ["video", "audio"], Modality.VT: ["video"], Modality.AT: ["audio"]}
        canary = serving_for(model, tmp_path).audio_canary(CLIP, preparer, TRANSCRIPT)
        assert canary is not None and canary.passed and canary.method == "prompt_tokens", canary
    finally:
        stop_server(server)
