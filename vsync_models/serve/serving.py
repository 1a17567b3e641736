"""How a model is served for a run, behind one interface: :class:`Serving`.

A model is served in one of four ways, decided once by :func:`serving_for` from the model's
type and its typed launch settings (:class:`~vsync_models.models.omni_server.ServerLaunch`):

* :class:`InProcess`: nothing to serve (the baselines, ``av_sync``, a replayed run); one
  request at a time by default;
* :class:`Endpoint`: reached over HTTP at URLs the run does not start: an API
  (OpenAI-compatible, Gemini), or a server named by ``server_url`` without launch settings;
* :class:`LocalServer`: our server (``python -m vsync_models.serve``), started by the run unless
  one is already healthy at ``server_url``; :class:`VllmServer` the same for ``vllm serve``;
* :class:`Replicas`: one :class:`LocalServer` per replica of a
  :class:`~vsync_models.models.replicas.ReplicaSet` (``gpu_ids: [[0, 1], [2, 3]]``).

All but the first are remote: many requests may be in flight at once (16 by default).

The life of a run, whatever serves the model::

    serving = serving_for(model, log_dir)
    urls = serving.start(root=project_dir, progress=print)   # controller: start or reuse
    serving.connect(urls)                                    # each other process (xdist worker)
    serving.share_run(directory)                             # xdist workers: one run-wide budget
    ...
    serving.gone()        # after an infrastructure error: the server's death, or None
    serving.exited()      # servers this process started that exited before the end
    serving.stop()        # stop what start() started (a reused server is left running)

``start`` returns what other processes need to reach the same servers (a URL, a list of
replica URLs, or ``None``), so ``-n 4`` shares one server instead of loading the weights four
times. Nothing here knows about pytest.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Protocol

from vsync_models.data.media import MediaPreparer
from vsync_models.models.base import Model
from vsync_models.models.omni_server import AudioCanary, OmniServerModel, ServerLaunch, audio_canary
from vsync_models.models.replicas import ReplicaSet
from vsync_models.models.retry import RefusalBudget
from vsync_models.report.results import safe_name
from vsync_models.serve.launch import (
    Progress,
    ServerProcess,
    log_tail,
    probe_health,
    start_server,
    stop_server,
)
from vsync_models.serve.vllm_engine import VllmSettings, probe_models, start_vllm

__all__ = [
    "DEFAULT_HTTP_CONCURRENCY",
    "Endpoint",
    "InProcess",
    "LocalServer",
    "Replicas",
    "Serving",
    "Urls",
    "VllmServer",
    "serving_for",
]

DEFAULT_HTTP_CONCURRENCY = 16
"""A served model or an API reaches its throughput only with many requests at once; 16 stays under
most providers' per-key connection limits."""

Urls = str | list[str] | None
"""Where a run's servers listen, as handed from the process that started them to the others."""

Canary = Callable[[Path, MediaPreparer, str], AudioCanary]
"""Asks a model whether audio reaches it: (clip, preparer, the clip's transcript) → the record."""

_API_CLIENTS = (
    ("vsync_models.models.openai_compat", "OpenAICompatModel"),
    ("vsync_models.models.gemini", "GeminiModel"),
)
"""Adapters that call a provider's API over HTTP. Looked up in ``sys.modules``: importing the
OpenAI SDK costs more than a second, and a model of a class never imported cannot be one."""


class ApiClient(Protocol):
    """An API adapter as serving sees it: where it asks, its run-wide refusal budget, its latch."""

    base_url: str
    refusals: RefusalBudget
    gone: str | None


class Serving:
    """How a model is served; this base serves nothing (the model answers in this process)."""

    is_remote: ClassVar[bool] = False
    """Whether requests leave this process (over HTTP), so that many may be in flight at once."""

    @property
    def default_concurrency(self) -> int:
        """Requests in flight for the run when neither ``--concurrency`` nor the config says."""
        return DEFAULT_HTTP_CONCURRENCY if self.is_remote else 1

    def start(self, *, root: Path | None = None, progress: Progress | None = None) -> Urls:
        """Make sure the model's servers are up (reuse or start); where other processes find them.

        ``root`` is the directory a relative checkpoint path is built under (the tiny test
        checkpoints); ``progress`` hears one line per start and while a slow start lasts.
        """
        return None

    def connect(self, urls: Urls) -> None:
        """In another process (an xdist worker): use the servers that :meth:`start` returned."""

    def stop(self) -> None:
        """Stop every server :meth:`start` started; a server found running is left alone."""

    def share_run(self, directory: Path) -> None:
        """In each process of one run (xdist workers): keep run-wide counts in ``directory``."""

    def gone(self) -> str | None:
        """Why the run cannot go on (the model's server is gone), or ``None`` while it can."""
        return None

    def exited(self) -> list[str]:
        """One line per server this process started that has exited, with the tail of its log."""
        return []

    def audio_canary(self, clip: Path, preparer: MediaPreparer, transcript: str = "") -> AudioCanary | None:
        """Does audio reach the model? ``None`` where no canary applies (nothing is sent audio by us).

        An omni server (ours, vLLM, any other) is checked by prompt tokens with and without the audio
        (:func:`~vsync_models.models.omni_server.audio_canary`; ``transcript`` unused); an
        OpenAI-compatible API with ``send_audio`` by asking what the clip says
        (:func:`~vsync_models.models.openai_compat.api_audio_canary`, against ``transcript``).
        """
        return None


