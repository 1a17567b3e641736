"""A full disk while a benchmark run writes its results or records: one message, exit status 14,
the files an earlier run left are whole, and the latest pointer still names that run."""

from __future__ import annotations

import pytest

from tests.support import last_run
from tests.unit.test_output_files import full_disk
from vsync_models.report import results as results_module
from vsync_models.run import records as records_module

RESULTS = "results_constant_level1.json"
RECORDS = "results_constant_level1.records.jsonl"
TIDY = "results_constant_level1.items.jsonl"
BASELINE = "baseline.json"  # the run's baseline candidate, written as its results are


@pytest.mark.parametrize(
    "full, not_written",
    [
        ((records_module,), [RECORDS]),
        ((results_module,), [RESULTS, TIDY, BASELINE]),
        ((records_module, results_module), [RESULTS, TIDY, RECORDS, BASELINE]),
    ],
    ids=["records", "results", "both"],
)
def test_a_full_disk_gives_one_message_exit_14_and_keeps_earlier_files(bench, monkeypatch, full, not_written):
    first = bench.runpytest("--model", "constant", "-m", "avt")
    assert first.ret == 0
    earlier = last_run(bench.path, "constant")
    before = {name: (earlier / name).read_bytes() for name in not_written}

    for module in full:
        monkeypatch.setattr(module, "open", full_disk(0), raising=False)
    res = bench.runpytest("--model", "constant", "-m", "avt")

    assert res.ret == 14
    out = res.stdout.str()
    runs = [p for p in (bench.path / "reports" / "constant").iterdir() if p.name != "latest"]
    (this_run,) = [p for p in runs if p.name != earlier.name]
    folder = f"reports/constant/{this_run.name}/"
    messages = [line for line in res.outlines if "could not write" in line]
    assert len(messages) == 1, out
    assert messages[0].startswith(f"V-SYNC could not write its output: could not write {folder}")
    assert "No space left on device" in messages[0]
    assert f"Not written: {', '.join(folder + name for name in not_written)};" in messages[0]
    assert "the files an earlier run left there are whole" in messages[0]
    res.stdout.fnmatch_lines(["V-SYNC exit status 14: results or records could not be written*"])
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert {name: (earlier / name).read_bytes() for name in not_written} == before
    assert last_run(bench.path, "constant") == earlier, "latest still names the run that wrote its files"
    assert not list((bench.path / "reports").rglob("*.tmp"))
