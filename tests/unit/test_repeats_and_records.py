"""pass@k and pass^k, the repeat summary, and the replay model --rescore decides with."""

from __future__ import annotations

import json

import pytest

from vsync_models.errors import ModelError
from vsync_models.records import ReplayModel, read_records, run_record
from vsync_models.repeats import repeats_warning, summarize_repeats
from vsync_models.stats import pass_at_k, pass_hat_k
from vsync_models.types import Modality, Request


def test_pass_at_k_and_pass_hat_k_known_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4) == pass_hat_k(5, 2, 1)  # k = 1: plain accuracy
    assert pass_at_k(5, 2, 5) == 1.0 and pass_hat_k(5, 2, 5) == 0.0
    assert pass_at_k(4, 0, 2) == 0.0 and pass_hat_k(4, 4, 2) == 1.0
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)
    assert pass_hat_k(4, 3, 2) == pytest.approx(0.5)  # C(3,2)/C(4,2)


def test_pass_hat_k_never_exceeds_pass_at_k():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_hat_k(n, c, k) <= pass_at_k(n, c, k) + 1e-12


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, 1, 0), (3, 1, 4), (0, 0, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def rec(item: str, outcomes: list[str], predictions: list[str], modality: str = "avt") -> dict:
    return {
        "id": item,
        "level": 1,
        "modality": modality,
        "outcome": outcomes[0],
        "repeats": [
            {"repeat": i, "outcome": o, "prediction": p}
            for i, (o, p) in enumerate(zip(outcomes, predictions, strict=True))
        ],
        "flaky": len(set(predictions)) > 1,
    }


def test_repeat_summary_mean_spread_pass_k_and_flaky_items():
    records = [
        rec("q1", ["correct"] * 3, ["A"] * 3),
        rec("q2", ["correct", "wrong", "wrong"], ["A", "B", "C"]),
        rec("q3", ["wrong"] * 3, ["B"] * 3),
        rec("q4", ["correct", "error", "correct"], ["A", None, "A"]),  # an error in a repeat: left out
    ]
    (g,) = summarize_repeats(records)
    assert (g.repeats, g.items) == (3, 3)
    assert g.accuracies == pytest.approx((2 / 3, 1 / 3, 1 / 3))
    assert g.mean == pytest.approx(4 / 9)
    assert g.spread == pytest.approx(0.19245, abs=1e-4)
    assert g.pass_at_k == pytest.approx(2 / 3) and g.pass_hat_k == pytest.approx(1 / 3)
    assert g.flaky == ("q2-avt",)


def test_repeats_of_a_greedy_or_deterministic_model_are_announced_as_identical():
    assert "greedy" in repeats_warning({"temperature": 0.0}, 3)
    assert "greedy" in repeats_warning({"temperature": None}, 3)
    assert "deterministic" in repeats_warning({"kind": "constant"}, 2)
    assert repeats_warning({"temperature": 0.7}, 3) is None
    assert repeats_warning({"kind": "random", "seed": 0}, 3) is None
    assert repeats_warning({"temperature": 0.0}, 1) is None


def request(item_id: str, options: tuple[str, ...] = ("A. x", "B. y"), repeat: int = 0) -> Request:
    return Request(item_id, 1, Modality.AVT, "P", "Q?", options, "", "", "", None, None, repeat=repeat)  # type: ignore[arg-type]


def test_replay_answers_each_request_from_its_own_record(tmp_path):
    lines = [
        run_record(
            {
                "id": "q1",
                "level": 1,
                "modality": "avt",
                "options": ["A. x", "B. y"],
                "raw_response": "B",
                "outcome": "correct",
                "usage": {"total_tokens": 3},
                "repeats": [
                    {"repeat": 0, "raw_response": "B", "outcome": "correct"},
                    {"repeat": 1, "raw_response": "A", "outcome": "wrong"},
                ],
            },
            "m",
            {"temperature": 0.7, "model_name": "x"},
        ),
        run_record(
            {
                "id": "q2",
                "level": 1,
                "modality": "avt",
                "options": ["A. x", "B. y"],
                "outcome": "error",
                "error": "HTTP 500",
            },
            "m",
            {"temperature": 0.7},
        ),
    ]
    path = tmp_path / "r.records.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"torn', encoding="utf-8")
    records = read_records([path])
    assert len(records) == 2 and records[0]["decoding"] == {"temperature": 0.7}
    replay = ReplayModel.from_records("m", records)
    assert replay.fingerprint() == {"temperature": 0.7, "model_name": "x"}
    assert replay.generate(request("q1")).text == "B"
    assert replay.generate(request("q1")).usage == {"total_tokens": 3}
    assert replay.generate(request("q1", repeat=1)).text == "A"
    with pytest.raises(ModelError, match="HTTP 500"):
        replay.generate(request("q2"))  # a recorded error stays an error
    with pytest.raises(ModelError, match="no recorded response"):
        replay.generate(request("q1", options=("A. y", "B. x")))  # another rotation was never asked
    with pytest.raises(ModelError, match="no recorded response"):
        replay.generate(request("q9"))
