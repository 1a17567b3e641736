"""A level's headline is over its tasks that do not leak to late fusion: ``summarize`` adds
``headline`` rows and gain beside ``all``, leaking task rows carry the reason, and the terminal,
HTML, Allure/JUnit facts and results files show both, the leaking tasks marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vsync_models.data.levels import LATE_FUSION_LEAKS
from vsync_models.record import Record
from vsync_models.report.html import summary_html
from vsync_models.report.results import headline_fields, write_results
from vsync_models.report.stats import ALL_TASKS, HEADLINE, summarize
from vsync_pytest.reporting import format_summary

LEAKY = "said_when_event"


def rec(i: int, modality: str, outcome: str, task: str) -> Record:
    return Record.from_json(
        {
            "id": f"q{i}",
            "level": 1,
            "modality": modality,
            "task": task,
            "video_path": f"c{i}.mp4",
            "options": ["A. x", "B. y", "C. z", "D. w"],
            "outcome": outcome,
        }
    )


def records() -> list[Record]:
    """who_said: avt 8/10, vt and at 2/10. The leaking task: right everywhere (the transcript gives
    it in avt, and here vt and at are as good), so it drags the whole level's gain down."""
    out = []
    for i in range(10):
        out += [rec(i, "avt", "correct" if i < 8 else "wrong", "who_said")]
        out += [rec(i, m, "correct" if i < 2 else "wrong", "who_said") for m in ("vt", "at")]
    for i in range(10, 20):
        out += [rec(i, m, "correct", LEAKY) for m in ("avt", "vt", "at")]
    return out


def test_leaking_tasks_are_in_the_leak_table() -> None:
    assert LATE_FUSION_LEAKS[1, LEAKY] and (1, "who_said") not in LATE_FUSION_LEAKS


def test_summarize_adds_headline_rows_and_gain_over_the_tasks_that_do_not_leak() -> None:
    summary = summarize(records(), n_boot=200)
    keys = [(g.modality, g.task) for g in summary.groups if g.modality == "avt"]
    assert keys == [("avt", ALL_TASKS), ("avt", HEADLINE), ("avt", LEAKY), ("avt", "who_said")]
    by = {(g.modality, g.task): g for g in summary.groups}
    assert (by["avt", HEADLINE].tally.correct, by["avt", HEADLINE].tally.scored) == (8, 10)
    assert (by["avt", ALL_TASKS].tally.correct, by["avt", ALL_TASKS].tally.scored) == (18, 20)
    assert by["avt", LEAKY].leak == LATE_FUSION_LEAKS[1, LEAKY] and by["avt", "who_said"].leak is None
    assert by["avt", HEADLINE].leak is None and summary.headline_levels == {1}
    gains = {g.task: g for g in summary.gains}
    assert gains[HEADLINE].plain.value == pytest.approx(0.6) and gains[HEADLINE].plain.n == 10
    assert gains[ALL_TASKS].plain.value == pytest.approx(0.3) and gains[ALL_TASKS].plain.n == 20
    assert gains[LEAKY].leak and gains[LEAKY].plain.value == 0.0

    facts = dict(summary.headline())
    assert facts["accuracy.level1.avt"].startswith("80.0%") and facts["accuracy.level1.avt"].endswith("n=10")
    assert facts["accuracy.level1.avt.all"].startswith("90.0%")
    assert facts["synchrony_gain.level1"].startswith("+60.0 points")
    assert facts["synchrony_gain.level1.all"].startswith("+30.0 points")


def test_a_level_without_leaking_tasks_keeps_all_as_its_headline() -> None:
    plain = [r for r in records() if r.task == "who_said"]
    summary = summarize(plain, n_boot=50)
    assert {g.task for g in summary.groups} == {ALL_TASKS} and summary.headline_levels == set()
    facts = dict(summary.headline())
    assert "accuracy.level1.avt.all" not in facts and facts["accuracy.level1.avt"].startswith("80.0%")
    assert all("headline" not in line for line in format_summary(summary))
    # A table of other leaks (none) changes nothing either.
    assert summarize(records(), n_boot=50, leaks={}).headline_levels == set()


