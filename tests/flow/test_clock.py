"""Injected clocks: FakeClock's virtual time is exact and instant; RealClock is real."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from flow import (
    MS,
    FakeClock,
    FakeClockDeadlock,
    Graph,
    In,
    Message,
    Node,
    Out,
    RealClock,
    S,
    Session,
)
from flow.clock import loop_clock, run


def test_fake_time_jumps_to_the_next_deadline_and_is_exact() -> None:
    clock = FakeClock(start=10 * S)
    order: list[tuple[str, int]] = []

    async def sleeper(name: str, until: int) -> None:
        await clock.sleep_until(until)
        order.append((name, clock.now()))

    async def main() -> None:
        assert clock.now() == 10 * S
        await asyncio.gather(sleeper("c", 10 * S + 3 * MS + 1), sleeper("a", 10 * S + 1),
                             sleeper("b", 10 * S + 2 * MS), sleeper("past", 5 * S))
        await clock.sleep(0)
        await asyncio.sleep(60)  # plain asyncio timers on this loop are virtual too
        assert clock.now() == 10 * S + 3 * MS + 1 + 60 * S

    start = time.perf_counter()
    clock.run(main())
    # Virtual, not real: the minute took far less (a tight bound would flake under load).
    assert time.perf_counter() - start < 30
    assert order == [("past", 10 * S), ("a", 10 * S + 1), ("b", 10 * S + 2 * MS),
                     ("c", 10 * S + 3 * MS + 1)]


def test_virtual_time_stands_still_while_blocking_work_runs() -> None:
    clock = FakeClock()

    def work(x: int) -> int:
        time.sleep(0.02)  # real work in a thread
        return x * 2

    async def main() -> tuple[int, int]:
        ticker_ran = []

        async def background() -> None:
            await clock.sleep(10 * MS)
            ticker_ran.append(clock.now())

        task = asyncio.create_task(background())
        result = await clock.run_blocking(work, 21)
        now = clock.now()
        await task
        return result, now

    assert clock.run(main()) == (42, 0)


def test_loop_clock_finds_the_fake_clock_driving_a_loop() -> None:
    clock = FakeClock()

    async def main() -> object:
        return loop_clock(asyncio.get_running_loop())

    assert clock.run(main()) is clock
    assert isinstance(asyncio.run(main()), RealClock)  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("use_uvloop", [False, True])
def test_real_clock_sleeps_in_real_time(use_uvloop: bool) -> None:
    """Real time is the point: RealClock must wait on the wall clock, on both loops."""
    clock = RealClock()

    async def main() -> tuple[int, int, int]:
        t0 = clock.now()
        await clock.sleep_until(t0 + 20 * MS)
        t1 = clock.now()
        await clock.sleep_until(t0)  # in the past: returns at once
        value = await clock.run_blocking(sum, [1, 2, 3])
        return t0, t1, value

    t0, t1, value = run(main(), use_uvloop=use_uvloop)
    assert 20 * MS <= t1 - t0 < 500 * MS
    assert value == 6
    assert abs(clock.now() - time.monotonic_ns()) < 50 * MS


@pytest.mark.slow
@pytest.mark.parametrize("use_uvloop", [False, True])
def test_real_clock_never_wakes_before_the_deadline(use_uvloop: bool) -> None:
    """uvloop's timers round to milliseconds and fire early; a Ticker raises on a tick
    taken before it is due, so sleep_until must not return before ``t`` (0.4 s of sleeps
    at odd offsets)."""
    clock = RealClock()

    async def main() -> list[int]:
        early = []
        t = clock.now()
        for k in range(100):
            t += 3 * MS + k * 37_000  # 3 ms and a fraction of a millisecond
            await clock.sleep_until(t)
            if clock.now() < t:
                early.append(t - clock.now())
        return early

    assert run(main(), use_uvloop=use_uvloop) == []


def test_a_fake_clock_deadlock_fails_fast_instead_of_hanging() -> None:
    clock = FakeClock(deadlock_after=0.05)

    async def main() -> None:
        await asyncio.get_running_loop().create_future()  # nothing will ever set it

    with pytest.raises(FakeClockDeadlock, match="every task is waiting"):
        clock.run(main())


def line_of(marker: str) -> str:
    """``tests/flow/test_clock.py:N``: where ``marker`` is in this file, as a deadlock says."""
    lines = Path(__file__).read_text().splitlines()
    n = next(i for i, line in enumerate(lines, 1) if line.endswith(marker))
    return f"{os.path.relpath(__file__)}:{n}"


class Frame(Message, frozen=True):
    pass


class Hang(Node):
    out: Out[Frame]

    async def run(self) -> None:
        await asyncio.Event().wait()  # hangs here


class Wait(Node):
    inp: In[Frame]

    async def run(self) -> None:
        await self.inp.recv()  # waits here for hang


def test_a_deadlock_names_each_waiting_task_and_the_line_it_waits_at() -> None:
    graph = Graph.build("g", {"hang": (Hang, {}), "wait": (Wait, {})}, ["hang.out -> wait.inp"])
    clock = FakeClock(deadlock_after=0.05)
    main_task: list[str] = []

    async def main() -> None:
        main_task.append(asyncio.current_task().get_name())  # type: ignore[union-attr]
        await Session(graph, clock=clock, id="s1").run()  # the test waits here

    with pytest.raises(FakeClockDeadlock) as info:
        clock.run(main())
    first, *lines = str(info.value).splitlines()
    assert first == ("FakeClock: deadlock at t=0ns: every task is waiting, no timer is "
                     "scheduled and no I/O came for 0.05s of real time; waiting:")
    # Each stuck task is named with the line it waits at in its own code, not in the
    # engine's frames it waits through (a node's task may run its run() in a task of its
    # own, named after it).
    for node, marker in (("hang", "# hangs here"), ("wait", "# waits here for hang")):
        assert any(line.startswith(f"  s1/{node}")
                   and line.endswith(f" waiting at {line_of(marker)} in run")
                   for line in lines), (node, lines)
    assert f"  {main_task[0]} waiting at {line_of('# the test waits here')} in main" in lines
    # The engine's own tasks say where in flow they wait, never asyncio's internals.
    assert all(" waiting at tests/flow/" in line or " waiting at flow/" in line
               for line in lines), lines


def test_a_deadlock_of_many_tasks_names_ten_and_counts_the_rest() -> None:
    clock = FakeClock(deadlock_after=0.05)

    async def stuck() -> None:
        await asyncio.get_running_loop().create_future()  # stuck forever

    async def main() -> None:
        await asyncio.gather(*(asyncio.create_task(stuck(), name=f"w{i:02}")
                               for i in range(12)))

    with pytest.raises(FakeClockDeadlock) as info:
        clock.run(main())
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 11 and lines[-1] == "  and 3 more"  # 13 tasks: main and w00..w11
    assert f"  w00 waiting at {line_of('# stuck forever')} in stuck" in lines


NOT_DRIVEN = "this FakeClock does not drive the running event loop: run the session with clock.run"


def test_a_fake_clock_refuses_to_wait_on_a_loop_it_does_not_drive() -> None:
    """On another loop its sleeps would take no time while that loop's asyncio timers (a
    back end's timeout, ``wait_for``) run on real time: neither virtual nor deterministic."""
    clock = FakeClock()
    clock.run(clock.sleep(MS))  # on the loop it drives
    assert clock.now() == MS
    for waits in (lambda: clock.sleep(MS), lambda: clock.sleep_until(0),  # even in the past
                  lambda: clock.run_blocking(sum, [1, 2])):
        with pytest.raises(RuntimeError, match=NOT_DRIVEN):
            asyncio.run(waits())
        with pytest.raises(RuntimeError, match=NOT_DRIVEN):
            FakeClock().run(waits())  # another fake clock's loop
    assert clock.now() == MS
    assert clock.run(clock.run_blocking(sum, [1, 2])) == 3  # its own next loop is fine
