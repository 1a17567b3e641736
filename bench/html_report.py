"""How large and how fast the HTML report is, opened in a real browser (headless Chromium).

    python bench/html_report.py [--tests 1692 10000] [--repeats 4] [--chromium PATH] [--open REPORT ...]
    python bench/html_report.py --open reports/av_sync.html --screenshots TOP.png ROW.png

For each size, runs the benchmark through pytest with ``--model random --vsync-report`` into a
temporary directory: 1,692 tests are the shipped benchmark (levels 1-3, three modalities); any other
count is level 1's items copied under new ids (same clips) to that many tests. ``--open`` measures
reports that already exist instead. Then opens each report in headless Chromium (Playwright driving
the system's browser; nothing is downloaded) and prints one table:

* bytes of the page and of its media folder beside it;
* tests: all of them (a paged report shows 500 rows at a time); elements in the DOM once loaded,
  and the page's height in pixels;
* load: navigation start to the end of the load event (the report's scripts render the rows
  before it ends); the median of ``--repeats`` fresh pages;
* filter: one click on the "Failed" box until the next frame is painted, the reload included
  where the report is paged; the slowest of ``--repeats`` clicks, alternately hiding and showing
  the failed tests (showing them all again is the slow one);
* expand: one click on the first row until the next frame, and whether its details were then shown.

The machine's load changes the times; compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vsync_models.report.compare import text_table  # noqa: E402

SHIPPED_TESTS = 1692
"""Tests of the shipped benchmark: 564 items (levels 1-3) in three modalities."""

NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


@dataclass
class Measured:
    label: str
    tests: int
    page_bytes: int
    media_bytes: int
    elements: int
    height_px: int
    load_ms: float
    filter_ms: float
    expand_ms: float
    expanded: bool


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def copied_dataset(work: Path, tests: int) -> Path:
    """Level 1's items copied under new ids until ``tests`` tests (three modalities each) exist."""
    items = json.loads((REPO / "data/level_1/dataset.json").read_text(encoding="utf-8"))
    wanted = math.ceil(tests / 3)
    out = []
    for i in range(wanted):
        item = dict(items[i % len(items)])
        item["id"] = f"b{i:05d}"
        out.append(item)
    path = work / "dataset.json"
    path.write_text(json.dumps(out), encoding="utf-8")
    return path


