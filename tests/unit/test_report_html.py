"""The pytest-html report: the V-SYNC summary on top, per-item evidence, thumbnails that stay small."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support import REPO, choice_items, last_run, report_items, write_dataset
from vsync_models.record import Record
from vsync_models.report.compare import RunInfo
from vsync_models.report.gates import Count, CoverageRow
from vsync_models.report.html import (
    ClipMedia,
    bar_chart_svg,
    item_html,
    items_script,
    media_name,
    split_thinking,
    summary_html,
)
from vsync_models.report.stats import summarize
from vsync_pytest.frame_strip import FrameStrips

THINKING = "<think>The red circle's mouth moves with the words.</think>Answer: A"


class SummaryTable(HTMLParser):
    """Rows of one summary table (``#vsync-accuracy`` unless told) as dicts (header → cell text,
    plus the row's data attributes), and the synchrony-gain lines."""

    def __init__(self, table_id: str = "vsync-accuracy") -> None:
        super().__init__()
        self.table_id = table_id
        self.header: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.gains: list[str] = []
        self._in_table = self._in_gain = False
        self._cell: list[str] | None = None
        self._row: list[str] = []
        self._attrs: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self._in_table = True
        elif tag == "ul" and attrs.get("id") == "vsync-gain":
            self._in_gain = True
        elif self._in_gain and tag == "li":
            self.gains.append("")
        elif self._in_table and tag == "tr":
            self._row, self._attrs = [], {k: v for k, v in attrs.items() if k.startswith("data-")}
        elif self._in_table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "ul":
            self._in_gain = False
        elif self._in_table and tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif self._in_table and tag == "tr":
            if not self.header:
                self.header = self._row
            else:
                self.rows.append({**dict(zip(self.header, self._row, strict=True)), **self._attrs})

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_gain and self.gains:
            self.gains[-1] += data


def parse_report(path: Path) -> tuple[SummaryTable, dict, str]:
    text = path.read_text(encoding="utf-8")
    table = SummaryTable()
    table.feed(text)
    blob = re.search(r'data-jsonblob="([^"]*)"', text).group(1)
    return table, json.loads(html.unescape(blob)), text


def use_answer(bench: pytest.Pytester, answer: str) -> None:
    (bench.path / "config").mkdir(exist_ok=True)
    (bench.path / "config" / "config.yaml").write_text(
        f"models:\n  constant:\n    answer: {json.dumps(answer)}\n", encoding="utf-8"
    )


def real_clips(bench: pytest.Pytester, n: int = 4) -> None:
    """Items on a real clip from the shipped set, so frame strips can be decoded."""
    clip = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0].read_bytes()
    root = bench.path / "data" / "level_1"
    for stand_in in (root / "videos").glob("*.mp4"):
        stand_in.unlink()
    write_dataset(root, choice_items(n, answers="AB", task="who_said"), clip_bytes=clip)


def test_vsync_report_writes_summary_and_items_under_xdist(bench):
    use_answer(bench, THINKING)
    real_clips(bench)
    res = bench.runpytest_subprocess("--model", "constant", "--vsync-report", "-n", "2", "-p", "xdist")
    report = last_run(bench.path) / "constant.html"
    res.stdout.fnmatch_lines(["*Generated html report*reports/constant/*/constant.html*"])
    table, data, text = parse_report(report)

    assert "V-SYNC results: constant" in text and "config hash" in text and "<code>" in text
    by_key = {(r["data-modality"], r["data-task"]): r for r in table.rows}
    assert set(by_key) == {("avt", "all"), ("vt", "all"), ("at", "all")}  # one task: no repeated rows
    avt = by_key[("avt", "all")]
    assert (avt["n"], avt["correct"], avt["accuracy"]) == ("4", "2", "50.0%")
    assert avt["95% CI (Wilson)"] == "15.0–85.0" and avt["errors"] == "0 (0.0%)"
    assert len(table.gains) == 1 and "level 1: +0.0 points" in table.gains[0]
    assert "<svg" in text and "id='vsync-chart'" in text
    media = report.parent / "constant_media"  # beside the report, in the run's folder
    assert len(list(media.glob("*.jpg"))) == 3  # one strip per clip, however many rows use it
    assert len(list(media.glob("*.m4a"))) == 3  # and its audio track
    assert "data:image/jpeg;base64," not in text  # no image inline in the page

    tests = [t for runs in data["tests"].values() for t in runs]
    assert len(tests) == 12
    row = next(t for t in tests if t["testId"].endswith("test_item[q001-vt]"))
    assert (row["result"], row["vsexpected"], row["vsanswer"]) == ("Failed", "B", "A")
    assert row["extras"] == [] and row["log"] == "", "nothing of ours in the rows; no repeated exchange"
    block = report_items(text)[row["testId"]]
    assert "Which character said sentence 1?" in block and "B. the blue square" in block
    assert "<ol" not in block, "the options carry their letters: a numbered list would show A. A."
    assert "expected <b>B</b>; extracted <b>A</b>" in block and "class=vs-bad>wrong<" in block
    assert "<details><summary>thinking (" in block and "<pre>Answer: A</pre>" in block
    clip1 = (bench.path / "data" / "level_1" / "videos" / "clip1.mp4").resolve()
    name = media_name(str(clip1))
    assert f"src='constant_media/{name}.jpg' width=970 height=120 loading=lazy" in block
    assert f"<audio controls preload=none src='constant_media/{name}.m4a'>" in block
    assert (media / f"{name}.m4a").stat().st_size > 1000
    assert list(data["environment"])[:2] == ["V-SYNC model", "model fingerprint"], "the run's facts first"
    assert "Python" in data["environment"] and "Plugins" in data["environment"], "generic rows after"
    assert data["renderCollapsed"] == ["all"]


