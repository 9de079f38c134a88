"""A node's teardown, run to its end through cancellations, within a grace period.

``teardown()`` releases what ``setup()`` acquired. If the node is cancelled while it runs
(a client hangs up, its input ends, the node drains and starts releasing; then the server
cancels the session), cutting it short loses the release: a blocking ``close`` still
queued for an executor thread is cancelled there and never runs (a leaked worker
process, which CI caught as a ``ResourceWarning``). So the work runs in a task of its own
and is waited for through cancellations, which are raised once it has finished.

The wait is bounded, however the node ended (its input, a failure, a cancellation):
``grace`` (ns, on the session's clock) after the teardown began, work that hangs is
cancelled and abandoned, so that it can hold neither its session nor the error that ended
the node forever. Cancelling the work's own task (the event loop shutting down) ends the
wait at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NamedTuple

from .clock import Clock


class Ended(NamedTuple):
    abandoned: bool  #: still running ``grace`` after it began: cancelled and left
    cancelled: bool  #: the caller was cancelled meanwhile (raise it once this is handled)


async def finish(work: Coroutine[Any, Any, None], clock: Clock, grace: int, *,
                 name: str | None = None) -> Ended:
    """Run ``work`` to its end, or for ``grace`` from now, whatever cancels the caller
    meanwhile. Raises ``work``'s own error (once nothing cancelled the caller) or, if its
    own task was cancelled, ``CancelledError``."""
    job = asyncio.get_running_loop().create_task(work, name=name)
    deadline = clock.now() + grace
    cancelled = abandoned = False
    while not job.done():
        left = deadline - clock.now()
        if left <= 0:
            job.cancel()
            abandoned = True
            break
        try:
            await asyncio.wait([job], timeout=left / 1e9)
        except asyncio.CancelledError:
            cancelled = True
    if job.cancelled() and not abandoned:  # its own task cancelled: the loop shuts down
        raise asyncio.CancelledError
    if job.done() and not cancelled:
        job.result()  # the work's own error, if any
    return Ended(abandoned, cancelled)
