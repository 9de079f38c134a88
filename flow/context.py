"""What a node can see of the session it runs in."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock, RealClock

_session_ids = itertools.count(1)


@dataclass
class SessionContext:
    """Per-session state shared by its nodes.

    ``t0`` anchors media time: a live source stamps ``pts = clock.now() - t0``.
    ``services`` holds resources shared across sessions (a model, a batched stepper)
    and per-session handles given by whoever started the session (a peer connection).
    """

    clock: Clock = field(default_factory=RealClock)
    id: str = field(default_factory=lambda: f"s{next(_session_ids)}")
    t0: int = 0
    services: dict[str, Any] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("microturn"))
    #: told at once when a node of the session fails (``NodeFailed``), before the
    #: teardowns that end the session: the session tells the application's readers
    on_failure: Callable[[Any], None] | None = None

    def media_time(self) -> int:
        """Now, as media time (ns since the session started)."""
        return self.clock.now() - self.t0