def test_ids_and_responses_are_escaped_in_the_page(bench):
    items = choice_items(2, answers="AB", task="who_said")
    items[0]["id"] = "x1<img src=x onerror=alert(1)>"
    write_dataset(bench.path / "data" / "level_1", items)
    use_answer(bench, "</script><script>alert(2)</script> A")
    bench.runpytest("--model", "constant", "-m", "avt", "--vsync-report")
    _, data, text = parse_report(last_run(bench.path) / "constant.html")
    cells = [t["resultsTableRow"][1] for runs in data["tests"].values() for t in runs]
    hostile = "tests/test_level1.py::test_item[x1&lt;img src=x onerror=alert(1)&gt;-avt]"
    assert f'<td class="col-testId">{hostile}</td>' in cells
    assert "<script>alert(2)" not in text and "</script><script>alert" not in text
    assert len(report_items(text)) == 2


def test_explicit_html_path_and_media_beside_it(bench):
    real_clips(bench, 2)
    bench.runpytest("--model", "random", "-m", "avt", "--html", "out/r.html")
    table, data, text = parse_report(bench.path / "out" / "r.html")
    assert [(r["data-modality"], r["data-task"]) for r in table.rows] == [("avt", "all")]
    assert len(data["tests"]) == 2
    strips = list((bench.path / "out" / "r_media").glob("*.jpg"))
    assert len(strips) == 2 and all(s.stat().st_size < 80_000 for s in strips)
    assert all("src='r_media/" in block for block in report_items(text).values())
    assert "Synchrony gain needs all three modalities" in text


def test_without_report_options_no_html_or_allure_is_written(bench):
    bench.runpytest("--model", "random", "-m", "avt")
    assert not list(bench.path.rglob("*.html")) and not list(bench.path.rglob("*-result.json"))


# --------------------------------------------------------------------------- pure parts


def test_thinking_is_split_out_even_when_unclosed():
    assert split_thinking("<think>a</think> B") == [(True, "a"), (False, " B")]
    assert split_thinking("x <THINK>still going") == [(False, "x "), (True, "still going")]
    assert split_thinking("plain") == [(False, "plain")]


def test_item_block_escapes_and_stays_small():
    fields = {
        "id": "q1",
        "modality": "avt",
        "question": "Who said <b>hi</b>?",
        "options": ["A. <script>x</script>", "B. b", "C. c", "D. d"],
        "correct_answer": "A",
        "prediction": None,
        "outcome": "unparseable",
        "extraction_rule": "refusal",
        "raw_response": "x" * 10_000,
        "latency_s": 1.5,
        "cached": False,
        "video_path": "v.mp4",
        "error": None,
    }
    media = ClipMedia(strip="r_media/clip-0123456789ab.jpg", strip_size=(1940, 240), audio="r_media/x.m4a")
    block = item_html(Record.from_json(fields), media)
    assert "<script>" not in block and "&lt;b&gt;hi&lt;/b&gt;" in block
    assert "extracted <b>-</b>" in block and "6000 more characters" in block
    fields["raw_response"] = "B"
    assert len(item_html(Record.from_json(fields), media)) < 800  # x 10,000 rows: < 8 MB


