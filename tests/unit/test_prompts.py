"""Prompt assembly against the original's documented output, and the modality gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from vsync_models.config import load_config
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, assemble_prompt, build_request, prompt_settings
from vsync_models.types import Item, Modality

OPTIONS = ("A. the red circle", "B. the blue square")

# Written out by hand from the original's documented assembly (parts joined by a blank line).
ORIGINAL_AVT = """[SYSTEM]
You are a precise video-audio reasoning assistant. You must answer ONLY with the option letter (A, B, C, or D).

[ASR]
hello there. how are you.

Options:
A. the red circle
B. the blue square

Please carefully analyze the video, paying attention to the temporal relationship between the audio and visual content.

Answer ONLY with the option letter (A, B, C, or D). Do not include any other text."""


def make_item(tmp_path: Path, asr: str = "hello there. how are you.") -> Item:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"x")
    return Item(
        id="q1",
        video_path="clip.mp4",
        question="Who said 'hello there'?",
        options=OPTIONS,
        correct_answer="A",
        video_file=clip,
        asr_content=asr,
    )


def test_default_assembly_is_the_originals():
    assert assemble_prompt(OPTIONS, "hello there. how are you.", PromptSettings()) == ORIGINAL_AVT


def test_asr_part_dropped_without_transcript_and_empty_parts_skipped():
    text = assemble_prompt(OPTIONS, None, PromptSettings(system_prompt="", user_prompt="", answer_format="X"))
    assert text == "Options:\nA. the red circle\nB. the blue square\n\nX"


@pytest.mark.parametrize(
    ("modality", "has_asr"), [(Modality.AVT, True), (Modality.VT, False), (Modality.AT, True)]
)
def test_transcript_only_where_audio_is_allowed(tmp_path, modality, has_asr):
    req = build_request(make_item(tmp_path), modality, PromptSettings(), MediaPreparer(tmp_path / "cache"))
    assert (req.asr_text is not None) == has_asr
    assert ("[ASR]" in req.prompt) == has_asr
    assert ("hello there. how are you." in req.prompt) == has_asr
    assert req.question == "Who said 'hello there'?" and req.question not in req.prompt
    assert req.media.modality is modality


def test_avt_request_prompt_matches_original(tmp_path):
    req = build_request(make_item(tmp_path), Modality.AVT, PromptSettings(), MediaPreparer(tmp_path / "c"))
    assert req.prompt == ORIGINAL_AVT


def test_prompt_settings_from_config_keys(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "prompts: {answer_format: 'Letter.'}\n"
        "benchmark: {level1: {system_prompt: 'SYS', user_prompt: 'LEVEL'}}\n"
        "models: {gpt4o: {user_prompt: 'MODEL'}}\n",
        encoding="utf-8",
    )
    cfg = load_config(path, environ={})
    assert prompt_settings(cfg, 1, "gpt4o") == PromptSettings("SYS", "MODEL", "Letter.")
    assert prompt_settings(cfg, 1, "random") == PromptSettings("SYS", "LEVEL", "Letter.")
    assert prompt_settings(load_config(None, environ={}), 1, "random") == PromptSettings()


def test_a_signed_instant_asks_for_a_signed_time_unless_the_level_sets_one_format(tmp_path):
    from dataclasses import replace

    from vsync_models.config import Config

    item = replace(
        make_item(tmp_path), level=2, options=(), answer_type="instant", answer=-1.2, duration=10.0
    )
    settings = prompt_settings(Config(), 2, "m")
    preparer = MediaPreparer(tmp_path / "cache")
    plain = build_request(item, Modality.AVT, settings, preparer)
    signed = build_request(replace(item, signed=True), Modality.AVT, settings, preparer)
    assert "'4.2 s'" in plain.answer_format and "'-1.2 s'" not in plain.answer_format
    assert "signed time" in signed.answer_format and "'-1.2 s'" in signed.answer_format
    assert signed.prompt.endswith(signed.answer_format) and signed.answer_type == "instant"
    one = replace(settings, typed_formats={}, answer_format="Reply with a number.")
    assert build_request(replace(item, signed=True), Modality.AVT, one, preparer).answer_format == (
        "Reply with a number."
    )
