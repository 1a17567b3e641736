"""Run folders: one per run, a latest pointer, and reading a run back by folder or pointer."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from tests.support import choice_record as rec
from vsync_models.report.compare import RunInfo, load_run, save_baseline
from vsync_models.report.results import write_results
from vsync_models.report.runs import LATEST, latest_run, new_run_dir, point_latest, resolve_run

NOW = datetime(2026, 1, 2, 3, 4, 5)


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path):
    first, second = new_run_dir(tmp_path, "openai:gpt-4o", NOW), new_run_dir(tmp_path, "openai:gpt-4o", NOW)
    assert first == tmp_path / "openai_gpt-4o" / "20260102-030405"
    assert second == tmp_path / "openai_gpt-4o" / "20260102-030405-2"
    assert first.is_dir() and second.is_dir()


def test_latest_points_at_the_last_run_and_moves(tmp_path):
    first, second = new_run_dir(tmp_path, "m", NOW), new_run_dir(tmp_path, "m", NOW)
    assert latest_run(tmp_path, "m") is None
    point_latest(first)
    assert latest_run(tmp_path, "m") == first.resolve()
    point_latest(second)
    pointer = tmp_path / "m" / LATEST
    assert pointer.is_symlink() and os.readlink(pointer) == second.name  # relative: the tree can move
    assert latest_run(tmp_path, "m") == second.resolve()


def test_where_symlinks_cannot_be_made_latest_is_a_small_file(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise OSError("symlinks not supported")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    run = new_run_dir(tmp_path, "m", NOW)
    point_latest(run)
    pointer = tmp_path / "m" / LATEST
    assert pointer.is_file() and pointer.read_text().strip() == run.name
    assert resolve_run(pointer) == run and latest_run(tmp_path, "m") == run


def test_a_run_folder_reads_as_its_baseline_or_else_as_all_its_results(tmp_path):
    run = new_run_dir(tmp_path, "m", NOW)
    write_results(run / "results_m_level1.json", "m", "avt", [rec(1, "correct"), rec(2, "wrong")])
    write_results(run / "results_m_level1_vt.json", "m", "vt", [rec(1, "wrong", "vt")])
    (run / "audio_canary_m.json").write_text("{}", encoding="utf-8")  # another file of the run
    point_latest(run)
    merged = load_run(tmp_path / "m" / LATEST)
    assert sorted(merged.items) == [(1, "avt", "q001"), (1, "avt", "q002"), (1, "vt", "q001")]
    save_baseline(run / "baseline.json", [rec(1, "correct")], RunInfo("m", "c0", "d", "d0"))
    from_baseline = load_run(run)
    assert sorted(from_baseline.items) == [(1, "avt", "q001")] and from_baseline.config_hash == "c0"
