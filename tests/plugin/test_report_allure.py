"""Allure results: labels set where the test ran (xdist workers), attachments, run-level files."""

from __future__ import annotations

import json

from junitparser import JUnitXml, Properties

from tests.support import REPO, choice_items, write_dataset


def results(directory) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in directory.glob("*-result.json")]


def labels(result: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label in result["labels"]:
        out.setdefault(label["name"], []).append(label["value"])
    return out


def test_allure_results_carry_labels_parameters_and_attachments_under_xdist(bench):
    write_dataset(bench.path / "data" / "level_1", choice_items(4, answers="AB", task="who_said"))
    bench.runpytest_subprocess(
        "--model", "constant", "-n", "2", "-p", "xdist", "--alluredir", "allure", "--junitxml", "junit.xml"
    )
    directory = bench.path / "allure"
    found = results(directory)
    assert len(found) == 12
    by_name = {r["name"]: r for r in found}
    r = by_name["test_item[q001-vt]"]
    assert r["status"] == "failed"
    got = labels(r)
    assert (got["epic"], got["feature"], got["story"]) == (["level 1"], ["who_said"], ["vt"])
    assert "severity" not in got  # left as allure's default
    params = {p["name"]: p["value"] for p in r["parameters"]}
    assert params["vsync_case"] == "'q001-vt'"  # the test id, not the dataclass repr
    assert (params["model"], params["expected"], params["extracted"]) == ("'constant'", "'B'", "'A'")
    assert (params["outcome"], params["cached"]) == ("'wrong'", "'false'")
    excluded = {p["name"] for p in r["parameters"] if p.get("excluded")}
    assert excluded == {"vsync_case", "expected", "extracted", "outcome", "cached"}
    attached = {a["name"]: a["source"] for a in r["attachments"]}
    assert {"prompt", "raw response"} <= set(attached)
    prompt = (directory / attached["prompt"]).read_text(encoding="utf-8")
    assert "Options:\nA. the red circle" in prompt and "[ASR]" not in prompt  # vt: no transcript
    assert prompt.endswith("[QUESTION]\nWhich character said sentence 1?")
    assert (directory / attached["raw response"]).read_text(encoding="utf-8") == "A"
    assert "frame strip" not in attached  # stand-in clips cannot be decoded: no strip, no error
    assert {labels(x)["story"][0] for x in found} == {"avt", "vt", "at"}

    env = dict(
        line.split(" = ", 1)
        for line in (directory / "environment.properties").read_text("utf-8").splitlines()
    )
    assert env["model"] == "constant" and len(env["config_hash"]) == 12 and len(env["dataset_hash"]) == 12
    assert env["accuracy.level1.avt"].startswith("50.0% [95% CI ")
    assert env["synchrony_gain.level1"].startswith("+0.0 points")
    assert (
        env["coverage.level1.vt"]
        == "100.0% (4 of 4 answered; 0 errors, 0 unparseable, 0 skipped, 0 never ran)"
    )
    assert env["gates"] == "all hold" and env["gates.exit_status"] == "0"
    categories = json.loads((directory / "categories.json").read_text(encoding="utf-8"))
    assert [c["name"] for c in categories][:2] == ["Wrong answers", "Unparseable answers"]
    attached = {}
    for globals_file in directory.glob("*-globals.json"):
        for a in json.loads(globals_file.read_text(encoding="utf-8"))["attachments"]:
            attached[a["name"]] = (directory / a["source"]).read_text(encoding="utf-8")
    assert set(attached) == {"V-SYNC summary", *(f"V-SYNC level 1 {m}" for m in ("avt", "vt", "at"))}
    text = attached["V-SYNC summary"]
    assert "  level 1: +0.0 points" in text
    assert "coverage: the denominator is fixed when the tests are collected" in text
    vt_table = attached["V-SYNC level 1 vt"].splitlines()
    assert any(line.split()[:3] == ["1", "vt", "all"] and "50.0%" in line for line in vt_table)
    assert not any(" avt " in line or " at " in line for line in vt_table)

    # the JUnit XML of the same xdist run: flat properties per test, the run's numbers on the suite
    suite = next(iter(JUnitXml.fromfile(str(bench.path / "junit.xml"))))
    suite_props = {p.name: p.value for p in suite.properties()}
    assert suite_props["model"] == "constant" and suite_props["accuracy.level1.vt"].startswith(
        "50.0% [95% CI "
    )
    assert suite_props["synchrony_gain.level1"].startswith("+0.0 points [95% CI ")
    case = next(c for c in suite if c.name == "test_item[q001-vt]")
    assert {p.name: p.value for p in case.child(Properties)} == {
        "level": "1",
        "modality": "vt",
        "task": "who_said",
        "outcome": "wrong",
        "extracted": "A",
        "expected": "B",
        "error_kind": "",
    }


def test_frame_strip_is_attached_for_a_real_clip(bench):
    root = bench.path / "data" / "level_1"
    for stand_in in (root / "videos").glob("*.mp4"):
        stand_in.unlink()
    clip = sorted((REPO / "data" / "level_1" / "videos").glob("*.mp4"))[0].read_bytes()
    write_dataset(root, choice_items(1), clip_bytes=clip)
    bench.runpytest("--model", "constant", "-m", "avt", "--alluredir", "allure")
    (result,) = results(bench.path / "allure")
    (strip,) = [a for a in result["attachments"] if a["name"] == "frame strip"]
    assert strip["type"] == "image/jpeg" and strip["source"].endswith(".jpg")
    assert (bench.path / "allure" / strip["source"]).read_bytes()[:2] == b"\xff\xd8"
