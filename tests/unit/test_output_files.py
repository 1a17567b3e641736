"""Results and records files: concurrent runs cannot tear them, a full disk cannot half-write them."""

from __future__ import annotations

import builtins
import errno
import json
import multiprocessing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_results_and_stats import rec as correct_record
from vsync_models.errors import OutputError
from vsync_models.record import Record, read_records
from vsync_models.report import results as results_module
from vsync_models.report.gates import GateStatus, Verdict, decide_exit_status
from vsync_models.report.results import read_results, write_results
from vsync_models.run import records as records_module
from vsync_models.run.records import RecordLog


def rec(i: int, run: str) -> Record:
    """The two runs' lines differ in length (their raw responses): overlapping writes would tear."""
    return replace(correct_record(i, "correct"), raw_response=run)


class FullDisk:
    """A file that takes ``room`` characters, then fails as a full disk does (part of the last write lands)."""

    def __init__(self, fh: Any, room: int) -> None:
        self.fh, self.room = fh, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            self.fh.write(text[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.fh.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.fh.close()


def full_disk(room: int):  # type: ignore[no-untyped-def]
    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (closed by its caller)
        return FullDisk(fh, room) if "w" in mode or "x" in mode or "a" in mode else fh

    return fake_open


# -- two runs sharing a reports directory ------------------------------------------------------


def _one_run(run: str, reports: str, n: int, start: Any) -> None:
    path = Path(reports) / "results_m_level1.json"
    log = RecordLog()
    records = [rec(i, run) for i in range(n)]
    start.wait()
    for record in records:
        log.write(path.with_suffix(".records.jsonl"), record)
    log.close()
    write_results(path, "m", "avt", records, extra={"run": run})


def test_two_processes_sharing_a_reports_directory_leave_whole_files_of_one_run(tmp_path):
    n = 3000
    runs = {"first run": "A", "second run, with a longer answer": "B"}
    start = multiprocessing.get_context("fork").Barrier(len(runs))
    workers = [
        multiprocessing.get_context("fork").Process(target=_one_run, args=(run, str(tmp_path), n, start))
        for run in runs
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    lines = (tmp_path / "results_m_level1.records.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == n
    records = [Record.loads(line) for line in lines]  # every line whole
    assert len({r.raw_response for r in records}) == 1  # and all from one run
    doc = read_results(tmp_path / "results_m_level1.json")
    assert doc["run"] in runs and len(doc["results"]) == n
    assert [p.name for p in tmp_path.iterdir() if p.suffix in (".part", ".tmp")] == []


def test_a_killed_run_keeps_its_lines_in_its_part_file_and_the_old_records_whole(tmp_path):
    path = tmp_path / "r.records.jsonl"
    path.write_text(rec(0, "old").dumps() + "\n", encoding="utf-8")
    log = RecordLog()
    log.write(path, rec(1, "new"))
    log.write(path, rec(2, "new"))  # ... and the run is killed: close() never comes
    assert [r.raw_response for r in read_records([path])] == ["old"]
    assert [r.id for r in read_records(log.parts)] == ["q1", "q2"]
    assert log.close() == [path]
    assert [r.id for r in read_records([path])] == ["q1", "q2"]


# -- a full disk ------------------------------------------------------------------------------


def test_a_full_disk_while_writing_results_keeps_the_old_file_whole_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "results_m_level1.json"
    write_results(path, "m", "avt", [rec(0, "old")])
    before = path.read_bytes()
    monkeypatch.setattr(results_module, "open", full_disk(100), raising=False)
    with pytest.raises(
        OutputError, match=r"could not write .*results_m_level1\.json: No space left on device"
    ):
        write_results(path, "m", "avt", [rec(i, "new") for i in range(50)])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind


def test_a_full_disk_while_appending_records_fails_once_and_renames_nothing(tmp_path, monkeypatch):
    path = tmp_path / "r.records.jsonl"
    path.write_text(rec(0, "old").dumps() + "\n", encoding="utf-8")
    monkeypatch.setattr(records_module, "open", full_disk(len(rec(1, "new").dumps()) + 10), raising=False)
    log = RecordLog()
    log.write(path, rec(1, "new"))
    with pytest.raises(OutputError, match=r"r\.records\.jsonl\..*\.part: No space left on device"):
        log.write(path, rec(2, "new"))
    log.write(path, rec(3, "new"))  # said once: later records are not attempted
    assert log.close() == []
    assert [r.raw_response for r in read_records([path])] == ["old"]
    assert [r.id for r in read_records(log.parts)] == ["q1"]  # the torn second line is skipped
    assert isinstance(log.failed, OutputError)


def test_output_not_written_is_exit_14_before_any_gate():
    ok = Verdict((), ())
    assert decide_exit_status(0, ok, strict=False, other_failures=0, not_written=True) == 14
    assert GateStatus(14).meaning.startswith("results or records could not be written")
    assert decide_exit_status(2, ok, strict=False, other_failures=0, not_written=True) == 2  # interrupted
    assert decide_exit_status(0, ok, strict=False, other_failures=0) == 0
    assert json.dumps(int(GateStatus.NOT_WRITTEN)) == "14"
