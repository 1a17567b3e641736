"""Broken clips are per-item errors naming the item and the file; the run goes on with the rest."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support import REPO, choice_items, last_run, write_dataset

SHIPPED = REPO / "data" / "level_1" / "videos"


@pytest.fixture
def broken_set(bench):
    """Six items over three real clips, then break two of the clips in different ways."""
    root = bench.path / "data" / "level_1"
    items = choice_items(6, answers="A")
    write_dataset(root, items)
    real = sorted(SHIPPED.glob("*.mp4"))[0]
    for name in ("clip0.mp4", "clip1.mp4", "clip2.mp4"):
        shutil.copyfile(real, root / "videos" / name)
    data = (root / "videos" / "clip1.mp4").read_bytes()
    (root / "videos" / "clip1.mp4").write_bytes(data[: len(data) // 3])  # truncated mid-file
    (root / "videos" / "clip2.mp4").write_bytes(b"")  # zero bytes
    return bench


def test_broken_clips_error_per_item_and_the_rest_is_scored(
    broken_set, httpserver, monkeypatch, warm_openai_sdk
):
    body = {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A"}, "finish_reason": "stop"}],
    }
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json(body)
    monkeypatch.setenv("OPENAI_BASE_URL", httpserver.url_for("/v1"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    res = broken_set.runpytest("--model", "openai:m", "-m", "vt")
    # items 0 and 3 use the intact clip0; 1, 4 the truncated clip1; 2, 5 the empty clip2
    res.assert_outcomes(passed=2, errors=4)
    res.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_item[[]q002-vt[]]*",
            "*model could not answer q002-vt: MediaError*clip2.mp4*",
        ]
    )
    doc = json.loads((last_run(broken_set.path) / "results_openai_m_level1_vt.json").read_text("utf-8"))
    assert (doc["correct"], doc["total"], doc["errors"]) == (2, 2, 4)
    assert all("clip" in r["error"] for r in doc["results"] if r["outcome"] == "error")
