"""Ending a source while a handler it delivered to inline is still running in its task
(``Session.end_input``): the handler is let finish, then the source is ended."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from .delivery import Deliverer, Finish
from .errors import EndOfInput


async def ended_send(msg: Any) -> None:
    """An ended source's ``send``: its ``run()`` stops there, as at the end of its input."""
    raise EndOfInput("end_input")


class Held(threading.local):
    """Per thread: tasks finishing a downstream handler inline (how many deep), and the
    ended sources among them, to cancel once they are out (``Node._end_input``)."""

    def __init__(self) -> None:
        self.counts: dict[asyncio.Task[Any], int] = {}
        self.end: dict[asyncio.Task[Any], Any] = {}


HELD = Held()


async def finish_held(d: Deliverer, step: Any) -> None:
    """``Finish(d, step)`` (the rest of a handler that suspended), with the task marked as
    finishing one, so that ``end_input`` does not cut it short."""
    task = asyncio.current_task()
    held = HELD
    if task is None:  # pragma: no cover - always in a task
        await Finish(d, step)
        return
    held.counts[task] = held.counts.get(task, 0) + 1
    try:
        await Finish(d, step)
    finally:
        n = held.counts[task] - 1
        if n:
            held.counts[task] = n
        else:
            del held.counts[task]
            if held.end.pop(task, None) is not None:
                task.cancel()  # the source ends at its next wait, the handler is done
