"""Injected time. Nodes never call ``time.*`` or ``asyncio.sleep`` directly.

``RealClock`` is wall-monotonic time. ``FakeClock`` is virtual time for tests: it runs its
own event loop whose clock jumps straight to the next timer whenever no task is runnable
(like trio's ``MockClock(autojump_threshold=0)``), so ten minutes of 200 ms ticks take
milliseconds and the same test always sees the same times.

All times are integer nanoseconds on the clock's own axis; a session anchors media time
(``pts``) at the clock's ``now()`` when it starts.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import os
import selectors
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Executor
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


class Clock:
    """The clock interface nodes use. Subclasses implement ``now`` and ``sleep_until``."""

    def now(self) -> int:
        raise NotImplementedError

    async def sleep_until(self, t: int) -> None:
        raise NotImplementedError

    async def sleep(self, duration: int) -> None:
        await self.sleep_until(self.now() + duration)

    async def run_blocking(self, fn: Callable[..., T], *args: Any,
                           executor: Executor | None = None) -> T:
        """Run ``fn(*args)`` off the event-loop thread (for work that would stall cadence:
        synthesis, recognition, model steps), on ``executor`` (default: the loop's shared
        pool; a node whose calls must never queue behind other sessions' work brings its
        own). Under a fake clock, virtual time stands still until it returns, so results
        stay deterministic."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, functools.partial(fn, *args))


_TIMER_RESOLUTION = 1e-3  #: seconds: what a loop timer may be early by (uvloop)


class RealClock(Clock):
    """Monotonic wall time. Sleeps are timers on the running loop (uvloop or asyncio)."""

    def now(self) -> int:
        return time.monotonic_ns()

    async def sleep_until(self, t: int) -> None:
        delay = (t - time.monotonic_ns()) / 1e9
        if delay <= 0:
            await asyncio.sleep(0)
            return
        await asyncio.sleep(delay)
        delay = (t - time.monotonic_ns()) / 1e9
        while delay > 0:
            # uvloop's timers have millisecond resolution and may fire up to a
            # millisecond early: sleep again for what is left, at least that millisecond.
            await asyncio.sleep(max(delay, _TIMER_RESOLUTION))
            delay = (t - time.monotonic_ns()) / 1e9


class _VirtualSelector(selectors.BaseSelector):
    """Wraps the real selector: real I/O is still polled, but instead of blocking until
    the next timer it advances the fake clock to that timer."""

    def __init__(self, clock: FakeClock) -> None:
        self._inner = selectors.DefaultSelector()
        self._clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Any:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout <= 0:
            return self._inner.select(0)
        if self._clock._blocking_jobs:
            # A thread is working: its completion wakes the self-pipe. Virtual time
            # stands still meanwhile.
            return self._inner.select(None if timeout is None else 60.0)
        events = self._inner.select(0)
        if events or timeout is None:
            # Nothing scheduled and nothing runnable: only real I/O (or a thread started
            # without run_blocking) can wake us. If none does, every task waits for
            # another: say so instead of hanging the test run.
            if events:
                return events
            limit = self._clock.deadlock_after
            events = self._inner.select(limit)
            if not events and limit is not None:
                raise FakeClockDeadlock(
                    f"FakeClock: deadlock at t={self._clock._now}ns: every task is waiting, "
                    f"no timer is scheduled and no I/O came for {limit:g}s of real time"
                    f"{_waiting_tasks(asyncio.all_tasks())}")
            return events
        self._clock._advance(timeout)
        return []


_FLOW_DIR = os.path.dirname(__file__) + os.sep
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
_MAX_LISTED = 10  #: tasks a deadlock names; the rest are counted


def _waiting_tasks(tasks: set[asyncio.Task[Any]]) -> str:
    """A line ``s1/inp waiting at my_app.py:42 in run`` per task (the first ten), for a
    deadlock to say who waits where."""
    lines = [f"  {task.get_name()} waiting at {_where(task)}"
             for task in sorted(tasks, key=lambda task: task.get_name())]
    if len(lines) > _MAX_LISTED:
        lines[_MAX_LISTED:] = [f"  and {len(lines) - _MAX_LISTED} more"]
    return "; waiting:\n" + "\n".join(lines) if lines else ""


