"""An ``Interrupt`` spread through the graph at once (out of band)."""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING

from .messages import Interrupt

if TYPE_CHECKING:
    from .edge import Edge

#: ``.work``: edges an Interrupt still has to cross, while one is being spread; per
#: thread, for an application that runs a loop in each of several threads.
_spreading = threading.local()


def forward(edges: list[Edge], msg: Interrupt) -> None:
    """Send ``msg`` across ``edges`` and on through the graph, at once, breadth-first with
    a work list rather than by recursion, so that no graph is too deep for it. Reentrant:
    a call made while spreading adds to the same list."""
    pending: deque[tuple[Edge, Interrupt]] | None = getattr(_spreading, "work", None)
    if pending is not None:
        pending.extend((e, msg) for e in edges)
        return
    _spreading.work = work = deque((e, msg) for e in edges)
    try:
        while work:
            edge, m = work.popleft()
            edge.interrupt(m)
    finally:
        _spreading.work = None
