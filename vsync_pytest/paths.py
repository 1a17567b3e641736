"""Where the project's own files are, whatever rootdir pytest chose."""

from __future__ import annotations

from pathlib import Path

import pytest

__all__ = ["project_dir"]


def project_dir(config: pytest.Config) -> Path:
    """Where ``config/``, ``data/``, ``reports/`` and the project's own tests are: the directory of pytest's
    ini file (the project's ``pyproject.toml``), else the directory pytest was started in.

    Not pytest's rootdir as such: pytest picks the rootdir before any plugin's options are known,
    so in ``--dataset "/elsewhere/my set"`` it takes the value for a test path and roots the run
    there (with no ini file found).
    """
    return config.inipath.parent if config.inipath else config.invocation_params.dir
