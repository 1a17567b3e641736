"""Typed per-model settings: models.defaults < models.<name> < --model-arg, clear errors, warnings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vsync_models.config import load_config
from vsync_models.errors import ConfigError
from vsync_models.models.registry import build_model, model_settings
from vsync_models.models.settings import (
    AVSyncSettings,
    OpenAISettings,
    RandomSettings,
    ServedSettings,
    parse_model_args,
)


def config(tmp_path, text: str, *args: str):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return replace(load_config(path, environ={}), model_args=parse_model_args(args))


def test_a_bad_seed_in_the_config_is_a_config_error_naming_key_value_and_type(tmp_path):
    cfg = config(tmp_path, "models:\n  random: {seed: abc}\n")
    with pytest.raises(ConfigError, match=r"models\.random\.seed = 'abc': must be a valid integer"):
        build_model("random", cfg)


def test_a_value_outside_the_allowed_ones_names_them(tmp_path):
    cfg = config(tmp_path, "", "fallback=maybe")
    with pytest.raises(ConfigError, match=r"--model-arg fallback = 'maybe': must be 'guess' or 'abstain'"):
        build_model("av_sync", cfg)
    with pytest.raises(ConfigError, match=r"--model-arg top_p = 3: must be less than or equal to 1"):
        build_model("openai:x", config(tmp_path, "", "top_p=3"))
    bad_limit = config(tmp_path, "", "rate_limit.requests_per_min=fast")
    with pytest.raises(ConfigError, match=r"--model-arg rate_limit\.requests_per_min = 'fast': must be"):
        model_settings("random", bad_limit)


def test_model_args_win_over_the_section_which_wins_over_defaults(tmp_path):
    text = "models:\n  defaults: {temperature: 0.1, max_tokens: 32}\n  gpt4o: {temperature: 0.5}\n"
    resolved = model_settings("gpt4o", config(tmp_path, text, "max_tokens=8"))
    assert isinstance(resolved.settings, OpenAISettings)
    assert (resolved.settings.temperature, resolved.settings.max_tokens) == (0.5, 8)
    assert resolved.effective()["temperature"] == 0.5 and resolved.warnings == ()
    model = build_model("gpt4o", replace(config(tmp_path, text, "max_tokens=8"), env={"OPENAI_API_KEY": "k"}))
    assert model.max_tokens == 8 and model.temperature == 0.5


def test_defaults_a_provider_does_not_read_are_ignored_silently(tmp_path):
    resolved = model_settings("av_sync", config(tmp_path, "models:\n  defaults: {temperature: 0.0}\n"))
    assert isinstance(resolved.settings, AVSyncSettings) and resolved.warnings == ()


def test_an_unknown_key_is_one_warning_with_the_nearest_known_key(tmp_path):
    resolved = model_settings("random", config(tmp_path, "models:\n  random: {sed: 3}\n", "seeed=4"))
    assert resolved.warnings == (
        "models.random.sed is not a setting of model 'random' and is ignored; did you mean 'seed'?",
        "--model-arg seeed is not a setting of model 'random' and is ignored; did you mean 'seed'?",
    )
    assert isinstance(resolved.settings, RandomSettings) and resolved.settings.seed == 0


def test_openai_prefixed_models_read_the_section_of_their_model_id(tmp_path):
    resolved = model_settings("openai:gpt-4.1", config(tmp_path, "models:\n  gpt-4.1: {max_tokens: 7}\n"))
    assert resolved.settings.max_tokens == 7


def test_engine_is_a_setting_of_local_models_only(tmp_path):
    resolved = model_settings("qwen3_omni", config(tmp_path, ""), engine="vllm")
    assert isinstance(resolved.settings, ServedSettings) and resolved.settings.engine == "vllm"
    with pytest.raises(ConfigError, match="--engine applies to the local omni models"):
        model_settings("random", config(tmp_path, ""), engine="vllm")


def test_model_args_are_read_as_yaml_values_and_dotted_keys_nest():
    assert parse_model_args(
        ["temperature=0.2", "gpu_ids=[0, 1]", "use_audio_in_video=false", "rate_limit.tokens_per_min=90000"]
    ) == {
        "temperature": 0.2,
        "gpu_ids": [0, 1],
        "use_audio_in_video": False,
        "rate_limit": {"tokens_per_min": 90000},
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_model_args(["temperature"])


def test_a_rate_limit_given_as_a_model_arg_reaches_the_run_limits(tmp_path):
    cfg = config(
        tmp_path, "models:\n  random: {rate_limit: {tokens_per_min: 5}}\n", "rate_limit.requests_per_min=60"
    )
    limits = cfg.run_limits("random")
    assert (limits.requests_per_min, limits.tokens_per_min) == (60.0, 5.0)


def test_a_nested_model_arg_keeps_the_sections_other_keys_in_the_typed_settings_too(tmp_path):
    cfg = config(
        tmp_path,
        "models:\n  random: {rate_limit: {requests_per_min: 60, tokens_per_min: 1000}}\n",
        "rate_limit.requests_per_min=30",
    )
    limit = model_settings("random", cfg).settings.rate_limit
    assert limit is not None and (limit.requests_per_min, limit.tokens_per_min) == (30.0, 1000.0)
    run = cfg.run_limits("random")
    assert (run.requests_per_min, run.tokens_per_min) == (30.0, 1000.0), "shown and used agree"


def test_a_pixel_limit_written_as_2e9_is_the_number_it_spells(tmp_path):
    # YAML 1.1 (PyYAML) reads 2e9 as a string; the docs write the default as 2e9
    from_config = build_model("av_sync", config(tmp_path, "models:\n  av_sync: {max_decoded_pixels: 2e9}\n"))
    assert from_config.sight.max_decoded_pixels == 2_000_000_000
    from_arg = build_model("av_sync", config(tmp_path, "", "max_decoded_pixels=1.5E+6"))
    assert from_arg.sight.max_decoded_pixels == 1_500_000
    with pytest.raises(
        ConfigError, match=r"models\.av_sync\.max_decoded_pixels = '2e9x': must be a valid number"
    ):
        build_model("av_sync", config(tmp_path, "models:\n  av_sync: {max_decoded_pixels: 2e9x}\n"))
    with pytest.raises(ConfigError, match=r"max_decoded_pixels = '1e-3': must be greater than or equal to 1"):
        build_model("av_sync", config(tmp_path, "", "max_decoded_pixels=1e-3"))
