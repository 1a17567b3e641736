"""A response cache that cannot be written costs no answer: end to end, with and without xdist."""

from __future__ import annotations

import pytest

NOTICE = "is read-only for the rest of this run"


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_an_unwritable_cache_is_said_once_and_no_item_becomes_an_error(bench, workers):
    blocker = bench.path / "cache-is-a-file"
    blocker.write_text("the cache directory cannot be created under a file")
    result = bench.runpytest_subprocess(
        "--model",
        "constant",
        "-m",
        "at",
        "--cache-dir",
        str(blocker / "cache"),
        "-p",
        "no:cacheprovider",
        *workers,
    )
    outcomes = result.parseoutcomes()
    assert "errors" not in outcomes and "error" not in outcomes, result.stdout.str()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 8
    text = result.stdout.str()
    assert text.count(NOTICE) == 1, text
    assert "CacheReadOnlyWarning" in text
