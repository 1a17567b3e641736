"""The HTML report shows each item its own clip, found by the item's resolved clip path.

Clip file names and ids repeat across levels and datasets (``clip_0001.mp4`` is in every shipped
level): a lookup by file name showed level 1's items level 2's clip, and a ``--dataset`` run the
shipped dataset's. Here two datasets hold different clips under the same name and the same ids.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import REPO, choice_items, last_run, report_items, write_dataset
from vsync_models.report.html import media_name
from vsync_pytest.frame_strip import FrameStrips

CLIP = "clip_0001.mp4"


def shipped_clip(level: int) -> bytes:
    return (REPO / "data" / f"level_{level}" / "videos" / CLIP).read_bytes()


def items_on_one_clip(level: int | None) -> list[dict]:
    """Two choice items (ids q000, q001 in every dataset) on ``clip_0001.mp4``."""
    items = choice_items(2, answers="AB", task="who_said")
    for item in items:
        item["video_path"] = CLIP
        if level is not None:
            item["level"] = level
    return items


def with_clip(root: Path, items: list[dict], clip: bytes) -> Path:
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "videos" / CLIP).write_bytes(clip)
    return write_dataset(root, items)


def item_blocks(report: Path) -> dict[str, str]:
    """Test id → its item block, from the report's store of item blocks."""
    return report_items(report.read_text(encoding="utf-8"))


def assert_own_clip(bench: pytest.Pytester, report: Path, block: str, clip: Path) -> None:
    clip = clip.resolve()
    name = media_name(str(clip))
    media = report.with_name(report.stem + "_media")
    audio = re.search(r"<audio controls preload=none src='([^']*)'>", block).group(1)
    assert audio == f"{media.name}/{name}.m4a" and (media / f"{name}.m4a").is_file()
    strip = re.search(r"<img class=vs-strip src='([^']*)'", block).group(1)
    assert strip == f"{media.name}/{name}.jpg"
    cached = FrameStrips(bench.path / ".vsync_cache").strip(clip)  # the run's cached strip of this clip
    assert (media / f"{name}.jpg").read_bytes() == cached.jpeg


def test_items_of_two_levels_with_the_same_clip_name_and_ids_each_show_their_own_clip(bench):
    (bench.path / "tests" / "test_level2.py").write_text(
        (REPO / "tests" / "benchmark" / "test_level2.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    one, two = bench.path / "data" / "level_1", bench.path / "data" / "level_2"
    for stand_in in (one / "videos").glob("*.mp4"):
        stand_in.unlink()
    with_clip(one, items_on_one_clip(None), shipped_clip(1))
    with_clip(two, items_on_one_clip(2), shipped_clip(2))
    assert (one / "videos" / CLIP).read_bytes() != (two / "videos" / CLIP).read_bytes()

    bench.runpytest("--model", "constant", "-m", "avt", "--vsync-report")
    report = last_run(bench.path) / "constant.html"
    blocks = item_blocks(report)
    assert len(blocks) == 4
    for test_id, block in blocks.items():
        own = two if "test_level2.py" in test_id else one
        assert_own_clip(bench, report, block, own / "videos" / CLIP)
    assert len(list((report.parent / "constant_media").glob("*.jpg"))) == 2  # two clips, one name


def test_a_dataset_run_runs_that_dataset_and_shows_its_clips(bench):
    (bench.path / "tests" / "test_level2.py").write_text(
        (REPO / "tests" / "benchmark" / "test_level2.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    shipped = bench.path / "data" / "level_1"
    with_clip(shipped, items_on_one_clip(None), shipped_clip(1))
    mine = with_clip(bench.path / "mine", items_on_one_clip(2), shipped_clip(2))  # a level-2 set

    res = bench.runpytest("--model", "constant", "-m", "avt", "--vsync-report", "--dataset", "mine")
    res.stdout.fnmatch_lines(
        [
            "vsync: model=constant levels=2 (--dataset) modalities=avt,vt,at",
            f"vsync: level 2 dataset={mine / 'dataset.json'} items=2",
        ]
    )
    assert "vsync: level 1" not in res.stdout.str()
    report = last_run(bench.path) / "constant.html"
    blocks = item_blocks(report)
    assert sorted(blocks) == [f"tests/test_level2.py::test_item[q00{i}-avt]" for i in (0, 1)]
    for block in blocks.values():
        assert_own_clip(bench, report, block, mine / "videos" / CLIP)
