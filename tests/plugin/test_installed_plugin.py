"""The plugin is installed (a ``pytest11`` entry point), not loaded by a conftest.py: its options exist
before pytest reads the command line, from any directory, whatever rootdir pytest picks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, choice_items, last_run, write_dataset


def _pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_pytest_help_in_an_unrelated_directory_lists_the_vsync_options(tmp_path: Path) -> None:
    res = _pytest("--help", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "V-SYNC benchmark:" in res.stdout
    for option in ("--model=NAME", "--dataset=PATH", "--config=YAML", "--concurrency=N", "--vsync-report"):
        assert option in res.stdout
    for ini in ("vsync_model", "vsync_config", "vsync_concurrency", "vsync_report"):
        assert ini in res.stdout


def test_paths_outside_the_checkout_given_space_separated(tmp_path: Path) -> None:
    """``--dataset "<dir with a space>"`` and ``--config <file outside>``: pytest takes the option's
    value for a test path and roots the run there, before any plugin is loaded; the run still finds
    the project's tests and runs every item of the given dataset."""
    outside = tmp_path / "my sets"
    dataset = write_dataset(outside / "level_1", choice_items(3, task="who_said"))
    reports, cache = tmp_path / "out reports", tmp_path / "cache"
    config = outside / "vsync config.yaml"
    config.write_text(
        f"benchmark:\n  level1:\n    output_dir: {json.dumps(str(reports))}\n", encoding="utf-8"
    )
    args = ("-m", "level1 and avt", "--model", "random", "--dataset", str(dataset), "--config", str(config))
    res = _pytest(*args, "--cache-dir", str(cache), "-p", "no:cacheprovider", "-q", "--tb=no", cwd=REPO)
    assert "unrecognized arguments" not in res.stderr
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(
        (reports / "random" / "latest" / "results_random_level1.json").read_text(encoding="utf-8")
    )
    assert sorted(r["id"] for r in doc["results"]) == ["q000", "q001", "q002"]


def _ini(bench, **settings: str) -> None:
    lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
    bench.makeini(f"[pytest]\naddopts = --strict-markers --import-mode=importlib\n{lines}")


def test_ini_settings_apply_where_the_command_line_is_silent(bench) -> None:
    _ini(bench, vsync_model="constant", vsync_report="true", vsync_concurrency="4")
    res = bench.runpytest("-m", "avt", "-p", "no:cacheprovider", "--tb=no", "-q")
    assert res.ret == 0
    assert sum(res.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 8  # not skipped: a model ran
    assert (last_run(bench.path) / "constant.html").is_file()
    assert (last_run(bench.path) / "results_constant_level1.json").is_file()


def test_the_command_line_wins_over_ini_settings(bench) -> None:
    _ini(bench, vsync_model="constant")
    res = bench.runpytest("-m", "avt", "--model", "random", "-p", "no:cacheprovider", "--tb=no", "-q")
    assert res.ret == 0
    assert (last_run(bench.path, "random") / "results_random_level1.json").is_file()
    assert not (bench.path / "reports" / "constant").exists()


def test_a_malformed_ini_setting_stops_the_run_with_its_name(bench) -> None:
    _ini(bench, vsync_model="constant", vsync_concurrency="many")
    res = bench.runpytest("-m", "avt", "-p", "no:cacheprovider")
    assert res.ret == 4  # usage error
    res.stderr.fnmatch_lines(["*vsync_concurrency must be a whole number, got 'many'*"])


def test_without_the_dev_extras_the_projects_tests_are_not_collected(bench, monkeypatch) -> None:
    """``pip install .`` alone, then a plain ``pytest -m "level1 and avt"`` in the checkout: the
    project's own tests (which import the dev extras) are left out instead of erroring."""
    import vsync_pytest.plugin as plugin

    unit = bench.mkdir("tests/unit")
    (unit / "test_needs_dev.py").write_text("import a_dev_extra_not_installed\n", encoding="utf-8")
    res = bench.runpytest("-m", "level1 and avt", "-p", "no:cacheprovider")
    assert res.ret == pytest.ExitCode.INTERRUPTED  # with the extras "installed": the import error shows
    monkeypatch.setattr(plugin, "_dev_extras_installed", lambda: False)
    res = bench.runpytest("-m", "level1 and avt", "-p", "no:cacheprovider")
    assert res.ret == 0
    res.stdout.fnmatch_lines(["vsync: the project's own tests are not collected: they need *[[]dev[]]*"])
    res.assert_outcomes(skipped=8)  # the benchmark items, skipped for want of --model


def test_ini_settings_hold_when_a_path_option_roots_the_run_elsewhere(tmp_path: Path) -> None:
    """pytest finds no ini file when it roots the run at ``--dataset``'s value; the plugin reads the
    project's own (TOML values of any type included)."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_level1.py").write_text(
        (REPO / "tests" / "benchmark" / "test_level1.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (project / "pyproject.toml").write_text(
        '[tool.pytest.ini_options]\nvsync_model = "random"\nvsync_concurrency = 2\nvsync_report = true\n',
        encoding="utf-8",
    )
    dataset = write_dataset(tmp_path / "my sets" / "level_1", choice_items(3, task="who_said"))
    res = _pytest("-m", "avt", "--dataset", str(dataset), "-p", "no:cacheprovider", "-q", cwd=project)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (last_run(project) / "random.html").is_file()
    doc = json.loads((last_run(project) / "results_random_level1.json").read_text(encoding="utf-8"))
    assert len(doc["results"]) == 3