def make_report(work: Path, tests: int) -> Path:
    """A real run with the seeded random model, its results and report in ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.yaml"
    config.write_text(f"benchmark:\n  level1:\n    output_dir: {json.dumps(str(work / 'reports'))}\n")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--tb=no", "--no-header"]
    cmd += ["--model", "random", "--vsync-report", "--config", str(config)]
    cmd += ["--cache-dir", str(work / "cache")]
    if tests == SHIPPED_TESTS:
        cmd.append("tests/benchmark")
    else:
        dataset = copied_dataset(work, tests)
        cmd += ["tests/benchmark/test_level1.py", "--dataset", str(dataset)]
        cmd += ["--video-dir", str(REPO / "data/level_1/videos")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    report = work / "reports" / "random.html"
    if not report.is_file():
        sys.exit(f"no report from {' '.join(cmd)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return report


def click_and_settle(page: Any, selector: str, navigates: bool) -> float:
    """Milliseconds from a click to the next painted frame (after the reload a paged report does)."""
    start = time.perf_counter()
    if navigates:
        with page.expect_navigation(wait_until="load", timeout=600_000):
            page.click(selector)
    else:
        page.click(selector)
    page.evaluate(NEXT_FRAME)
    return 1000 * (time.perf_counter() - start)


def measure(browser: object, report: Path, label: str, repeats: int) -> Measured:
    url = report.resolve().as_uri()
    loads = []
    for _ in range(repeats):
        page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        page.goto(url, wait_until="load", timeout=600_000)
        timing = page.evaluate("JSON.stringify(performance.getEntriesByType('navigation')[0])")
        entry = json.loads(timing)
        loads.append(entry["loadEventEnd"] - entry["startTime"])
        page.close()
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page.goto(url, wait_until="load", timeout=600_000)
    elements = page.evaluate("document.getElementsByTagName('*').length")
    height = page.evaluate("document.documentElement.scrollHeight")
    tests = page.evaluate("document.querySelectorAll('#results-table tbody.results-table-row').length")
    paged = page.evaluate("!!document.getElementById('vsync-pager')")
    if paged:  # rows shown at once, and of how many
        tests = int(
            page.evaluate(
                "document.getElementById('vsync-pager').textContent.split(' of ')[1].split(' ')[0].replace(/,/g, '')"
            )
        )
    failed = "input[data-test-result=failed]"
    filters = [click_and_settle(page, failed, paged) for _ in range(repeats)]
    if repeats % 2:  # leave every test shown
        click_and_settle(page, failed, paged)
    expand = click_and_settle(page, "#results-table tbody .collapsible td.col-testId", False)
    expanded = page.evaluate(
        "!document.querySelector('#results-table tbody .extras-row').classList.contains('hidden')"
    )
    page.close()
    return Measured(
        label=label,
        tests=tests,
        page_bytes=report.stat().st_size,
        media_bytes=folder_bytes(report.with_name(report.stem + "_media")),
        elements=elements,
        height_px=height,
        load_ms=statistics.median(loads),
        filter_ms=max(filters),
        expand_ms=expand,
        expanded=expanded,
    )


def screenshots(browser: object, report: Path, top: Path, row: Path) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page.goto(report.resolve().as_uri(), wait_until="load")
    page.screenshot(path=str(top))
    opened = page.locator("#results-table tbody.failed").first
    opened.locator("td.col-testId").click()
    opened = page.locator("#results-table tbody.failed").first  # pytest-html drew the table anew
    opened.locator("img.vs-strip").evaluate("img => img.decode()")
    opened.evaluate("el => { el.scrollIntoView({ block: 'start' }); window.scrollBy(0, -70); }")
    page.screenshot(path=str(row), clip={"x": 0, "y": 0, "width": 1400, "height": 560})
    page.close()


def table(rows: list[Measured]) -> str:
    head = [
        "report",
        "tests",
        "page MB",
        "media MB",
        "elements",
        "height px",
        "load s",
        "filter s",
        "expand s",
    ]
    cells = [
        [
            m.label,
            f"{m.tests:,}",
            f"{m.page_bytes / 1e6:.2f}",
            f"{m.media_bytes / 1e6:.2f}",
            f"{m.elements:,}",
            f"{m.height_px:,}",
            f"{m.load_ms / 1000:.2f}",
            f"{m.filter_ms / 1000:.2f}",
            f"{m.expand_ms / 1000:.2f}" + ("" if m.expanded else " (not shown)"),
        ]
        for m in rows
    ]
    return "\n".join(text_table(head, cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tests", type=int, nargs="+", default=[SHIPPED_TESTS, 10_000])
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--open", type=Path, nargs="*", default=[], help="measure these reports instead")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated reports in this folder")
    parser.add_argument(
        "--screenshots",
        type=Path,
        nargs=2,
        metavar=("TOP", "ROW"),
        help="only save two screenshots of the first report: its top, and its first failed row opened",
    )
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    reports: list[tuple[str, Path]] = [(p.name, p) for p in args.open]
    work = Path(tempfile.mkdtemp(prefix="vsync-html-bench-"))
    try:
        if not args.open:
            for n in args.tests:
                start = time.monotonic()
                report = make_report(work / str(n), n)
                print(f"{n} tests: report written in {time.monotonic() - start:.0f} s", file=sys.stderr)
                reports.append((f"{n} tests", report))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            if args.screenshots:
                screenshots(browser, reports[0][1], *args.screenshots)
                browser.close()
                return
            rows = [measure(browser, path, label, args.repeats) for label, path in reports]
            browser.close()
        print(table(rows))
    finally:
        if args.keep is not None and not args.open:
            args.keep.mkdir(parents=True, exist_ok=True)
            for n in args.tests:
                shutil.copytree(work / str(n) / "reports", args.keep / str(n), dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
