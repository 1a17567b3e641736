"""The real thing on a CPU: tiny random Qwen2.5-Omni and Qwen3-Omni thinkers, served and asked.

Each checkpoint is built here (tiny configs, a tokenizer trained on the spot, ``save_pretrained``),
served by ``python -m vsync_models.serve`` in its own process, and asked through the client,
through the official ``qwen_omni_utils`` preprocessing and the processors' audio/video
interleaving. The answers are gibberish; what is checked is that every modality gets through,
that audio costs prompt tokens exactly when it is allowed (the audio canary), and that the
harness scores whatever comes back without infrastructure errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from tests.standins.tiny_omni import (
    TINY_SERVER_ARGS,
    make_clip,
    requires_local_stack,
    running_server,
    shared_dir,
)
from vsync_models.config import load_config
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request
from vsync_models.errors import ModelRequestError
from vsync_models.models.base import ask
from vsync_models.models.omni_server import OmniServerModel, audio_canary
from vsync_models.models.registry import build_model
from vsync_models.run.cache import ResponseCache
from vsync_models.run.evaluate import Evaluator
from vsync_models.scoring.answers import extract_choice
from vsync_models.serve.launch import ServerStartError, start_server
from vsync_models.types import Item, Modality, Outcome

pytestmark = requires_local_stack

OPTIONS = ("A. the red circle", "B. the blue square", "C. the green triangle")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Checkpoints (shared by xdist workers: the builder is atomic and idempotent) and clips."""
    from vsync_models.serve.tiny import build_tiny_checkpoint

    root = shared_dir(tmp_path_factory, "tiny-omni")
    clips = tmp_path_factory.mktemp("qwen-clips")
    return SimpleNamespace(
        root=root,
        q25=build_tiny_checkpoint("qwen2_5_omni", root / "qwen2_5_omni-full"),
        q3=build_tiny_checkpoint("qwen3_omni", root / "qwen3_omni-thinker", layout="thinker"),
        q3t=build_tiny_checkpoint("qwen3_omni_thinking", root / "qwen3_omni_thinking-full"),
        av=make_clip(clips / "av.mp4", seconds=2.0),
        silent=make_clip(clips / "silent.mp4", seconds=2.0, audio=False),
        logs=tmp_path_factory.mktemp("server-logs"),
    )


@pytest.fixture(scope="module")
def qwen25(tiny):
    with running_server("qwen2_5_omni", tiny.q25, tiny.logs, *TINY_SERVER_ARGS) as server:
        yield server


@pytest.fixture(scope="module")
def qwen3(tiny):
    with running_server("qwen3_omni", tiny.q3, tiny.logs, *TINY_SERVER_ARGS) as server:
        yield server


@pytest.fixture
def preparer(tmp_path: Path) -> MediaPreparer:
    return MediaPreparer(tmp_path / "media")


def request_for(clip: Path, modality: Modality, preparer: MediaPreparer, item_id: str = "t1"):
    item = Item(
        id=item_id,
        video_path=clip.name,
        question="Which shape said the sentence?",
        options=OPTIONS,
        correct_answer="B",
        video_file=clip,
        asr_content="the sentence",
    )
    return build_request(item, modality, PromptSettings(), preparer)


def check_every_modality(model: OmniServerModel, clip: Path, preparer: MediaPreparer) -> dict[str, dict]:
    usage = {}
    for modality in Modality:
        out = model.generate(request_for(clip, modality, preparer))
        assert isinstance(out.text, str)
        usage[modality.value] = out.usage
    avt, vt, at = usage["avt"], usage["vt"], usage["at"]
    assert avt["audio_tokens"] > 0 and avt["video_tokens"] > 0
    assert vt["audio_tokens"] == 0 and vt["video_tokens"] > 0, "vt must not carry any audio"
    assert at["audio_tokens"] > 0 and at["video_tokens"] == 0, "at must not carry any frames"
    assert avt["prompt_tokens"] > vt["prompt_tokens"]
    assert avt["completion_tokens"] <= model.max_tokens
    return usage


def test_qwen2_5_omni_tiny_through_the_registry_server_and_client(tiny, tmp_path, preparer):
    """The flow a session fixture will drive: registry → launch spec → tiny checkpoint → server → client."""
    from vsync_models.serve.tiny import build_tiny_checkpoint

    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(f"models:\n  qwen2_5_omni_tiny: {{model_path: '{tiny.q25}'}}\n", encoding="utf-8")
    model = build_model("qwen2_5_omni_tiny", load_config(cfg_path, environ={}))
    assert isinstance(model, OmniServerModel) and model.launch is not None and model.launch.tiny
    build_tiny_checkpoint(model.launch.backend, Path(model.launch.model_path))  # already there: a no-op
    with running_server(
        model.launch.backend, Path(model.launch.model_path), tmp_path, *model.launch.extra_args
    ) as server:
        model.connect(server.base_url)
        model.check()
        card = requests.get(f"{server.base_url}/models", timeout=10).json()["data"][0]["vsync"]
        assert card["backend"] == "qwen2_5_omni" and card["layout"] == "full"
        assert card["architecture"] == "Qwen2_5OmniThinkerForConditionalGeneration"
        assert re.fullmatch(r"[0-9a-f]{64}", card["config_hash"]) and re.fullmatch(
            r"[0-9a-f]{64}", card["weights_id"]
        )
        assert card["torchvision_ops"] in ("native", "schema-only")
        assert model.fingerprint()["server"]["config_hash"] == card["config_hash"]
        usage = check_every_modality(model, tiny.av, preparer)
    print("qwen2_5_omni tiny usage:", json.dumps(usage))


