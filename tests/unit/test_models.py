"""Baselines, the registry, and ask(): infrastructure errors never become answers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vsync_models.config import load_config
from vsync_models.errors import ConfigError, MediaError, ModelUnavailable
from vsync_models.models.base import Model, ModelOutput, ask
from vsync_models.models.baselines import ConstantModel, RandomModel
from vsync_models.models.registry import DEFAULT_MODEL, build_model, known_models
from vsync_models.types import Modality

OPTIONS = ("A. a", "B. b", "C. c", "D. d")


def req(item_id: str, modality: Modality = Modality.AVT):
    return SimpleNamespace(item_id=item_id, modality=modality, options=OPTIONS)


def test_random_is_reproducible_and_order_independent():
    model = RandomModel(seed=3)
    first = [model.generate(req(f"q{i}")).text for i in range(200)]
    again = [RandomModel(seed=3).generate(req(f"q{i}")).text for i in reversed(range(200))][::-1]
    assert first == again
    assert set(first) == {"A", "B", "C", "D"}
    assert 30 <= first.count("A") <= 70  # roughly uniform over 200 draws
    other = [RandomModel(seed=4).generate(req(f"q{i}")).text for i in range(200)]
    assert other != first
    blind = [RandomModel(seed=3).generate(req(f"q{i}", Modality.VT)).text for i in range(200)]
    assert blind == first, "a media-blind model answers the same in every modality"


def test_constant_and_fingerprints():
    assert ConstantModel(answer="C").generate(req("q")).text == "C"
    assert RandomModel(seed=1).fingerprint() != RandomModel(seed=2).fingerprint()
    assert isinstance(RandomModel(), Model)


def test_registry_builtins_config_and_unknown(tmp_path):
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text("models: {random: {seed: 9}, constant: {answer: B}}\n", encoding="utf-8")
    cfg = load_config(cfg_path, environ={})
    assert build_model("random", cfg).fingerprint() == {"kind": "random", "seed": 9}
    assert build_model("constant", cfg).generate(req("q")).text == "B"
    assert DEFAULT_MODEL in known_models(cfg)
    with pytest.raises(ConfigError, match=r"unknown model 'nope'; known models: .*constant.*random"):
        build_model("nope", cfg)
    with pytest.raises(ConfigError, match="not supported yet: Mini-Omni2 takes one input modality"):
        build_model("miniomni_2", cfg)  # qwen2_5_omni and qwen3_omni* are served (omni_server)
    with pytest.raises(ConfigError, match="needs a model name"):
        build_model("openai:", cfg)


def test_registry_builds_openai_clients_from_env_and_config(tmp_path):
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(
        "api: {gemini: {base_url: 'http://127.0.0.1:1/gemini'}}\nruntime: {max_frames: 3}\n"
        "models: {gpt4o: {model_name: gpt-4o-mini, max_tokens: 9}}\n",
        encoding="utf-8",
    )
    env = {"OPENAI_BASE_URL": "http://127.0.0.1:2/v1", "OPENAI_API_KEY": "sk-test"}
    cfg = load_config(cfg_path, environ=env)
    fp = build_model("gpt4o", cfg).fingerprint()
    assert fp["model_name"] == "gpt-4o-mini" and fp["max_tokens"] == 9 and fp["max_frames"] == 3
    assert fp["base_url"] == "http://127.0.0.1:2/v1"
    assert build_model("openai:my-model", cfg).fingerprint()["model_name"] == "my-model"
    # OPENAI_BASE_URL must not redirect a Gemini model to the OpenAI endpoint
    assert build_model("gemini_2_5_flash", cfg).fingerprint()["base_url"] == "http://127.0.0.1:1/gemini"


class Failing:
    name = "failing"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def fingerprint(self):
        return {}

    def check(self):
        return None

    def generate(self, request):
        raise self.exc


@pytest.mark.parametrize("exc", [ModelUnavailable("server gone"), MediaError("bad clip")])
def test_ask_turns_infrastructure_errors_into_error_responses(exc):
    response = ask(Failing(exc), req("q"))
    assert response.text == "" and response.error is not None and str(exc) in response.error


def test_ask_lets_bugs_through():
    with pytest.raises(ZeroDivisionError):
        ask(Failing(ZeroDivisionError()), req("q"))


def test_ask_measures_latency_with_injected_clock():
    ticks = iter([10.0, 12.5])

    class Echo:
        name = "echo"

        def generate(self, request):
            return ModelOutput(text="A", usage={"total_tokens": 1})

    response = ask(Echo(), req("q"), clock=lambda: next(ticks))
    assert response.latency_s == 2.5 and response.usage == {"total_tokens": 1} and response.error is None
