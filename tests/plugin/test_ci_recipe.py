"""The CI recipe of docs/reports.md, run as written (its ``pytest`` line and its adoption command)
against a stand-in OpenAI-compatible server: the first run creates the baseline candidate and says
how to adopt it; later runs gate on the headline condition (avt) only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.standins.tiny_omni import make_clip
from tests.support import REPO, choice_items, last_run, write_dataset
from vsync_models.standin import StandIn

MODEL = "openai:standin"


def recipe() -> tuple[dict, list[str]]:
    """The workflow's ``env`` and the ``run`` lines that call pytest, from docs/reports.md."""
    text = (REPO / "docs" / "reports.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# \.github/workflows/vsync\.yml\n.*?)```", text, re.DOTALL)
    assert block, "docs/reports.md has no CI recipe"
    workflow = yaml.safe_load(block.group(1))
    steps = workflow["jobs"]["regression"]["steps"]
    runs = [s["run"] for s in steps if "pytest" in str(s.get("run", ""))]
    return workflow["env"], runs


class Answers:
    """What the stand-in answers; the test changes it between runs."""

    def __init__(self) -> None:
        self.wrong_without_audio = False
        self.all_wrong = False

    def __call__(self, text: str) -> str:
        if self.all_wrong or (self.wrong_without_audio and "[ASR]" not in text):
            return "B"
        return "A"


@pytest.fixture
def answers() -> Answers:
    return Answers()


@pytest.fixture
def project(bench, answers, monkeypatch, tmp_path, warm_openai_sdk):
    server = StandIn(answer=answers)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    videos = bench.path / "data" / "level_1" / "videos"
    items = choice_items(8, answers="A")
    write_dataset(bench.path / "data" / "level_1", items)
    for item in items:  # real clips: vt sends frames, at the audio track
        make_clip(videos / item["video_path"], seconds=1.0)
    shim = tmp_path / "bin"  # `pytest` on PATH is this interpreter's, as after `pip install .`
    shim.mkdir()
    (shim / "pytest").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m pytest "$@"\n', encoding="utf-8")
    (shim / "pytest").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    yield bench
    server.close()


def sh(project, command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MODEL": MODEL}
    return subprocess.run(
        ["bash", "-c", command], cwd=project.path, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_recipe_creates_the_first_baseline_then_gates_on_the_headline_condition(project, answers):
    env, runs = recipe()
    assert "MODEL" in env and len(runs) == 1
    command = runs[0]

    first = sh(project, command)
    out = first.stdout
    assert first.returncode == 0, out + first.stderr
    adopt = re.search(r"NO BASELINE at baselines/openai:standin\.json: .*to adopt it: (.*)$", out, re.M)
    assert adopt, out
    assert adopt.group(1) == (
        "mkdir -p baselines && cp reports/openai_standin/latest/baseline.json baselines/openai:standin.json"
    )
    assert sh(project, adopt.group(1)).returncode == 0
    assert (project.path / "baselines" / "openai:standin.json").is_file()

    # Unchanged: the comparison holds, nothing is gated.
    again = sh(project, command)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no significant change" in again.stdout and "REGRESSION" not in again.stdout

    # The model now fails every question without audio: vt drops, avt and at hold. Not gated.
    shutil.rmtree(project.path / ".vsync_cache")
    answers.wrong_without_audio = True
    ablation = sh(project, command)
    assert ablation.returncode == 0, ablation.stdout + ablation.stderr
    assert "regression (not gated)" in ablation.stdout and "REGRESSION:" not in ablation.stdout

    # Every answer wrong: the headline condition dropped, exit 12.
    shutil.rmtree(project.path / ".vsync_cache")
    answers.all_wrong = True
    worse = sh(project, command)
    assert worse.returncode == 12, worse.stdout + worse.stderr
    assert re.search(r"^REGRESSION: level 1 avt: -100\.0 points", worse.stdout, re.M), worse.stdout
    assert "REGRESSION: level 1 vt" not in worse.stdout  # shown in the table, not gated

    # Four runs, four folders; none overwrote another, and latest names the last one.
    runs_dir = project.path / "reports" / "openai_standin"
    folders = sorted(p.name for p in runs_dir.iterdir() if p.name != "latest")
    assert len(folders) == 4
    assert last_run(project.path).name == folders[-1]
    for name in folders:
        assert (runs_dir / name / "results_openai_standin_level1.json").is_file()
        assert (runs_dir / name / "openai_standin.html").is_file()


def test_a_bad_model_argument_is_a_usage_error_naming_key_value_and_what_is_allowed(project):
    res = sh(project, 'pytest -m level1 --model "$MODEL" -q --model-arg temperature=abc')
    assert res.returncode == 4, res.stdout + res.stderr
    assert "--model-arg temperature = 'abc': must be a valid number" in res.stderr
    assert "INTERNALERROR" not in res.stdout + res.stderr
    assert not list((project.path / "reports").rglob("*.json"))


def test_model_arguments_reach_the_model_and_the_results(project, answers):
    res = sh(
        project,
        'pytest -m "level1 and at" --model "$MODEL" -q --tb=no --model-arg temperature=0.25 '
        "--model-arg temprature=1",
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert (
        "PytestConfigWarning: vsync: --model-arg temprature is not a setting of model 'standin' and is "
        "ignored; did you mean 'temperature'?"
    ) in res.stdout
    assert res.stdout.count("temprature is not a setting") == 1
    doc = json.loads((last_run(project.path) / "results_openai_standin_level1_at.json").read_text("utf-8"))
    assert doc["model_settings"]["temperature"] == 0.25
    assert "temprature" not in doc["model_settings"]
