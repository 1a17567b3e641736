"""SIGTERM ends a benchmark run the way a stop does: the tests running now finish, no new one starts,
and the run ends with its summary, results and records (pytest's status 2, "interrupted").

Without a handler, SIGTERM kills the controller where it stands: no summary, a records file that
disagrees with the results file of the run before, workers that find their channel gone, and every
request on the wire asked again by the next run. Here the controller (and each xdist worker, to
which the controller passes the signal on) sets ``session.shouldstop``; pytest and xdist stop after
the current test, and the pipeline (:mod:`vsync_pytest.pipelining`) lets the requests already on
the wire finish, so their answers reach the response cache. A second SIGTERM changes nothing;
Ctrl-C (or SIGKILL) ends the run at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any

import pytest

__all__ = ["SIGTERM_STOP", "StopOnSigterm"]

SIGTERM_STOP = "received SIGTERM: stopped after the tests that were running"


class StopOnSigterm:
    """Installed in each process of a benchmark run (controller and xdist workers), in its main thread."""

    def __init__(self) -> None:
        self.session: pytest.Session | None = None
        self.received = False
        self._previous: Any = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach the main thread only; an embedding caller keeps its own
        self.session = session
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def pytest_unconfigure(self) -> None:
        if self.session is not None:
            signal.signal(signal.SIGTERM, self._previous)
            self.session = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received or self.session is None:
            return
        self.received = True
        self.session.shouldstop = SIGTERM_STOP
        if not _pass_on(self.session.config):
            raise KeyboardInterrupt(SIGTERM_STOP)  # workers we cannot reach: stop as Ctrl-C does


def _pass_on(config: pytest.Config) -> bool:
    """On an xdist controller, SIGTERM each local worker (they stop after their current test and
    report as usual). False when a worker's process cannot be found (not a local ``popen`` one)."""
    dsession = config.pluginmanager.get_plugin("dsession")
    if dsession is None:
        return True  # no xdist: pytest checks session.shouldstop after each test
    nodes = getattr(getattr(dsession, "nodemanager", None), "group", None)
    try:
        pids = [gateway._io.popen.pid for gateway in nodes or ()]
    except AttributeError:  # execnet changed shape, or a remote gateway
        return False
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    if hasattr(dsession, "shouldstop"):  # xdist's own stop flag: no worker is started or fed any more
        dsession.shouldstop = SIGTERM_STOP  # (e.g. for one that died of the signal before its handler was in)
    return True
