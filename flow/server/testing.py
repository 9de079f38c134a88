"""Serving a graph inside a test or benchmark: ``async with serving(graph) as srv:`` starts
the app on 127.0.0.1 (a free port) with loopback-only ICE and yields ``srv.url`` and
``srv.manager``; leaving the block shuts the server down gracefully."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..graph import Graph
from . import ice
from .app import MAX_BODY, make_app, start
from .sessions import Limits, SessionManager


@dataclass
class Served:
    url: str
    manager: SessionManager
    app: Any


@contextlib.asynccontextmanager
async def serving(graph: Graph, *, limits: Limits | None = None, token: str | None = None,
                  max_body: int = MAX_BODY,
                  services: dict[str, Any] | None = None) -> AsyncIterator[Served]:
    ice.restrict_host_candidates(["127.0.0.1"])
    manager = SessionManager(graph, limits=limits, services=services)
    app = make_app(manager, token=token, max_body=max_body)
    runner, (host, port) = await start(app, "127.0.0.1", 0)
    try:
        yield Served(f"http://{host}:{port}", manager, app)
    finally:
        await runner.cleanup()


def echo_graph(sample_rate: int = 48000) -> Graph:
    """``graphs/echo_webrtc.yaml``, built in Python: the mic back to the speaker, typed
    text back as ``heard``. Live audio in, live audio out: the playout buffer and the edge
    are kept short (60 ms each) so that a burst of late packets cannot leave a standing
    delay; the excess is dropped instead."""
    from ..edge import Policy
    from ..graph import EdgeDecl
    from ..units import MS

    return Graph.build("echo_webrtc", {
        "mic": ("webrtc.audio_in", {"sample_rate": sample_rate}),
        "typed": ("webrtc.text_in", {}),
        "voice": ("webrtc.audio_out", {"buffer": "60ms"}),
        "events": ("webrtc.events_out", {}),
    }, [EdgeDecl("mic", "audio", "voice", "audio", policy=Policy.DROP_OLDEST,
                 max_time=60 * MS),
        "typed.text -> events.events"])
