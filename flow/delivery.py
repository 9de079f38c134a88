"""Running a node's handlers without a task of their own, and noticing when one waits.

A node's push-style handlers run one at a time, in the node's own task or inline in a
producer's task (see ``flow.edge``). They run inside one long-lived coroutine per node,
``deliverer()``, stepped by hand with ``send((handler, msg))``:

- a handler that returns without suspending makes the deliverer yield ``IDLE``: no
  exception (a fresh coroutine per message would end in ``StopIteration``), no task switch;
- a handler that suspends makes ``send`` return what it waits on instead; the caller then
  awaits ``Finish(deliverer, that)``, which carries on exactly as ``await`` would have, in
  the caller's task, until the deliverer is ``IDLE`` again. The engine uses that signal to
  stop holding producers for a node whose handlers wait.

An exception from a handler ends the deliverer; the node starts a new one for its next
message.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

#: What a deliverer yields between messages.
IDLE: Any = object()

Handler = Callable[[Any], Coroutine[Any, Any, None]]
Deliverer = Coroutine[Any, Any, None]


@types.coroutine
def _loop() -> Generator[Any, Any, None]:
    # Generator-based, so that waiting for the next message is a bare ``yield`` and costs
    # no awaitable per message; ``yield from`` runs the handler's coroutine as ``await``.
    while True:
        handler, msg = yield IDLE
        yield from handler(msg)


def deliverer() -> Deliverer:
    """A new deliverer, started and waiting for its first ``send((handler, msg))``."""
    d: Deliverer = _loop()  # type: ignore[assignment]
    d.send(None)
    return d


class Finish:
    """Await the rest of a handler that suspended on ``first``, in the awaiting task."""

    __slots__ = ("d", "first")

    def __init__(self, d: Deliverer, first: Any) -> None:
        self.d = d
        self.first = first

    def __await__(self) -> Generator[Any, Any, None]:
        d, value = self.d, self.first
        while value is not IDLE:
            try:
                sent = yield value
            except GeneratorExit:
                d.close()
                raise
            except BaseException as exc:  # cancellation: deliver it where the handler waits
                value = d.throw(exc)
            else:
                value = d.send(sent)
