"""Ceilings at a model's sampling: the file read and looked up, and what each adapter declares it sees."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from tests.support import REPO
from vsync_models.config import load_config
from vsync_models.data.media import MediaPreparer, MediaView
from vsync_models.models.base import audio_feed_of, sampling_of
from vsync_models.models.registry import build_model
from vsync_models.report.ceilings import Ceilings, ceiling_line, load_ceilings
from vsync_models.types import Modality, Request, Sampling

CLIP = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0]


def row(level: int, task: str, modality: str, fps: float | None, cap: int | None, correct: int, n: int = 80):
    return {
        "level": level,
        "task": task,
        "modality": modality,
        "fps": fps,
        "max_frames": cap,
        "n": n,
        "correct": correct,
        "accuracy": correct / n,
        "ci_low": max(0.0, correct / n - 0.1),
        "ci_high": min(1.0, correct / n + 0.1),
    }


def write_ceilings(path: Path) -> Path:
    """A small ceilings file in the shared format: level 1 at 1 fps <= 8 frames and at every frame."""
    rows = [
        row(1, "all", "avt", 1.0, 8, 220, 280),
        row(1, "all", "vt", 1.0, 8, 70, 280),
        row(1, "who_said", "avt", 1.0, 8, 25),
        row(1, "all", "avt", None, None, 280, 280),
        row(1, "who_said", "avt", 2.0, None, 78),
    ]
    doc = {"command": "python -m vsync_models.synth ceilings", "perceiver": "av_sync", "rows": rows}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_lookup_finds_exactly_the_models_sampling_and_nothing_else(tmp_path):
    ceilings = load_ceilings(write_ceilings(tmp_path / "ceilings.json"))
    assert ceilings.perceiver == "av_sync" and ceilings.command.startswith("python -m")
    openai = Sampling(fps=1.0, max_frames=8)
    hit = ceilings.lookup(openai, 1, "who_said", "avt")
    assert hit is not None and (hit.correct, hit.n) == (25, 80) and hit.text() == "31.2% [21.2-41.2] of 80"
    assert ceilings.lookup(Sampling(fps=1 / 1.0, max_frames=8), 1, "all", "vt").correct == 70
    assert ceilings.lookup(Sampling(), 1, "all", "avt").correct == 280, "every frame: fps null, no cap"
    assert ceilings.lookup(Sampling(fps=2.0), 1, "who_said", "avt").correct == 78
    # no row: another cap, another rate, another level, task or modality, or no declared sampling
    assert ceilings.lookup(Sampling(fps=1.0), 1, "who_said", "avt") is None
    assert ceilings.lookup(Sampling(fps=1.0, max_frames=16), 1, "all", "avt") is None
    assert ceilings.lookup(Sampling(fps=4.0), 1, "all", "avt") is None
    assert ceilings.lookup(openai, 2, "all", "avt") is None
    assert ceilings.lookup(openai, 1, "all", "at") is None
    assert ceilings.lookup(None, 1, "all", "avt") is None


def test_the_line_names_sampling_perceiver_and_each_modality_with_a_row(tmp_path):
    ceilings = load_ceilings(write_ceilings(tmp_path / "ceilings.json"))
    line = ceiling_line(ceilings, Sampling(fps=1.0, max_frames=8), 1, ["avt", "vt", "at"])
    assert line == (
        "ceiling at this model's sampling: level 1 (1 fps, <= 8 frames; av_sync): "
        "avt 78.6% [68.6-88.6] of 280, vt 25.0% [15.0-35.0] of 280"
    )
    assert ceiling_line(ceilings, Sampling(fps=4.0), 1, ["avt"]) is None
    assert ceiling_line(ceilings, None, 1, ["avt"]) is None


def test_a_missing_file_means_no_rows_and_a_broken_one_is_named(tmp_path):
    assert load_ceilings(tmp_path / "absent.json") == Ceilings()
    assert ceiling_line(load_ceilings(tmp_path / "absent.json"), Sampling(), 1, ["avt"]) is None
    broken = tmp_path / "broken.json"
    broken.write_text('{"rows": [{"level": 1}]}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not a ceilings file"):
        load_ceilings(broken)
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not a readable ceilings file"):
        load_ceilings(broken)


def config(tmp_path: Path, text: str = "", env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=env or {"OPENAI_API_KEY": "sk-test", "GEMINI_API_KEY": "g-test"})


def test_each_adapter_declares_the_sampling_it_really_uses(tmp_path):
    cfg = config(
        tmp_path, "models: {qwen2_5_omni: {video_fps: 4}, omni_fps: {video_fps: 1, num_video_frames: 8}}\n"
    )
    openai = build_model("openai:gpt-4o", cfg)
    assert sampling_of(openai) == Sampling(fps=1.0, max_frames=8)
    assert sampling_of(build_model("gpt4o", cfg)) == Sampling(fps=1.0, max_frames=8)
    gemini = build_model("gemini_2_5_flash", cfg)
    assert sampling_of(gemini) == Sampling(fps=1.0) and "soundtrack" in audio_feed_of(gemini)
    assert audio_feed_of(openai) == "" and audio_feed_of(build_model("random", cfg)) is None
    assert sampling_of(build_model("qwen3_omni", cfg)) == Sampling(fps=2.0), "qwen-omni-utils' default"
    assert sampling_of(build_model("qwen2_5_omni", cfg)) == Sampling(fps=4.0), "its video_fps"
    assert sampling_of(build_model("qwen3_omni", cfg, engine="vllm")) is None, "vLLM's loader: not stated"
    assert sampling_of(build_model("omni:some-checkpoint", cfg)) is None
    assert sampling_of(build_model("omni:omni_fps", cfg)) == Sampling(fps=1.0, max_frames=8)
    assert sampling_of(build_model("av_sync", cfg)) == Sampling(), "every decoded frame"
    assert sampling_of(build_model("random", cfg)) is None

    # The declaration is what the OpenAI-compatible client sends: on a 10 s clip, 8 frames at
    # least a second apart, spread over the clip.
    request_media = MediaView(CLIP, Modality.VT, MediaPreparer(tmp_path / "media"))
    request = Request("1", 1, Modality.VT, "p", "q", (), "", "", "", None, request_media)
    images = [p for p in openai.build_messages(request)[0]["content"] if p["type"] == "image_url"]
    times = request_media.frames(openai.frame_interval_s, openai.max_frames)
    assert len(images) == len(times) == 8
    gaps = [b.t - a.t for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 - 1e-6, "never faster than the declared 1 fps"
