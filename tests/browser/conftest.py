"""WebRTC tests run in a network namespace that has only loopback (when root, as in CI):
the server, the clients, ICE (and Chromium) can reach nothing but 127.0.0.1. The
namespace is left again when this package's tests are done, so other tests are unaffected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flow.server import ice, netns


@pytest.fixture(scope="package", autouse=True)
def loopback_only() -> Iterator[bool]:
    with netns.loopback_namespace() as entered:
        if entered:
            assert netns.interfaces() == ["lo"]
        ice.restrict_host_candidates(["127.0.0.1"])
        try:
            yield entered
        finally:
            ice.restrict_host_candidates(None)