def test_the_store_cannot_be_closed_by_its_text():
    page = items_script({"a</script>": "<b>x</b></script><script>alert(1)</script>"})
    assert page.count("</script>") == 2  # the store's and the script's own, nothing from the data
    assert report_items(page) == {"a</script>": "<b>x</b></script><script>alert(1)</script>"}


def test_chart_is_well_formed_svg_with_one_bar_per_group():
    records = [
        Record.from_json(
            {
                "id": f"q{i}",
                "level": 1,
                "modality": m,
                "task": t,
                "outcome": "correct" if i % 2 else "wrong",
                "options": ["A. a", "B. b"],
            }
        )
        for i in range(6)
        for m in ("avt", "vt", "at")
        for t in ("who_said", "when")
    ]
    svg = bar_chart_svg(summarize(records, n_boot=50).groups)
    root = ET.fromstring(svg)
    bars = root.findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 3 * 3  # all, when, who_said x avt, vt, at
    assert "chance" in svg


def test_frame_strips_are_readable_cached_and_absent_for_broken_clips(tmp_path):
    clip = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0]
    strip = FrameStrips(tmp_path).strip(clip)
    assert strip.jpeg[:2] == b"\xff\xd8" and len(strip.jpeg) < 80_000
    assert (strip.width, strip.height) == (6 * 320 + 5 * 4, 240)  # six frames, shown at 160 px each
    assert len(list((tmp_path / "thumbs").glob("*.jpg"))) == 1
    assert FrameStrips(tmp_path).strip(clip) == strip  # read back from disk
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    assert FrameStrips(tmp_path).strip(broken) is None


def test_coverage_is_a_table_with_a_row_per_level_and_modality_and_partial_rows_marked():
    rows = [
        CoverageRow(
            1, "avt", "all", Count(collected=10, correct=6, wrong=1, unparseable=1, error=1, skipped=0)
        ),
        CoverageRow(1, "avt", "who_said", Count(collected=4, correct=2, wrong=0, error=1)),
        CoverageRow(2, "vt", "all", Count(collected=5, correct=1, wrong=4)),
    ]
    info = RunInfo(model="m", config_hash="c", dataset="d", dataset_hash="h")
    table = SummaryTable("vsync-coverage")
    table.feed(summary_html(info, summarize([], n_boot=10), coverage=rows))
    assert [(r["level"], r["modality"], r["task"]) for r in table.rows] == [
        ("1", "avt", "all"),
        ("1", "avt", "who_said"),
        ("2", "vt", "all"),
    ]
    first = table.rows[0]
    assert (first["collected"], first["answered"], first["coverage"], first["accuracy"]) == (
        "10",
        "8",
        "80.0%",
        "75.0%",
    )
    assert (first["errors"], first["unparseable"], first["skipped"], first["never ran"]) == (
        "1",
        "1",
        "0",
        "1",
    )
    assert table.rows[2]["coverage"] == "100.0%"
    assert summary_html(info, summarize([], n_boot=10)).count("vsync-coverage") == 0  # no gates, no table


def test_environment_names_the_model_its_checkpoint_hashes_seeds_and_versions():
    from vsync_models.report.environment import run_environment

    info = RunInfo(
        model="qwen", config_hash="c0ffee", dataset="data/level_1/dataset.json", dataset_hash="d00d"
    )
    served = {
        "adapter": "omni_server",
        "seed": 7,
        "server": {"model": "qwen-omni", "checkpoint": "Qwen/x@abc"},
    }
    rows = dict(run_environment(info, served))
    assert list(rows)[:3] == ["V-SYNC model", "model id", "checkpoint"]
    assert (rows["model id"], rows["checkpoint"], rows["model seed"]) == ("qwen-omni", "Qwen/x@abc", "7")
    assert (rows["config hash"], rows["dataset hash"]) == ("c0ffee", "d00d")
    assert rows["versions"].startswith("Python ") and "vsync-bench " in rows["versions"]
    api = dict(run_environment(info, {"adapter": "openai_compat", "model_name": "gpt-4o"}))
    assert api["model id"] == "gpt-4o" and "checkpoint" not in api and api["model seed"] == "not set"
