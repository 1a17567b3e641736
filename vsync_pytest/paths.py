"""Where the project's own files and settings are, whatever rootdir pytest chose.

pytest picks its rootdir and ini file before any plugin's options are known, so in
``--dataset "/elsewhere/my set"`` it takes the option's value for a test path, roots the run there
and finds no ini file. The project is then the directory pytest was started in (or the nearest one
above it with a ``pytest.ini`` or a ``pyproject.toml`` holding ``[tool.pytest.ini_options]``), and
the V-SYNC ini settings are read from that file.
"""

from __future__ import annotations

import configparser
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - pytest itself depends on tomli below 3.11
    import tomli as tomllib

__all__ = ["ini_value", "project_dir"]


@dataclass(frozen=True)
class _Project:
    root: Path
    ini: Mapping[str, Any] = field(default_factory=dict)
    """The ini settings pytest did not read (empty where pytest found the ini file itself)."""


_PROJECT = pytest.StashKey[_Project]()


def project_dir(config: pytest.Config) -> Path:
    """Where ``config/``, ``data/``, ``reports/`` and the project's own tests are: the directory of
    pytest's ini file, else of the one found from where pytest was started, else that directory."""
    return _project(config).root


def ini_value(config: pytest.Config, name: str) -> Any:
    """A V-SYNC ini setting, from pytest's ini file or, where pytest found none, from the project's."""
    if config.inipath is not None:
        return config.getini(name)
    return _project(config).ini.get(name)


def _project(config: pytest.Config) -> _Project:
    if _PROJECT not in config.stash:
        if config.inipath is not None:
            config.stash[_PROJECT] = _Project(config.inipath.parent)
        else:
            here = config.invocation_params.dir
            config.stash[_PROJECT] = _find_ini(here) or _Project(here)
    return config.stash[_PROJECT]


def _find_ini(start: Path) -> _Project | None:
    for folder in (start, *start.parents):
        ini = folder / "pytest.ini"
        if ini.is_file():
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(ini, encoding="utf-8")
            return _Project(folder, dict(parser["pytest"]) if parser.has_section("pytest") else {})
        toml = folder / "pyproject.toml"
        if toml.is_file():
            try:
                data = tomllib.loads(toml.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError):
                continue
            settings = data.get("tool", {}).get("pytest", {}).get("ini_options")
            if isinstance(settings, dict):
                return _Project(folder, settings)
    return None
