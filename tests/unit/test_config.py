"""Config: the original keys, dotenv beside the file, env wins, clear errors."""

from __future__ import annotations

import pytest

from vsync_models.config import DEFAULT_SYSTEM_PROMPT, load_config
from vsync_models.errors import ConfigError

ORIGINAL = """
api:
  openai: {base_url: "http://127.0.0.1:9/v1"}
runtime: {max_retries: 2, request_delay: 0.5, frame_interval_sec: 2, max_frames: 4}
models:
  defaults: {temperature: 0.0, max_tokens: 32}
  gpt4o: {model_name: gpt-4o-2024-08-06, max_tokens: 16}
prompts: {answer_format: "Letter only."}
benchmark:
  level1: {dataset_path: data/x.json, modality: vt, output_pattern: "results_{model}_level1.json"}
"""


def test_original_keys(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(ORIGINAL, encoding="utf-8")
    cfg = load_config(path, environ={})
    assert (
        cfg.runtime.max_retries == 2 and cfg.runtime.frame_interval_sec == 2.0 and cfg.runtime.max_frames == 4
    )
    assert cfg.api["openai"]["base_url"] == "http://127.0.0.1:9/v1"
    assert cfg.model_settings("gpt4o") == {
        "temperature": 0.0,
        "max_tokens": 16,
        "model_name": "gpt-4o-2024-08-06",
    }
    assert cfg.answer_format == "Letter only."
    assert cfg.level(1).dataset_path == "data/x.json" and cfg.level(1).modality == "vt"
    assert cfg.level(2).dataset_path is None


def test_no_file_gives_defaults():
    cfg = load_config(None, environ={"A": "b"})
    assert cfg.runtime.max_retries == 5 and cfg.env == {"A": "b"} and cfg.answer_format is None


def test_dotenv_beside_the_file_and_env_wins(tmp_path):
    (tmp_path / "config.yaml").write_text("runtime: {}\n", encoding="utf-8")
    (tmp_path / ".env").write_text("OPENAI_API_KEY=from-dotenv\nOTHER=x\n", encoding="utf-8")
    cfg = load_config(tmp_path / "config.yaml", environ={"OPENAI_API_KEY": "from-env"})
    assert cfg.env["OPENAI_API_KEY"] == "from-env" and cfg.env["OTHER"] == "x"
    assert "from-env" not in repr(cfg)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("runtime: {max_frames: many}", "'max_frames' must be int"),
        ("runtime: [1, 2]", "'runtime' must be a mapping"),
        ("runtime: {max_retries: true}", "'max_retries' must be int"),
        ("benchmark: {level1: {modality: 3}}", "'modality' must be str"),
        ("- just\n- a list", "top level must be a mapping"),
        ("runtime: {max_frames: [}", "invalid YAML at line 1"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")) as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_default_prompt_is_the_original():
    assert DEFAULT_SYSTEM_PROMPT.startswith("You are a precise video-audio reasoning assistant.")


def test_shipped_example_config_loads_and_matches_the_defaults():
    from tests.support import REPO
    from vsync_models.data.prompts import PromptSettings, prompt_settings

    cfg = load_config(REPO / "config" / "config.example.yaml", environ={})
    assert prompt_settings(cfg, 1, "random") == PromptSettings()
    assert cfg.model_settings("random")["seed"] == 0


def test_run_limits_are_typed_and_checked(tmp_path):
    from vsync_models.config import RunLimits

    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "models:\n  defaults:\n    concurrency: 8\n"
        "  m:\n    rate_limit:\n      requests_per_min: 120\n      tokens_per_min: 9000.5\n"
        "  bad:\n    concurrency: many\n",
        encoding="utf-8",
    )
    config = load_config(cfg, environ={})
    assert config.run_limits("m") == RunLimits(concurrency=8, requests_per_min=120.0, tokens_per_min=9000.5)
    assert config.run_limits("other") == RunLimits(concurrency=8)
    with pytest.raises(ConfigError, match=r"models\.bad: 'concurrency' must be int, got 'many'"):
        config.run_limits("bad")