def test_terminal_marks_leaking_rows_and_explains_the_headline() -> None:
    lines = format_summary(summarize(records(), n_boot=50))
    rows = [line.split() for line in lines if line.startswith("    1")]
    assert rows[1][:5] == ["1", "avt", "headline", "10", "8"]
    assert any(r[2:4] == [LEAKY, "(leaks)"] for r in rows)
    assert not any(r[2] == "who_said" and "(leaks)" in r for r in rows)
    assert any(line.startswith("headline: the level's tasks that do not leak") for line in lines)
    assert any(line.strip().startswith("level 1, headline: +60.0 points") for line in lines)
    assert any(line.strip().startswith(f"level 1, {LEAKY} (leaks): +0.0 points") for line in lines)


def test_html_marks_leaking_rows_with_the_reason_and_the_headline_rows() -> None:
    from html import escape

    from vsync_models.report.compare import RunInfo

    info = RunInfo(model="m", config_hash="c", dataset="d", dataset_hash="h")
    html = summary_html(info, summarize(records(), n_boot=50))
    assert f"title='{escape(LATE_FUSION_LEAKS[1, LEAKY])}'>leaks</span>" in html
    assert html.count("class='all headline'") == 3 and html.count("class='leak'") == 3
    assert "<b>headline</b>: the level's tasks that do not leak to late fusion" in html


def test_results_file_keeps_every_items_accuracy_and_adds_the_headline(tmp_path: Path) -> None:
    avt = [r for r in records() if r.modality == "avt"]
    doc = write_results(tmp_path / "r.json", "m", "avt", avt)
    on_disk = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert on_disk["accuracy"] == doc["accuracy"] == 90.0 and on_disk["total"] == 20
    assert on_disk["headline"] == {"accuracy": 80.0, "correct": 8, "total": 10, "tasks": ["who_said"]}
    assert on_disk["leaking_tasks"] == {LEAKY: LATE_FUSION_LEAKS[1, LEAKY]}
    assert headline_fields([r for r in avt if r.task == "who_said"]) == {}


# --- ceilings: the headline's pooled rows --------------------------------------------------------


def test_the_ceiling_line_quotes_the_headline_rows_where_a_level_has_them(tmp_path: Path) -> None:
    from vsync_models.report.ceilings import ceiling_line, load_ceilings
    from vsync_models.types import Sampling

    def row(task: str, correct: int, n: int) -> dict[str, object]:
        return {
            "level": 1,
            "task": task,
            "modality": "avt",
            "fps": 1.0,
            "max_frames": 8,
            "n": n,
            "correct": correct,
            "accuracy": correct / n,
            "ci_low": 0.0,
            "ci_high": 1.0,
        }

    path = tmp_path / "c.json"
    doc = {"command": "x", "perceiver": "av_sync", "rows": [row(ALL_TASKS, 200, 300), row(HEADLINE, 50, 100)]}
    path.write_text(json.dumps(doc), encoding="utf-8")
    line = ceiling_line(load_ceilings(path), Sampling(1.0, 8), 1, ["avt"])
    assert line is not None and line.startswith("ceiling at this model's sampling: level 1 headline (1 fps")
    assert line.endswith("avt 50.0% [0.0-100.0] of 100")
    doc["rows"] = [row(ALL_TASKS, 200, 300)]
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert "level 1 (1 fps" in (ceiling_line(load_ceilings(path), Sampling(1.0, 8), 1, ["avt"]) or "")


def test_measured_ceilings_pool_the_headline_over_the_tasks_that_do_not_leak() -> None:
    from vsync_models.config import Config
    from vsync_models.data.dataset import Dataset
    from vsync_models.data.levels import Level, load_levels
    from vsync_models.synth.ceilings import measure
    from vsync_models.types import Sampling

    root = Path(__file__).resolve().parents[2]
    (level,) = [lv for lv in load_levels(Config(), lambda p: root / p, "av_sync") if lv.number == 1]
    items = [it for it in level if it.task == "event_when_speaking"][:2]
    items += [it for it in level if it.task == LEAKY][:2]
    small = Level(
        1, Dataset(items=tuple(items), path=level.dataset.path, video_dir=level.video_dir), level.prompts
    )
    rows = {(r.task, r.modality): r for r in measure([small], [Sampling()])}
    assert (rows[HEADLINE, "avt"].n, rows[ALL_TASKS, "avt"].n) == (2, 4)
    assert rows[HEADLINE, "avt"].correct == 2
