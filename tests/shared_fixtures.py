"""Fixtures shared by the project's own tests, re-exported by the conftest.py of tests/unit and tests/plugin.

Not a conftest.py of tests/ itself: a benchmark run collects tests/benchmark only and must not need
the project's test helpers (or `tests` on sys.path, which a run rooted outside the checkout lacks).
"""

from __future__ import annotations

import contextlib

import pytest

from tests.support import REPO, choice_items, write_dataset


@pytest.fixture
def bench(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project laid out like this repository: plugin, benchmark test, a small dataset."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.syspathinsert(REPO)
    # importlib mode: the outer run may already have imported this repository's test_level1.
    pytester.makeini("[pytest]\naddopts = --strict-markers --import-mode=importlib\n")
    bench_dir = pytester.mkdir("tests")
    (bench_dir / "test_level1.py").write_text(
        (REPO / "tests" / "benchmark" / "test_level1.py").read_text(encoding="utf-8"), encoding="utf-8"
    )
    write_dataset(pytester.path / "data" / "level_1", choice_items(8, task="who_said"))
    return pytester


@pytest.fixture(scope="session")
def warm_openai_sdk() -> None:
    """Import the whole OpenAI SDK transport stack in this process, before any in-process run.

    pytester restores ``sys.modules`` after each in-process run; a transport module first
    imported *inside* a run would come back as a second copy whose exception classes the
    SDK no longer recognises. One refused connection to a closed loopback port imports it all.
    """
    import openai

    client = openai.OpenAI(api_key="warm-up", base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    with contextlib.suppress(openai.OpenAIError):
        client.models.list()


@pytest.fixture(scope="session", autouse=True)
def warm_http_stack() -> None:
    """The same for ``httpx2`` (our clients' HTTP library, and the SDK's): it imports ``httpcore2``
    and builds its exception map at the first request. Made inside an in-process run, that map
    would hold exception classes of a module copy pytester then unloads, and a refused connection
    afterwards would escape as an unmapped ``httpcore2.ConnectError``."""
    import httpx2

    with httpx2.Client() as client, contextlib.suppress(httpx2.HTTPError):
        client.get("http://127.0.0.1:9/", timeout=2)
