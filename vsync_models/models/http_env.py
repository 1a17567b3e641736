"""HTTP sessions that take their proxy and CA settings from the environment once, not per request.

``requests`` reads the proxies of every request by iterating ``os.environ``. pytest sets and
removes ``PYTEST_CURRENT_TEST`` around each test phase in the main thread, so a request sent from
a pipeline thread (``--concurrency``) at that moment can fail with ``KeyError:
'PYTEST_CURRENT_TEST'``: an infrastructure error that no server caused (seen under load). The
settings are read once, when a model is built in the main thread, and every session gets them
explicitly, with ``trust_env`` off.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

__all__ = ["HttpEnv"]


@dataclass(frozen=True)
class HttpEnv:
    """The environment's ``*_proxy`` variables (``no`` = ``NO_PROXY``) and CA bundle, as read once."""

    proxies: Mapping[str, str] = field(default_factory=dict)
    verify: bool | str = True

    @classmethod
    def read(cls) -> HttpEnv:
        """Call where nothing changes the environment meanwhile: the main thread."""
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        return cls(proxies=dict(urllib.request.getproxies_environment()), verify=bundle or True)

    def proxies_for(self, url: str) -> dict[str, str]:
        """What ``requests`` would use for ``url``: none when ``NO_PROXY`` covers its host."""
        host = urlsplit(url).hostname or ""
        if urllib.request.proxy_bypass_environment(host, dict(self.proxies)):
            return {}
        return {scheme: proxy for scheme, proxy in self.proxies.items() if scheme != "no"}

    def session(self, url: str) -> requests.Session:
        """A session for requests to ``url``'s host that never looks at the environment again."""
        session = requests.Session()
        session.trust_env = False
        session.proxies = self.proxies_for(url)
        session.verify = self.verify
        return session