class InProcess(Serving):
    """Nothing to serve: the model answers in this process, one request at a time by default."""

    def __repr__(self) -> str:
        return "InProcess()"


class Endpoint(Serving):
    """Reached over HTTP at URLs this run does not start (an API, or a server started elsewhere).

    ``clients`` are the omni-server clients among them: they latch a dead server's "gone".
    ``apis`` are API clients: each latches "gone" once the run's refused connections to it are
    spent (:class:`~vsync_models.models.retry.RefusalBudget`), counted across xdist workers.
    ``canary`` checks that audio reaches the model, where one applies (see :meth:`Serving.audio_canary`).
    """

    is_remote = True

    def __init__(
        self,
        clients: Sequence[OmniServerModel] = (),
        *,
        apis: Sequence[ApiClient] = (),
        canary: Canary | None = None,
    ) -> None:
        self.clients = list(clients)
        self.apis = list(apis)
        self.canary = canary

    def __repr__(self) -> str:
        return f"Endpoint({[c.base_url for c in [*self.clients, *self.apis]]!r})"

    def share_run(self, directory: Path) -> None:
        for api in self.apis:
            digest = hashlib.sha256(api.base_url.encode("utf-8")).hexdigest()[:16]
            api.refusals.share(Path(directory) / f"refused-{digest}")

    def gone(self) -> str | None:
        reasons = [c.gone for c in self.clients]
        if reasons and all(reasons):
            return "; ".join(r for r in reasons if r)
        return next((a.gone for a in self.apis if a.gone), None)

    def audio_canary(self, clip: Path, preparer: MediaPreparer, transcript: str = "") -> AudioCanary | None:
        return None if self.canary is None else self.canary(clip, preparer, transcript)


