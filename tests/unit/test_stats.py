"""Statistics against published values: Wilson intervals, McNemar p-values, seeded bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from vsync_models.record import Record
from vsync_models.report.stats import (
    Tally,
    chance_of,
    clustered_interval,
    mcnemar,
    paired_bootstrap,
    summarize,
    synchrony_gain,
    tally_by,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score interval)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(k, n, low, high):
    ci = wilson_interval(k, n)
    assert (ci.low, ci.high) == (pytest.approx(low, abs=5e-5), pytest.approx(high, abs=5e-5))


def test_wilson_edge_cases():
    assert wilson_interval(0, 0) is None
    assert wilson_interval(5, 5).high == 1.0
    assert wilson_interval(5, 10, confidence=0.99).low < wilson_interval(5, 10).low
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


def test_clustered_interval_is_wilson_when_every_clip_has_one_item():
    got = clustered_interval([(1, 1)] * 3 + [(0, 1)] * 7)
    want = wilson_interval(3, 10)
    assert got.design_effect == pytest.approx(1.0)
    assert (got.interval.low, got.interval.high) == (pytest.approx(want.low), pytest.approx(want.high))


def test_perfectly_correlated_clips_count_as_one_item_each():
    # 10 clips of 4 questions, each clip all right or all wrong: deff = 1 + (m-1)rho = 4.
    got = clustered_interval([(4, 4)] * 5 + [(0, 4)] * 5)
    want = wilson_interval(5, 10)
    assert got.design_effect == pytest.approx(4.0) and got.clusters == 10
    assert (got.interval.low, got.interval.high) == (pytest.approx(want.low), pytest.approx(want.high))


def test_clustering_never_narrows_wilson():
    # One right and one wrong per clip is *less* variable than independence; the floor keeps Wilson.
    got = clustered_interval([(1, 2)] * 10)
    want = wilson_interval(10, 20)
    assert got.design_effect == 1.0 and got.interval.low == pytest.approx(want.low)
    assert clustered_interval([]) is None and clustered_interval([(0, 0)]) is None


@pytest.mark.parametrize(
    ("b", "c", "p", "method"),
    [
        (
            1,
            7,
            0.0703,
            "exact",
        ),  # Fagerland, Lydersen & Laake (2013) BMC Med Res Methodol 13:91, exact conditional
        (0, 10, 0.0020, "exact"),  # 2 / 2**10
        (2, 8, 0.1094, "exact"),  # 2 * 56 / 1024
        (5, 10, 0.3018, "exact"),
        (12, 12, 1.0, "exact"),
        (121, 59, 5.450e-6, "chi2"),  # (|121-59|-1)^2/180 = 20.67 on 1 df
    ],
)
def test_mcnemar_known_p_values(b, c, p, method):
    got = mcnemar(b, c)
    assert got.method == method
    assert got.p_value == pytest.approx(p, rel=1e-3, abs=5e-5)
    assert mcnemar(c, b).p_value == got.p_value  # two-sided


def test_mcnemar_switches_to_chi_square_at_25_discordant_pairs():
    assert mcnemar(12, 12).method == "exact" and mcnemar(12, 13).method == "chi2"
    assert mcnemar(0, 0).p_value == 1.0
    # The corrected chi-square stays close to the exact test it stands in for.
    assert mcnemar(5, 20).p_value == pytest.approx(mcnemar(5, 20, exact=True).p_value, abs=0.01)
    with pytest.raises(ValueError):
        mcnemar(-1, 3)


def test_bootstrap_is_reproducible_and_pinned():
    rng = np.random.default_rng(7)
    cols = rng.integers(0, 2, size=(40, 2))
    diff = lambda acc: acc[:, 1] - acc[:, 0]  # noqa: E731
    est = paired_bootstrap(cols, diff)
    again = paired_bootstrap(cols, diff, rng=np.random.default_rng(0))
    assert est == again  # default seed 0 == an injected generator seeded 0
    assert est.value == pytest.approx(cols[:, 1].mean() - cols[:, 0].mean())
    assert (est.n, est.clusters) == (40, 40)
    # Pinned from numpy 2.4: the same seed gives the same interval on every machine. (numpy does
    # not promise Generator streams across releases; re-pin if an upgrade changes them.)
    assert (round(est.interval.low, 4), round(est.interval.high, 4)) == (-0.3, 0.1)
    other = paired_bootstrap(cols, diff, rng=np.random.default_rng(1))
    assert other.interval != est.interval


def test_bootstrap_resamples_whole_clips():
    # 20 clips of 5 items, each clip entirely right or wrong in condition 0 and all right in 1.
    col0 = np.repeat([1, 0] * 10, 5)
    cols = np.stack([col0, np.ones_like(col0)], axis=1)
    diff = lambda acc: acc[:, 1] - acc[:, 0]  # noqa: E731
    by_item = paired_bootstrap(cols, diff)
    by_clip = paired_bootstrap(cols, diff, clusters=np.repeat(np.arange(20), 5).tolist())
    assert by_clip.clusters == 20
    width = lambda e: e.interval.high - e.interval.low  # noqa: E731
    assert width(by_clip) > 1.5 * width(by_item)
    assert paired_bootstrap(np.zeros((0, 2)), diff) is None


def rec(i, modality, outcome, clip=None, task="who_said", **extra) -> Record:
    return Record.from_json(
        {
            "id": f"q{i}",
            "level": 1,
            "modality": modality,
            "task": task,
            "video_path": clip or f"c{i}.mp4",
            "options": ["A. x", "B. y", "C. z", "D. w"],
            "outcome": outcome,
            **extra,
        }
    )


def test_synchrony_gain_uses_items_scored_in_all_three_modalities():
    records = []
    for i in range(10):
        records.append(rec(i, "avt", "correct"))
        records.append(rec(i, "vt", "correct" if i < 3 else "wrong"))
        records.append(rec(i, "at", "correct" if i < 5 else "unparseable"))
    records.append(rec(10, "avt", "correct"))  # no vt / at: not paired
    records += [rec(11, "avt", "wrong"), rec(11, "vt", "error"), rec(11, "at", "wrong")]
    gain = synchrony_gain(records)
    assert gain.n == 10 and gain.value == pytest.approx(1.0 - 0.5)
    assert gain.interval.low <= gain.value <= gain.interval.high
    assert synchrony_gain([r for r in records if r.modality != "at"]) is None


def test_a_model_that_ignores_the_media_has_zero_gain():
    records = [rec(i, m, "correct" if i % 3 else "wrong") for i in range(12) for m in ("avt", "vt", "at")]
    gain = synchrony_gain(records)
    assert gain.value == 0.0 and (gain.interval.low, gain.interval.high) == (0.0, 0.0)


def test_summarize_groups_ci_tasks_and_circular():
    records = [
        rec(0, "avt", "correct", clip="a.mp4", circular_outcome="wrong"),
        rec(1, "avt", "correct", clip="a.mp4", circular_outcome="correct"),
        rec(2, "avt", "wrong", clip="b.mp4", task="when", circular_outcome="wrong"),
        rec(3, "avt", "error", clip="b.mp4", task="when", circular_outcome="error"),
        rec(0, "vt", "unparseable", clip="a.mp4", circular_outcome="unparseable"),
    ]
    summary = summarize(records)
    keys = [(g.level, g.modality, g.task) for g in summary.groups]
    assert keys == [(1, "avt", "all"), (1, "avt", "when"), (1, "avt", "who_said"), (1, "vt", "all")]
    avt = summary.groups[0]
    assert (avt.tally.correct, avt.tally.scored, avt.tally.error) == (2, 3, 1)
    assert avt.circular.correct == 1 and avt.chance.value == pytest.approx(0.25)
    assert avt.wilson == wilson_interval(2, 3) and avt.clustered.clusters == 2
    assert summary.circular and summary.gains == []


def test_chance_comes_from_the_answer_types_and_a_mixed_row_is_weighted():
    def item(i: int, answer_type: str, options: int = 0) -> Record:
        letters = "ABCD"[:options]
        return Record.from_json(
            {
                "id": f"l3-{i}",
                "level": 3,
                "modality": "avt",
                "task": "speak_now" if answer_type == "yesno" else "speak_when",
                "answer_type": answer_type,
                "options": [f"{x}. option" for x in letters],
                "outcome": "wrong",
            }
        )

    yes_no = [item(i, "yesno") for i in range(96)]
    three_way = [item(100 + i, "choice", 3) for i in range(24)]
    groups = {g.task: g.chance for g in summarize(yes_no + three_way, n_boot=10).groups}
    assert groups["speak_now"].value == 0.5 and not groups["speak_now"].mixed
    assert groups["speak_when"].value == pytest.approx(1 / 3)
    mixed = groups["all"]
    assert mixed.value == pytest.approx((96 * 0.5 + 24 / 3) / 120)  # 46.7%, not the 33% of its choices
    assert mixed.mixed and mixed.describe() == "46.7% (weighted: 24 choice of 3 at 33.3%, 96 yes/no at 50.0%)"
    times = [item(200 + i, "interval") for i in range(3)]
    assert chance_of(times) is None
    partly = chance_of([*times, three_way[0]])
    assert partly.value == pytest.approx(1 / 3) and partly.without == 3
    assert partly.describe() == "33.3% (3 time answers have none)"


def test_tally_by_counts_another_outcome_field():
    records = [rec(0, "avt", "correct", circular_outcome="wrong"), rec(1, "avt", "correct")]
    assert tally_by(records, lambda r: r.modality)["avt"].correct == 2
    circ = tally_by(records, lambda r: r.modality, circular=True)
    assert circ["avt"] == Tally(wrong=1)
