"""The ``vsync`` command: every subcommand, its exit statuses, and the script pyproject declares."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from tests.support import REPO
from tests.support import choice_record as rec
from vsync_models.cli import main
from vsync_models.report.compare import RunInfo, save_baseline
from vsync_models.report.results import results_path, write_results
from vsync_models.report.runs import new_run_dir, point_latest
from vsync_models.run.cache import ResponseCache
from vsync_models.run.records import RecordLog, records_path
from vsync_models.types import Modality, Response

INFO = RunInfo(model="m", config_hash="c0ffee", dataset="d.json", dataset_hash="da7a")


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vsync_models.cli", *args],
        cwd=kwargs.pop("cwd", REPO),
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def test_the_package_declares_the_vsync_script():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["vsync"] == "vsync_models.cli:main"


def test_help_lists_every_command():
    res = cli("--help")
    assert res.returncode == 0
    for command in ("compare", "cache", "synth", "report", "models"):
        assert f"    {command}" in res.stdout, res.stdout
    assert cli("nonsense").returncode == 4  # a usage error, as in pytest


def test_python_dash_m_vsync_models_runs_the_same_commands():
    res = subprocess.run(
        [sys.executable, "-m", "vsync_models", "models"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0 and "av_sync:" in res.stdout


def regressed_pair(tmp_path, modality: str = "avt"):
    before = [rec(i, "correct", modality) for i in range(40)]
    after = [rec(i, "wrong" if i < 12 else "correct", modality) for i in range(40)]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    save_baseline(a, before, INFO)
    write_results(b, "m", modality, after)
    return a, b


def test_compare_exits_as_the_pytest_gate(tmp_path, capsys):
    a, b = regressed_pair(tmp_path)
    assert main(["compare", str(a), str(b)]) == 0
    assert main(["compare", str(a), str(b), "--fail-on-regression"]) == 12
    out = capsys.readouterr().out
    assert "vsync compare exit status 12: significant regression" in out
    assert main(["compare", str(a), str(tmp_path / "missing.json")]) == 4
    assert main(["compare", str(a), str(b), "--alpha", "2"]) == 4


def test_compare_gates_the_headline_condition_unless_told_otherwise(tmp_path, capsys):
    a, b = regressed_pair(tmp_path, "vt")
    assert main(["compare", str(a), str(b), "--fail-on-regression"]) == 0
    assert "regression (not gated)" in capsys.readouterr().out
    assert main(["compare", str(a), str(b), "--fail-on-regression", "--gate-modalities", "all"]) == 12


def test_compare_finds_runs_by_folder_and_latest(tmp_path):
    a, b = regressed_pair(tmp_path)
    run = new_run_dir(tmp_path / "reports", "m")
    (run / "results_m_level1.json").write_bytes(b.read_bytes())
    point_latest(run)
    assert main(["compare", str(a), str(tmp_path / "reports" / "m" / "latest"), "--fail-on-regression"]) == 12
    assert main(["compare", str(a), str(run), "--fail-on-regression"]) == 12


def test_compare_closes_quietly_on_a_closed_pipe(tmp_path):
    a, b = regressed_pair(tmp_path)
    shell = f"{sys.executable} -m vsync_models.cli compare {a} {b} --fail-on-regression | head -1"
    res = subprocess.run(
        ["bash", "-o", "pipefail", "-c", shell], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert res.stdout.startswith("A (baseline):") and len(res.stdout.splitlines()) == 1
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr
    assert res.returncode == 12  # the gate's status, even though the reader left early


def fill_cache(path):
    cache = ResponseCache(path)
    for model, n in (("alpha", 3), ("beta", 2)):
        for i in range(n):
            request = SimpleNamespace(item_id=f"q{i}", level=1, modality=Modality.AVT)
            cache.put(f"{model}-{i}", request, model, Response(text="A" * 100, latency_s=0.1))
    cache.close()


def test_cache_lists_per_model_and_clears_one_model_or_old_answers(tmp_path):
    fill_cache(tmp_path / "responses.sqlite")
    res = cli("cache", "--cache-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    rows = {line.split()[0]: line.split()[1] for line in res.stdout.splitlines()[2:4]}
    assert rows == {"alpha": "3", "beta": "2"}
    assert "on disk" in res.stdout
    res = cli("cache", "--cache-dir", str(tmp_path), "--clear", "beta", "--older-than", "1d")
    assert "deleted 0 answers of model 'beta' stored more than 1d ago" in res.stdout  # all are new
    res = cli("cache", "--cache-dir", str(tmp_path), "--clear", "beta")
    assert "deleted 2 answers of model 'beta'" in res.stdout and "beta" not in res.stdout.split("\n", 1)[1]
    cache = ResponseCache(tmp_path / "responses.sqlite")
    assert cache.clear(older_than=time.time() + 1) == 3 and len(cache) == 0
    cache.close()
    assert cli("cache", "--cache-dir", str(tmp_path), "--older-than", "1d").returncode == 4
    for age in ("-1d", "nan", "inf", "0"):  # a cutoff in the future would delete every answer
        res = cli("cache", "--cache-dir", str(tmp_path), "--clear", "alpha", f"--older-than={age}")
        assert res.returncode == 4 and "positive age" in res.stderr, (age, res.stderr)


def test_synth_runs_the_generator_commands(tmp_path):
    res = cli("synth", "oracles", "--plan", "6", "--seed", "1")
    assert res.returncode == 0, res.stderr
    assert "best accuracy" in res.stdout and "in_sync" in res.stdout
    assert cli("synth", "--help").returncode == 0


def test_report_rebuilds_results_and_html_from_records_without_a_model(tmp_path):
    run = new_run_dir(tmp_path / "reports", "m")
    log = RecordLog()
    records = [rec(i, "correct" if i % 2 else "wrong") for i in range(6)]
    results = results_path(run, "m", 1, "avt")
    for r in records:
        log.write(records_path(results), r.for_run("m", {"model": "m"}))
    log.close()
    point_latest(run)
    res = cli("report", str(tmp_path / "reports" / "m" / "latest"))
    assert res.returncode == 0, res.stderr
    doc = json.loads((run / "rebuilt" / "results_m_level1.json").read_text(encoding="utf-8"))
    assert (doc["correct"], doc["total"], doc["accuracy"]) == (3, 6, 50.0)
    tidy = (run / "rebuilt" / "results_m_level1.items.jsonl").read_text(encoding="utf-8").splitlines()
    assert sorted(json.loads(line)["is_correct"] for line in tidy) == [False] * 3 + [True] * 3
    html = (run / "rebuilt" / "m.html").read_text(encoding="utf-8")
    assert "V-SYNC results: m" in html and html.count("<b class=vs-ok>correct</b>") == 3
    assert cli("report", str(tmp_path)).returncode == 4  # not a run folder


def test_models_lists_names_needs_and_settings():
    res = cli("models")
    assert res.returncode == 0
    assert "random: nothing" in res.stdout
    assert "gpt4o: OPENAI_API_KEY" in res.stdout
    assert (
        "av_sync: nothing beyond the package (numpy and PyAV): measures the clip\n"
        "    settings: concurrency, fallback, fps, max_decoded_pixels, max_frames, provider, rate_limit, seed,"
        " user_prompt\n"
    ) in res.stdout
    assert "omni:<served-name>: an OpenAI-compatible omni server already running" in res.stdout
    assert "send_audio" in res.stdout.split("openai:<model-name>:", 1)[1].split("\n")[1]
    assert "omnivinci: not supported yet" in res.stdout
