"""Flaky endpoints: both HTTP clients against the fault-injecting stand-in on 127.0.0.1.

Every transient fault is retried with jittered, capped backoff and then answered; a fault that
persists past ``max_retries`` is an error outcome that names its cause and kind; 400/401/403 are
never retried. The sleep and the randomness are injected: the waits are checked, not waited.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.standins.tiny_omni import make_clip
from vsync_models.data.media import MediaPreparer
from vsync_models.data.prompts import PromptSettings, build_request
from vsync_models.errors import ModelError
from vsync_models.models.base import ask
from vsync_models.models.omni_server import OmniServerModel
from vsync_models.models.openai_compat import OpenAICompatModel
from vsync_models.models.retry import RetryPolicy
from vsync_models.standin import FaultPlan, StandIn
from vsync_models.types import Item, Modality

TRANSIENT = {
    "429": "rate_limited",
    "500": "server_error",
    "502": "server_error",
    "503": "server_error",
    "reset": "connection",
    "timeout": "timeout",
    "truncated": "connection",
    "nonjson": "malformed",
    "empty": "empty",
    "no_content": "empty",
}
PERMANENT = {"400": ("bad_request", "bad request"), "401": ("auth", "key"), "403": ("auth", "key")}
TIMEOUT_S = 0.3
"""The clients' read timeout here; the stand-in's "timeout" fault hangs longer."""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("flaky") / "clip.mp4", seconds=1.0)


@pytest.fixture(scope="module")
def preparer(tmp_path_factory: pytest.TempPathFactory) -> MediaPreparer:
    return MediaPreparer(tmp_path_factory.mktemp("flaky-media"))


def request_for(clip: Path, preparer: MediaPreparer):
    item = Item(
        id="q1",
        video_path=clip.name,
        question="Which shape said hello?",
        options=("A. circle", "B. square", "C. triangle", "D. star"),
        correct_answer="A",
        video_file=clip,
        asr_content="hello there",
    )
    return build_request(item, Modality.AT, PromptSettings(), preparer)


class Waits:
    """The injected sleep and randomness: records waits; draws 0.0, i.e. the shortest jittered wait."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    @staticmethod
    def rng() -> float:
        return 0.0


def openai_model(url: str, waits: Waits, retries: int) -> OpenAICompatModel:
    return OpenAICompatModel(
        "openai:standin",
        "standin",
        url,
        "sk-flaky-test",
        timeout_s=TIMEOUT_S,
        retry=RetryPolicy(max_retries=retries, base_s=0.2, cap_s=0.4),
        sleep=waits.sleep,
        rng=waits.rng,
    )


def omni_model(url: str, waits: Waits, retries: int) -> OmniServerModel:
    return OmniServerModel(
        "qwen2_5_omni",
        url,
        timeout_s=TIMEOUT_S,
        retry=RetryPolicy(max_retries=retries, base_s=0.2, cap_s=0.4),
        sleep=waits.sleep,
        rng=waits.rng,
    )


CLIENTS = {"openai": openai_model, "omni_server": omni_model}


def chat_entries(server: StandIn) -> list[dict]:
    return [e for e in server.entries if e["question"]]


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_transient_fault_is_retried_then_answered(client, fault, clip, preparer):
    waits = Waits()
    request = request_for(clip, preparer)
    with StandIn(FaultPlan(script=[fault, fault], hang_s=2.0)) as server:
        model = CLIENTS[client](server.url, waits, retries=3)
        if client == "omni_server":
            model.fingerprint()  # /v1/models first, so the script hits the chat request
        response = ask(model, request)
    assert response.error is None, response.error
    assert response.text.startswith("Answer: ") and response.retries == 2
    assert len(chat_entries(server)) == 3
    # Retry-After: 0 is honoured exactly; otherwise 0.2 s doubling, jittered down to half by rng 0.0
    assert waits.slept == ([0.0, 0.0] if fault == "429" else [0.1, 0.2])


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("fault", ["503", "reset", "nonjson", "empty"])
def test_persistent_fault_becomes_an_error_outcome_with_its_cause(client, fault, clip, preparer):
    waits = Waits()
    with StandIn(FaultPlan(script=[fault] * 3)) as server:
        model = CLIENTS[client](server.url, waits, retries=2)
        if client == "omni_server":
            model.fingerprint()
        response = ask(model, request_for(clip, preparer))
    assert response.text == "" and response.error_kind == TRANSIENT[fault]
    assert response.retries == 2 and "after 3 attempts" in response.error
    assert len(chat_entries(server)) == 3 and waits.slept == [0.1, 0.2]


@pytest.mark.parametrize("client", sorted(CLIENTS))
@pytest.mark.parametrize("fault", sorted(PERMANENT))
def test_bad_request_and_rejected_key_are_never_retried(client, fault, clip, preparer):
    waits = Waits()
    with StandIn(FaultPlan(script=[fault, "ok"])) as server:
        model = CLIENTS[client](server.url, waits, retries=3)
        if client == "omni_server":
            model.fingerprint()
        response = ask(model, request_for(clip, preparer))
    kind, says = PERMANENT[fault]
    assert response.error_kind == kind and response.retries == 0 and waits.slept == []
    assert f"HTTP {fault}" in response.error
    if client == "openai":  # our own server has no keys; the OpenAI client says which to check
        assert says in response.error and (kind != "auth" or "OPENAI_API_KEY" in response.error)
    assert len(chat_entries(server)) == 1


def test_backoff_is_capped_and_jittered_between_half_and_the_nominal_wait(clip, preparer):
    draws = iter([0.0, 0.5, 0.99, 0.25, 0.75])
    slept: list[float] = []
    with StandIn(FaultPlan(script=["500"] * 5)) as server:
        model = OpenAICompatModel(
            "openai:standin",
            "standin",
            server.url,
            "sk-flaky-test",
            retry=RetryPolicy(max_retries=5, base_s=1.0, cap_s=4.0),
            sleep=slept.append,
            rng=lambda: next(draws),
        )
        out = model.generate(request_for(clip, preparer))
    assert out.retries == 5 and out.text.startswith("Answer: ")
    nominal = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert slept == pytest.approx(
        [n * (0.5 + 0.5 * r) for n, r in zip(nominal, [0.0, 0.5, 0.99, 0.25, 0.75], strict=True)]
    )


def test_errors_carry_their_kind_even_without_retries(clip, preparer):
    with StandIn(FaultPlan(script=["reset"])) as server:
        model = openai_model(server.url, Waits(), retries=0)
        with pytest.raises(ModelError) as info:
            model.generate(request_for(clip, preparer))
    assert info.value.kind == "connection" and info.value.retries == 0
    assert "after" not in str(info.value)
