"""The browser test runs Chromium inside a network namespace that has only loopback (when
root, as in CI): the browser, the server and ICE can reach nothing but 127.0.0.1."""

from __future__ import annotations

import pytest

from flow.server import ice, netns


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> bool:
    entered = netns.enter_loopback_namespace()
    ice.restrict_host_candidates(["127.0.0.1"])
    return entered
