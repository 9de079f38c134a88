"""WebRTC tests run in a network namespace that has only loopback (when root: CI is), so
that nothing they do can leave 127.0.0.1; ICE offers only 127.0.0.1 either way."""

from __future__ import annotations

import pytest

from flow.server import ice, netns


@pytest.fixture(scope="session", autouse=True)
def loopback_only() -> bool:
    entered = netns.enter_loopback_namespace()
    ice.restrict_host_candidates(["127.0.0.1"])
    return entered