def test_qwen3_omni_thinker_checkpoint_every_modality(tiny, qwen3, preparer):
    model = OmniServerModel("qwen3_omni", qwen3.base_url, max_tokens=6, expected_backend="qwen3_omni")
    model.check()
    usage = check_every_modality(model, tiny.av, preparer)
    print("qwen3_omni tiny usage:", json.dumps(usage))


@pytest.mark.parametrize("family", ["qwen2_5_omni", "qwen3_omni"])
def test_audio_canary_on_tiny_checkpoints(tiny, family, request, preparer):
    server = request.getfixturevalue("qwen25" if family == "qwen2_5_omni" else "qwen3")
    record = audio_canary(
        OmniServerModel(family, server.base_url), tiny.av, preparer, expected_words=["sentence"]
    )
    print(f"audio canary {family}:", json.dumps(record.to_record()))
    assert record.status == "passed", record.detail
    assert record.prompt_tokens_with_audio > record.prompt_tokens_without_audio
    assert record.audio_tokens and record.audio_tokens > 0
    assert record.transcript is not None and record.heard_expected in (True, False)


def test_greedy_decoding_is_deterministic(qwen25, tiny, preparer):
    model = OmniServerModel("qwen2_5_omni", qwen25.base_url, max_tokens=8)
    first = model.generate(request_for(tiny.av, Modality.AVT, preparer))
    again = model.generate(request_for(tiny.av, Modality.AVT, preparer))
    assert first.text == again.text and first.usage == again.usage


def test_a_silent_clip_in_avt_is_a_clear_error_not_an_answer(qwen25, tiny, preparer):
    model = OmniServerModel("qwen2_5_omni", qwen25.base_url)
    request = request_for(tiny.silent, Modality.AVT, preparer)
    with pytest.raises(ModelRequestError, match="no audio track"):
        model.generate(request)
    assert "HTTP 400" in ask(model, request).error
    assert model.generate(request_for(tiny.silent, Modality.VT, preparer)).usage["audio_tokens"] == 0


def test_thinking_model_keeps_its_think_block_in_the_raw_response(tiny, tmp_path, preparer):
    with running_server("qwen3_omni_thinking", tiny.q3t, tmp_path, *TINY_SERVER_ARGS) as server:
        model = OmniServerModel("qwen3_omni_thinking", server.base_url, max_tokens=6)
        out = model.generate(request_for(tiny.av, Modality.AVT, preparer))
    assert out.text.startswith("<think>"), out.text
    if "</think>" not in out.text:  # a random model never closes it: reasoning is never read as an answer
        assert extract_choice(out.text, OPTIONS).letter is None


def test_the_evaluator_scores_tiny_answers_without_infrastructure_errors(qwen25, tiny, tmp_path):
    items = [
        Item(
            id=f"e{i}",
            video_path="av.mp4",
            question=f"Which shape said sentence {i}?",
            options=OPTIONS,
            correct_answer="ABC"[i],
            video_file=tiny.av,
            asr_content=f"sentence {i}",
        )
        for i in range(2)
    ]
    model = OmniServerModel("qwen2_5_omni", qwen25.base_url, max_tokens=4)
    cache = ResponseCache(tmp_path / "responses.sqlite")
    evaluator = Evaluator(
        model=model, prompts={1: PromptSettings()}, preparer=MediaPreparer(tmp_path / "media"), cache=cache
    )
    results = [evaluator.evaluate(item, modality) for item in items for modality in Modality]
    assert all(r.outcome is not Outcome.ERROR for r in results), [r.response.error for r in results]
    assert {r.modality for r in results} == set(Modality)
    assert all(r.response.usage and r.response.usage["prompt_tokens"] > 0 for r in results)
    again = evaluator.evaluate(items[0], Modality.AVT)
    assert again.response.cached and again.response.text == results[0].response.text
    cache.close()


def test_a_checkpoint_of_the_wrong_family_stops_the_server_with_a_clear_message(tiny, tmp_path):
    with pytest.raises(ServerStartError, match="is a 'qwen2_5_omni' checkpoint; backend 'qwen3_omni' loads"):
        start_server("qwen3_omni", tiny.q25, log_path=tmp_path / "wrong.log", startup_timeout_s=240)
