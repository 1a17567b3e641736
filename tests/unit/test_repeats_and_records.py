"""pass@k and pass^k, the repeat summary, and the replay model --rescore decides with."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vsync_models.errors import ModelError
from vsync_models.record import Record, read_records
from vsync_models.report.repeats import format_repeats, pass_k_curves, repeats_warning, summarize_repeats
from vsync_models.report.stats import pass_at_k, pass_hat_k
from vsync_models.run.records import ReplayModel
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


correctness_matrices = st.integers(1, 8).flatmap(
    lambda n: st.lists(st.lists(st.booleans(), min_size=n, max_size=n), min_size=1, max_size=30)
)


@given(correctness_matrices)
def test_pass_k_curves_start_at_the_mean_accuracy_and_move_apart_with_k(rows):
    at, hat = pass_k_curves(rows)
    n = len(rows[0])
    assert len(at) == len(hat) == n
    mean = sum(map(sum, rows)) / (n * len(rows))  # the accuracy over every repeat of every item
    assert at[0] == pytest.approx(mean) and hat[0] == pytest.approx(mean)
    assert all(a <= b + 1e-12 for a, b in pairwise(at))  # pass@k never falls as k grows
    assert all(a >= b - 1e-12 for a, b in pairwise(hat))  # pass^k never rises
    # k = N: any repeat right / every repeat right
    assert at[-1] == pytest.approx(sum(any(r) for r in rows) / len(rows))
    assert hat[-1] == pytest.approx(sum(all(r) for r in rows) / len(rows))


def rec(item: str, outcomes: list[str], predictions: list[str], modality: str = "avt") -> Record:
    return Record.from_json(
        {
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
    )


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
    assert g.pass_at[0] == pytest.approx(g.mean) == g.pass_hat[0]
    assert g.pass_at[1] == pytest.approx((1 + 2 / 3 + 0) / 3)  # q2: 1 - C(2,2)/C(3,2)
    assert g.pass_hat[1] == pytest.approx(1 / 3)  # only q1 has two right
    assert g.flaky == ("q2-avt",)


def circular_rec(item: str, rounds: list[list[str]]) -> Record:
    """A --repeat --circular record: per repeat, the outcome of each rotation."""
    verdict = lambda outs: "error" if "error" in outs else "correct" if set(outs) == {"correct"} else "wrong"  # noqa: E731
    return Record.from_json(
        {
            "id": item,
            "level": 1,
            "modality": "avt",
            "outcome": rounds[0][0],
            "repeats": [
                {"repeat": i, "outcome": outs[0], "circular_outcome": verdict(outs), "rotations": []}
                for i, outs in enumerate(rounds)
            ],
        }
    )


def test_a_circular_repeat_counts_only_when_every_rotation_is_right():
    records = [
        circular_rec("q1", [["correct", "correct"], ["correct", "wrong"]]),  # rotation 0 right twice
        circular_rec("q2", [["correct", "correct"], ["correct", "correct"]]),
        circular_rec(
            "q3", [["correct", "correct"], ["correct", "error"]]
        ),  # an error in a rotation: left out
    ]
    (g,) = summarize_repeats(records)
    assert g.circular and (g.items, g.repeats) == (2, 2)
    assert g.accuracies == (1.0, 0.5)
    assert (g.pass_at_k, g.pass_hat_k) == (1.0, 0.5)
    assert "(circular: a repeat is right only if every rotation is)" in format_repeats([g])[0]


def test_repeats_of_a_greedy_or_deterministic_model_are_announced_as_identical():
    assert "greedy" in repeats_warning({"temperature": 0.0}, 3)
    assert "greedy" in repeats_warning({"temperature": None}, 3)
    assert "deterministic" in repeats_warning({"kind": "constant"}, 2)
    assert repeats_warning({"temperature": 0.7}, 3) is None
    assert repeats_warning({"kind": "random", "seed": 0}, 3) is None
    assert repeats_warning({"temperature": 0.0}, 1) is None


def request(item_id: str, options: tuple[str, ...] = ("A. x", "B. y"), repeat: int = 0) -> Request:
    return Request(item_id, 1, Modality.AVT, "P", "Q?", options, "", "", "", None, None, repeat=repeat)  # type: ignore[arg-type]


def run_record(fields: dict, model: str, fingerprint: dict) -> Record:
    return Record.from_json({"video_path": "", "question": "Q?", "correct_answer": "B", **fields}).for_run(
        model, fingerprint
    )


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
    path.write_text("".join(x.dumps() + "\n" for x in lines) + '{"torn', encoding="utf-8")
    records = read_records([path])
    assert len(records) == 2 and json.loads(path.read_text().splitlines()[0])["decoding"] == {
        "temperature": 0.7
    }
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
