"""Baselines, the registry, and ask(): infrastructure errors never become answers."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from vsync_models.config import load_config
from vsync_models.errors import ConfigError, MediaError, ModelUnavailable
from vsync_models.models.base import Model, ModelOutput, ask
from vsync_models.models.baselines import ConstantModel, RandomModel
from vsync_models.models.registry import DEFAULT_MODEL, build_model, known_models
from vsync_models.scoring.time_answers import extract_interval, extract_time, extract_yes_no
from vsync_models.types import Modality

OPTIONS = ("A. a", "B. b", "C. c", "D. d")


def req(item_id: str, modality: Modality = Modality.AVT, answer_type: str = "choice", duration_s=None):
    options = OPTIONS if answer_type == "choice" else ()
    return SimpleNamespace(
        item_id=item_id, modality=modality, options=options, answer_type=answer_type, duration_s=duration_s
    )


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


def test_random_answers_every_answer_type_in_a_form_the_extractors_read():
    model = RandomModel(seed=0)
    yes_no = [
        extract_yes_no(model.generate(req(f"q{i}", answer_type="yesno")).text).value for i in range(100)
    ]
    assert set(yes_no) == {"yes", "no"}
    instants = [
        extract_time(model.generate(req(f"q{i}", answer_type="instant", duration_s=6.0)).text).value
        for i in range(100)
    ]
    assert all(0.0 <= t <= 6.0 for t in instants) and len(set(instants)) > 50
    spans = [
        extract_interval(model.generate(req(f"q{i}", answer_type="interval", duration_s=6.0)).text).value
        for i in range(100)
    ]
    assert all(0.0 <= a < b <= 6.1 for a, b in spans)


def test_constant_says_one_thing_per_answer_type():
    model = ConstantModel(answer="C", answers={"yesno": "no"})
    assert model.generate(req("q")).text == "C"
    assert model.generate(req("q", answer_type="yesno")).text == "no"
    assert extract_time(model.generate(req("q", answer_type="instant")).text).value == 0.0


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