def _where(task: asyncio.Task[Any]) -> str:
    """Where ``task`` waits: the innermost frame of its chain of awaits that is the user's
    (outside flow and asyncio), else flow's own (a session's task waiting for its nodes),
    else asyncio's. ``task.get_stack()`` would not do: for a suspended task it holds only
    the outermost frame, which for every node is the engine's ``Node._main``."""
    innermost: FrameType | None = None
    ours: FrameType | None = None
    user: FrameType | None = None
    coro: Any = task.get_coro()
    while coro is not None:
        frame = (getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                 or getattr(coro, "ag_frame", None))
        if frame is None:  # a future, or something else without a frame: the wait itself
            break
        innermost = frame
        path = frame.f_code.co_filename
        if not path.startswith(_ASYNCIO_DIR):
            ours = frame
            if not path.startswith(_FLOW_DIR):
                user = frame
        coro = (getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                or getattr(coro, "ag_await", None))
    frame = user or ours or innermost
    if frame is None:  # not a Python coroutine (compiled code)
        return "an unknown place"
    path = frame.f_code.co_filename
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    if not relative.startswith(".."):
        path = relative
    return f"{path}:{frame.f_lineno} in {frame.f_code.co_name}"


class _VirtualLoop(asyncio.SelectorEventLoop):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(_VirtualSelector(clock))
        self._fake_clock = clock
        clock._loop = self

    def time(self) -> float:
        return self._fake_clock._now / 1e9


class FakeClockDeadlock(RuntimeError):
    """Every task on a FakeClock loop waits and nothing can wake any of them."""


_NOT_DRIVEN = ("this FakeClock does not drive the running event loop: run the session with "
               "clock.run(...) or flow.testing.run_graph / run_node (a fake clock is only "
               "meaningful on the loop it drives)")


class FakeClock(Clock):
    """Virtual time that advances instantly whenever every task is idle.

    Use ``FakeClock().run(main())`` (or ``flow.testing``) to run a coroutine on it. Only
    code that waits through this clock (or asyncio timers on its loop) sees virtual time;
    real sockets still work but see time jump while they wait, so keep network I/O out of
    fake-clock tests.

    Waiting on it from any other loop (``asyncio.run``, a pytest-asyncio test) raises
    ``RuntimeError``: there its sleeps would take no time while every asyncio timer a node
    uses (``wait_for``, a back end's timeout) runs on real time, a test neither virtual nor
    deterministic.

    When every task waits, no timer is set and nothing arrives from outside for
    ``deadlock_after`` real seconds, the loop raises ``FakeClockDeadlock`` (a graph that
    waits for itself) instead of hanging; ``None`` waits forever.
    """

    def __init__(self, start: int = 0, *, deadlock_after: float | None = 30.0) -> None:
        self._now = start
        self.deadlock_after = deadlock_after
        self._blocking_jobs = 0
        self._deadlines: list[int] = []
        self._loop: asyncio.AbstractEventLoop | None = None  #: the loop it drives (the last)

    def now(self) -> int:
        return self._now

    def _advance(self, timeout: float) -> None:
        target = self._now + round(timeout * 1e9)
        # Snap to an exact deadline asked for through sleep_until (float seconds round).
        i = bisect.bisect_left(self._deadlines, target - 2_000)
        if i < len(self._deadlines) and abs(self._deadlines[i] - target) <= 2_000:
            target = self._deadlines[i]
        self._now = max(self._now, target)

    async def sleep_until(self, t: int) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # an identity test: this is the hot path
            raise RuntimeError(_NOT_DRIVEN)
        if t <= self._now:
            await asyncio.sleep(0)
            return
        bisect.insort(self._deadlines, t)
        try:
            fut = loop.create_future()
            handle = loop.call_at(t / 1e9, _set_done, fut)
            try:
                await fut
            finally:
                handle.cancel()
        finally:
            self._deadlines.remove(t)
        if self._now < t:  # float rounding woke us a hair early: time is exact here
            self._now = t

    async def run_blocking(self, fn: Callable[..., T], *args: Any,
                           executor: Executor | None = None) -> T:
        if asyncio.get_running_loop() is not self._loop:
            raise RuntimeError(_NOT_DRIVEN)
        self._blocking_jobs += 1
        try:
            return await super().run_blocking(fn, *args, executor=executor)
        finally:
            self._blocking_jobs -= 1

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return _VirtualLoop(self)

    def run(self, main: Coroutine[Any, Any, T] | Awaitable[T]) -> T:
        """Run ``main`` to completion on a fresh virtual-time loop."""
        with asyncio.Runner(loop_factory=self.new_loop) as runner:
            return runner.run(main)  # type: ignore[arg-type]


def loop_clock(loop: asyncio.AbstractEventLoop) -> Clock:
    """The ``FakeClock`` driving ``loop``, or a ``RealClock`` for an ordinary loop."""
    fake = getattr(loop, "_fake_clock", None)
    return fake if isinstance(fake, FakeClock) else RealClock()


def _set_done(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """Run ``main`` on uvloop when installed (faster timers and sockets), else asyncio."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)
    return asyncio.run(main)
