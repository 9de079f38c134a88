"""The start gate: every node of a session waits after its ``setup()`` until all are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class StartGate:
    """Holds every node of a session after its ``setup()`` until all are set up, then
    calls ``on_open`` (the session anchors media time there) and lets them all run. So a
    source does not start the clock while a recogniser is still loading its model."""

    def __init__(self, count: int, on_open: Callable[[], None]) -> None:
        self._waiting = count
        self._on_open = on_open
        self._open = asyncio.Event()

    async def arrive(self) -> None:
        self._waiting -= 1
        if self._waiting <= 0 and not self._open.is_set():
            self._on_open()
            self._open.set()
        await self._open.wait()
