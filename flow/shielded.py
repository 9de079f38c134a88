"""Work that a cancellation must not cut short: ``await finish(coro, clock, grace)``.

A node's ``teardown()`` releases what ``setup()`` acquired. If the node is cancelled while
it runs (a client hangs up, its input ends, the node drains and starts releasing; then the
server cancels the session), cutting it short loses the release: a blocking ``close``
still queued for an executor thread is cancelled there and never runs (a leaked worker
process, which CI caught as a ``ResourceWarning``). So the work runs in a task of its own
and is waited for through cancellations, which are raised once it has finished. The wait
is bounded: ``grace`` (ns, on ``clock``) after the first cancellation, work that hangs is
cancelled and abandoned, so that it cannot hold a server's shutdown forever. Cancelling
the work's own task (the event loop shutting down) ends it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from .clock import Clock


async def finish(work: Coroutine[Any, Any, None], clock: Clock, grace: int, *,
                 name: str | None = None) -> bool:
    """Run ``work`` to its end whatever cancels the caller meanwhile. True: it finished
    and nothing cancelled the caller. False: it was abandoned ``grace`` after a
    cancellation (the caller says so, then raises ``CancelledError``). Otherwise raises
    ``work``'s own error, or, once ``work`` has finished, the caller's cancellation."""
    job = asyncio.get_running_loop().create_task(work, name=name)
    deadline: int | None = None
    while not job.done():
        try:
            if deadline is None:
                await asyncio.shield(job)
                continue
            left = deadline - clock.now()
            if left <= 0:
                job.cancel()
                return False
            await asyncio.wait([job], timeout=left / 1e9)
        except asyncio.CancelledError:
            if job.cancelled():
                raise
            if deadline is None:
                deadline = clock.now() + grace
    if not job.cancelled():
        job.result()  # the work's own error, if any
    if deadline is not None:
        raise asyncio.CancelledError
    return True
