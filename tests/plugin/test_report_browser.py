"""The HTML report read the way its users read it: opened in a real browser (headless Chromium).

Playwright drives the system's Chromium (Debian's ``chromium``, which ``.ci/run`` installs);
nothing is downloaded. Without Chromium or Playwright these tests skip, saying why, except in CI
(``CI=true``), where a missing browser is a failure: the checks below cannot be made without one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.support import REPO, choice_items, last_run, report_items, write_dataset

HOSTILE_ID = "x1<img src=x onerror=window.vsPwned='id'>"
HOSTILE_QUESTION = "Who said <img src=x onerror=window.vsPwned='question'>?"
HOSTILE_ANSWER = "<script>window.vsPwned='script'</script><img src=x onerror=\"window.vsPwned='img'\"> A"
NEXT_FRAME = "() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))"


def chromium_path() -> str | None:
    return shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).is_file()), None
    )


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI must have it (.ci/run installs Debian's chromium and the dev extra)")
    pytest.skip(f"{why} (apt-get install chromium; pip install -e '.[dev]' for playwright)")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    if executable is None:
        unavailable("no Chromium on this machine")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    opened = browser.new_page(viewport={"width": 1280, "height": 900})
    yield opened
    opened.close()


def real_clip() -> bytes:
    return (REPO / "data" / "level_1" / "videos" / "clip_0001.mp4").read_bytes()


def hostile_run(bench: pytest.Pytester) -> Path:
    items = choice_items(6, answers="AB", task="who_said")
    items[0]["id"] = HOSTILE_ID
    items[1]["question"] = HOSTILE_QUESTION
    root = bench.path / "data" / "level_1"
    for stand_in in (root / "videos").glob("*.mp4"):
        stand_in.unlink()
    write_dataset(root, items, clip_bytes=real_clip())
    (bench.path / "config").mkdir(exist_ok=True)
    (bench.path / "config" / "config.yaml").write_text(
        f"models:\n  constant:\n    answer: {json.dumps(HOSTILE_ANSWER)}\n", encoding="utf-8"
    )
    bench.runpytest("--model", "constant", "--vsync-report", "--tb=short", "-q")
    report = last_run(bench.path, "constant") / "constant.html"
    assert report.is_file()
    return report


def test_report_in_a_browser_runs_nothing_of_the_data_shows_the_headline_and_rows_collapsed(bench, page):
    report = hostile_run(bench)
    page.goto(report.as_uri(), wait_until="load")
    page.wait_for_timeout(300)  # an <img onerror> would fire after its failed load
    assert page.evaluate("window.vsPwned") is None

    # The headline table is on the first screen, above pytest-html's environment table.
    box = page.locator("#vsync-accuracy").bounding_box()
    assert box is not None and box["y"] < 900 - 3 * 20, f"headline table starts at {box}"
    env = page.locator("#environment").bounding_box()
    assert env is not None and env["y"] > box["y"]
    first_env_key = page.locator("#environment tr td").first.text_content()
    assert first_env_key == "V-SYNC model", "the run's facts come first in the Environment table"

    # Every row starts collapsed; each test has one row.
    rows = page.locator("#results-table tbody.results-table-row")
    assert rows.count() == 18  # 6 items x 3 modalities
    assert page.locator("#results-table tr.extras-row:not(.hidden)").count() == 0

    # The hostile id is shown as text, and nothing of the data ran.
    ids = page.locator("#results-table td.col-testId").all_text_contents()
    assert sum(HOSTILE_ID in text for text in ids) == 3
    page.click("#show_all_details")  # every row's block rendered, hostile question and response too
    page.wait_for_timeout(300)  # an <img onerror> would fire after its failed load
    assert page.evaluate("window.vsPwned") is None
    assert page.locator(".vs-item").count() == 18
    shown = page.locator("#results-table .vs-item pre").first.text_content()
    assert "<script>window.vsPwned='script'</script>" in shown
    assert page.locator("#results-table .vs-item b", has_text="Who said <img").count() == 3

    # One row's exchange appears once: our block, not the assertion text again in a captured log.
    first = rows.first
    assert first.locator(".log").count() == 0
    text = first.text_content()
    assert text.count("window.vsPwned='script'") == 1, text
    options = first.locator("ul.vs-opts li").all_text_contents()
    assert options[0] == "A. the red circle", "options shown once, with the dataset's own letter"


def test_a_filter_click_and_a_row_click_work(bench, page):
    report = hostile_run(bench)
    page.goto(report.as_uri(), wait_until="load")
    rows = "#results-table tbody.results-table-row"
    failed = page.locator(f"{rows}.failed").count()
    passed = page.locator(f"{rows}.passed").count()
    assert failed and passed and failed + passed == 18

    page.click("input[data-test-result=failed]")
    page.evaluate(NEXT_FRAME)
    assert page.locator(f"{rows}.failed").count() == 0
    assert page.locator(f"{rows}.passed").count() == passed
    page.click("input[data-test-result=failed]")
    page.evaluate(NEXT_FRAME)
    assert page.locator(f"{rows}.failed").count() == failed

    page.locator(f"{rows} td.col-testId").nth(2).click()
    page.evaluate(NEXT_FRAME)
    opened = page.locator("#results-table tr.extras-row:not(.hidden)")
    assert opened.count() == 1
    assert opened.locator(".vs-item").count() == 1, "the opened row gets its item's block"
    strip = opened.locator("img.vs-strip")
    width = strip.evaluate("img => img.clientWidth")
    strip.click()
    assert strip.evaluate("img => img.clientWidth") > width, "a click enlarges the frame strip"


def test_the_reports_folder_alone_shows_and_plays_every_clip(bench, page, tmp_path):
    report = hostile_run(bench)
    elsewhere = tmp_path / "uploaded"
    # the whole reports/ folder, its latest pointer kept a link; the page opened through the pointer
    shutil.copytree(bench.path / "reports", elsewhere, symlinks=True)
    shutil.rmtree(bench.path / "data")  # nothing of the checkout is left to link to
    shutil.rmtree(bench.path / "reports")
    copy = elsewhere / "constant" / "latest" / report.name
    assert copy.is_file()

    blocks = report_items(copy.read_text("utf-8")).values()
    sources = {unquote(s) for block in blocks for s in re.findall(r" src='([^']+)'", block)}
    assert any(s.endswith(".m4a") for s in sources) and any(s.endswith(".jpg") for s in sources)
    for src in sources:
        target = (copy.parent / src).resolve()
        assert target.is_file() and target.is_relative_to(elsewhere.resolve()), src

    page.goto(copy.as_uri(), wait_until="load")
    page.click("#show_all_details")
    page.evaluate(NEXT_FRAME)
    images = page.locator("#results-table img.vs-strip")
    assert images.count() == 18
    images.first.scroll_into_view_if_needed()
    assert images.first.evaluate("img => img.decode().then(() => img.naturalWidth)") >= 6 * 160
    duration = page.locator("#results-table audio").first.evaluate(
        "a => new Promise((ok, fail) => { a.onloadedmetadata = () => ok(a.duration);"
        " a.onerror = () => fail(new Error('audio did not load')); a.preload = 'metadata'; a.load(); })"
    )
    assert duration > 1.0


def test_past_one_page_rows_come_a_page_at_a_time_and_a_filter_applies_to_all(bench, page):
    report = hostile_run(bench)
    page.goto(report.as_uri() + "?rows=5", wait_until="load")  # pages of 5 rows instead of 500
    rows = "#results-table tbody.results-table-row"
    pager = page.locator("#vsync-pager")
    assert page.locator(rows).count() == 5
    assert "Rows 1–5 of 18 shown (page 1 of 4)" in pager.text_content()
    failed = page.locator(f"{rows}.failed").count()
    assert failed == 5, "failed tests first, as pytest-html sorts them"

    with page.expect_navigation(wait_until="load"):
        page.click("input[data-test-result=failed]")
    assert page.locator(f"{rows}.failed").count() == 0
    passed = int(pager.text_content().split(" of ")[1].split(" ")[0])
    assert 0 < passed < 18 and page.locator(rows).count() == min(5, passed)

    with page.expect_navigation(wait_until="load"):
        page.click("#vsync-pager button:has-text('last')")
    assert f"of {passed} shown" in pager.text_content()
    assert page.locator(f"{rows}.passed").count() == passed - 5 * ((passed - 1) // 5)
    assert page.locator("#results-table tr.extras-row:not(.hidden)").count() == 0


def test_a_filter_that_leaves_less_than_a_page_can_be_undone_without_drawing_every_row(bench, page):
    report = hostile_run(bench)
    page.goto(report.as_uri() + "?rows=10", wait_until="load")
    rows = "#results-table tbody.results-table-row"
    assert page.locator(rows).count() == 10
    with page.expect_navigation(wait_until="load"):
        page.click("input[data-test-result=failed]")
    passed = page.locator(f"{rows}.passed").count()
    assert passed <= 10 and page.locator(rows).count() == passed
    assert f"of {passed} shown (page 1 of 1)" in page.locator("#vsync-pager").text_content()
    with page.expect_navigation(wait_until="load"):  # still paged: showing the failed again reloads
        page.click("input[data-test-result=failed]")
    assert page.locator(rows).count() == 10