class LocalServer(Serving):
    """Our model server for one :class:`OmniServerModel`, started from its :class:`ServerLaunch`.

    With ``reuse``, a server already healthy at the model's URL is used and left running; otherwise
    one is started (on the configured port if free, else on one the server picks), its output in
    ``log_path``, and the model's client is pointed at it.
    """

    is_remote = True

    def __init__(self, model: OmniServerModel, launch: ServerLaunch, log_path: Path, *, reuse: bool = True):
        self.model = model
        self.launch = launch
        self.log_path = log_path
        self.reuse = reuse
        self.process: ServerProcess | None = None
        """The server this process started (``None`` before, or when one was reused)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model.name!r}, {self.model.base_url!r})"

    def _running(self, url: str) -> bool:
        return probe_health(url) is not None

    def _launch(
        self, model_path: Path, env: Mapping[str, str] | None, progress: Progress | None
    ) -> ServerProcess:
        launch = self.launch
        return start_server(
            launch.backend,
            model_path,
            log_path=self.log_path,
            host=launch.host,
            port=launch.port,
            extra_args=launch.extra_args,
            env=env,
            startup_timeout_s=launch.startup_timeout_s,
            progress=progress,
        )

    def start(self, *, root: Path | None = None, progress: Progress | None = None) -> str:
        if self.reuse and self._running(self.model.root_url):
            return self.model.base_url
        launch = self.launch
        model_path = Path(launch.model_path)
        if launch.tiny:
            from vsync_models.serve.tiny import build_tiny_checkpoint  # torch: only when asked

            model_path = build_tiny_checkpoint(launch.backend, (root or Path.cwd()) / model_path)
        gpus = ",".join(map(str, launch.gpu_ids))
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpus} if launch.gpu_ids else None
        if progress is not None:
            progress(
                f"starting the {launch.engine} server for {self.model.name} "
                f"(waiting up to {launch.startup_timeout_s:g}s; log {self.log_path})"
            )
        self.process = self._launch(model_path, env, progress)
        self.model.connect(self.process.url)
        return self.model.base_url

    def connect(self, urls: Urls) -> None:
        if isinstance(urls, str) and urls:
            self.model.connect(urls)

    def stop(self) -> None:
        if self.process is not None:
            stop_server(self.process)

    def gone(self) -> str | None:
        if not self.model.gone:
            return None
        where = f"; its log: {self.log_path}" if self.log_path.is_file() else ""
        return f"{self.model.gone}{where}"

    def exited(self) -> list[str]:
        code = None if self.process is None else self.process.process.poll()
        if self.process is None or code is None:
            return []
        return [
            f"the model server (pid {self.process.pid}) exited with status {code} during the run; "
            f"log {self.process.log_path}, last lines:\n{log_tail(self.process.log_path, lines=5)}"
        ]

    def audio_canary(self, clip: Path, preparer: MediaPreparer, transcript: str = "") -> AudioCanary:
        return audio_canary(self.model, clip, preparer)


class VllmServer(LocalServer):
    """``vllm serve`` for one model: started and stopped like ours; ready once ``/v1/models`` lists it."""

    def _running(self, url: str) -> bool:
        return probe_models(url) is not None  # vLLM's /health answers with an empty body

    def _launch(
        self, model_path: Path, env: Mapping[str, str] | None, progress: Progress | None
    ) -> ServerProcess:
        launch = self.launch
        return start_vllm(
            model_path,
            launch.vllm or VllmSettings(),
            log_path=self.log_path,
            host=launch.host,
            port=launch.port,
            env=env,
            startup_timeout_s=launch.startup_timeout_s,
            progress=progress,
        )


class Replicas(Serving):
    """One :class:`LocalServer` per replica of a :class:`ReplicaSet` (e.g. one per GPU group).

    Started one after the other; if one cannot start, those already started are stopped. The run
    is over only when every replica's server is gone: the set fails over while one is left.
    """

    is_remote = True

    def __init__(self, model: ReplicaSet, servers: Sequence[LocalServer]) -> None:
        self.model = model
        self.servers = list(servers)

    def __repr__(self) -> str:
        return f"Replicas({self.servers!r})"

    def start(self, *, root: Path | None = None, progress: Progress | None = None) -> list[str]:
        try:
            urls = [server.start(root=root, progress=progress) for server in self.servers]
        except BaseException:
            self.stop()
            raise
        self.model.urls = [server.model.base_url for server in self.servers]
        return urls

    def connect(self, urls: Urls) -> None:
        if not isinstance(urls, list):
            return
        for server, url in zip(self.servers, urls, strict=False):
            server.connect(url)
        self.model.urls = [server.model.base_url for server in self.servers]

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def gone(self) -> str | None:
        reasons = [server.gone() for server in self.servers]
        return "; ".join(r for r in reasons if r) if reasons and all(reasons) else None

    def exited(self) -> list[str]:
        return [line for server in self.servers for line in server.exited()]

    def audio_canary(self, clip: Path, preparer: MediaPreparer, transcript: str = "") -> AudioCanary:
        return self.servers[0].audio_canary(clip, preparer)  # one checkpoint: one replica speaks for all


def serving_for(model: Model, log_dir: Path) -> Serving:
    """How ``model`` is served; servers started for it log to ``log_dir/server_<model>[_<i>].log``."""
    if isinstance(model, ReplicaSet):
        clients = [r for r in model.replicas if isinstance(r, OmniServerModel)]
        launched = [(c, c.launch) for c in clients if c.launch is not None]
        if not launched or len(launched) != len(model.replicas):
            return Endpoint(
                clients, canary=_canary(model.replicas[0])
            )  # one checkpoint: one replica speaks for all
        # A replica reuses a running server only where its URL names it alone (GPU groups share a default).
        named = [c.root_url for c in clients]
        return Replicas(
            model,
            [
                _local(c, launch, log_dir, suffix=f"_{i}", reuse=named.count(c.root_url) == 1)
                for i, (c, launch) in enumerate(launched)
            ],
        )
    if isinstance(model, OmniServerModel):
        if model.launch is not None:
            return _local(model, model.launch, log_dir)
        return Endpoint([model], canary=_canary(model))
    if _instance_of(model, *_API_CLIENTS[0]):  # OpenAI-compatible: a refused connection is budgeted
        return Endpoint(apis=[model], canary=_canary(model))  # type: ignore[list-item]
    if any(_instance_of(model, module, name) for module, name in _API_CLIENTS):
        return Endpoint(canary=_canary(model))
    return InProcess()


def _canary(model: Model) -> Canary | None:
    """The audio canary of a model reached at an endpoint: by prompt tokens for an omni server, by
    transcript for an OpenAI-compatible API sent audio; ``None`` for a model sent no audio by us."""
    if isinstance(model, OmniServerModel):
        return lambda clip, preparer, transcript: audio_canary(model, clip, preparer)
    module = sys.modules.get("vsync_models.models.openai_compat")
    if module is not None and isinstance(model, module.OpenAICompatModel) and model.send_audio:
        return lambda clip, preparer, transcript: module.api_audio_canary(model, clip, preparer, transcript)
    return None


def _local(
    model: OmniServerModel, launch: ServerLaunch, log_dir: Path, suffix: str = "", reuse: bool = True
) -> LocalServer:
    kind = VllmServer if launch.engine == "vllm" else LocalServer
    return kind(model, launch, Path(log_dir) / f"server_{safe_name(model.name)}{suffix}.log", reuse=reuse)


def _instance_of(model: object, module: str, name: str) -> bool:
    cls = getattr(sys.modules.get(module), name, None)
    return isinstance(cls, type) and isinstance(model, cls)
