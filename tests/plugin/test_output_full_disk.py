"""A full disk while a benchmark run writes its results or records: one message, exit status 14,
and the files an earlier run left are whole."""

from __future__ import annotations

import pytest

from tests.unit.test_output_files import full_disk
from vsync_models.report import results as results_module
from vsync_models.run import records as records_module

RESULTS = "reports/results_constant_level1.json"
RECORDS = "reports/results_constant_level1.records.jsonl"
TIDY = "reports/results_constant_level1.items.jsonl"


@pytest.mark.parametrize(
    "full, not_written",
    [
        ((records_module,), [RECORDS]),
        ((results_module,), [RESULTS, TIDY]),
        ((records_module, results_module), [RESULTS, TIDY, RECORDS]),
    ],
    ids=["records", "results", "both"],
)
def test_a_full_disk_gives_one_message_exit_14_and_keeps_earlier_files(bench, monkeypatch, full, not_written):
    first = bench.runpytest("--model", "constant", "-m", "avt")
    assert first.ret == 0
    before = {name: (bench.path / name).read_bytes() for name in not_written}

    for module in full:
        monkeypatch.setattr(module, "open", full_disk(0), raising=False)
    res = bench.runpytest("--model", "constant", "-m", "avt")

    assert res.ret == 14
    out = res.stdout.str()
    messages = [line for line in res.outlines if "could not write" in line]
    assert len(messages) == 1, out
    assert messages[0].startswith("V-SYNC could not write its output: could not write reports/")
    assert "No space left on device" in messages[0]
    assert f"Not written: {', '.join(not_written)};" in messages[0]
    assert "the files an earlier run left there are whole" in messages[0]
    res.stdout.fnmatch_lines(["V-SYNC exit status 14: results or records could not be written*"])
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert {name: (bench.path / name).read_bytes() for name in not_written} == before
    assert not list((bench.path / "reports").glob("*.tmp"))
