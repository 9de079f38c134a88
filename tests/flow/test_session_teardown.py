"""Ending a session: however it ends (a node fails, its input ends, it is cancelled), each
teardown gets the same bounded grace, and the session ends with the error that ended it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from flow import MS, FakeClock, Graph, In, Message, Node, NodeFailed, Out, Session
from flow.node import TEARDOWN_GRACE


class Frame(Message, frozen=True, kw_only=True):
    seq: int


class HowParams(msgspec.Struct, frozen=True):
    n: int = 10  #: frames a source sends, one each ``every``
    every: int = 100 * MS
    fail_at: int = -1  #: the frame a worker fails on
    teardown: str = "quick"  #: "quick", "hang" (waits for what never comes), "raise"


async def teardown(node: Node) -> None:
    node.context.services["torn"].append(f"{node.id}: begun at {node.clock.now()}")
    if node.params.teardown == "hang":
        await asyncio.Event().wait()  # a close without a timeout, on a peer that is gone
    elif node.params.teardown == "raise":
        raise OSError(f"{node.id}: close failed")
    node.context.services["torn"].append(f"{node.id}: done")


class Source(Node):
    out: Out[Frame]
    Params = HowParams

    async def run(self) -> None:
        for i in range(self.params.n):
            await self.out.send(Frame(pts=self.now(), seq=i))
            await self.clock.sleep(self.params.every)

    async def teardown(self) -> None:
        await teardown(self)


class Worker(Node):
    inp: In[Frame]
    Params = HowParams

    async def on_inp(self, msg: Frame) -> None:
        if msg.seq == self.params.fail_at:
            raise ZeroDivisionError(f"bad frame {msg.seq}")

    async def teardown(self) -> None:
        await teardown(self)


def run(nodes: dict[str, Any], edges: list[str], *, expect: type[BaseException] | None = None
        ) -> tuple[Session, BaseException | None, int, set[asyncio.Task[Any]]]:
    """Run a session on a fake clock that reports a deadlock after 1 s of real time (a
    session that never ends fails the test quickly): the session, what it raised, when it
    ended (virtual ns), and the tasks it left behind."""
    clock = FakeClock(deadlock_after=1.0)
    session = Session(Graph.build("t", nodes, edges), clock=clock, services={"torn": []})

    async def main() -> tuple[BaseException | None, int, set[asyncio.Task[Any]]]:
        error: BaseException | None = None
        try:
            await session.run()
        except Exception as exc:
            error = exc
        ended = clock.now()
        await asyncio.sleep(0)  # an abandoned teardown takes its cancellation
        return error, ended, asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    error, ended, leaked = clock.run(main())
    return session, error, ended, leaked


def test_a_node_that_fails_and_hangs_in_teardown_ends_the_session_with_its_error(
        caplog: pytest.LogCaptureFixture) -> None:
    session, error, ended, leaked = run(
        {"src": (Source, {}), "bad": (Worker, {"fail_at": 3, "teardown": "hang"})},
        ["src.out -> bad.inp"])
    assert isinstance(error, NodeFailed) and error.node_id == "bad"
    assert isinstance(error.exc, ZeroDivisionError)
    assert ended == 300 * MS + TEARDOWN_GRACE  # the failure, then the grace
    assert leaked == set()
    assert "node bad: teardown still running 10 s after it failed; abandoned" in caplog.text
    assert "src: done" in session.context.services["torn"]


def test_a_node_that_fails_is_reported_when_another_teardown_hangs(
        caplog: pytest.LogCaptureFixture) -> None:
    """``idle`` ended at once and has been releasing ever since: its grace counts from
    then, not from the failure that cancelled it."""
    _, error, ended, leaked = run(
        {"src": (Source, {"n": 100}), "bad": (Worker, {"fail_at": 80}),
         "idle": (Source, {"n": 0, "teardown": "hang"})},
        ["src.out -> bad.inp"])
    assert isinstance(error, NodeFailed) and error.node_id == "bad"
    assert ended == TEARDOWN_GRACE
    assert leaked == set()
    assert "node idle: teardown still running 10 s after" in caplog.text
    assert "abandoned" in caplog.text


def test_a_teardown_that_hangs_after_the_input_ended_is_abandoned(
        caplog: pytest.LogCaptureFixture) -> None:
    _, error, ended, leaked = run(
        {"src": (Source, {"n": 3}), "sink": (Worker, {"teardown": "hang"})},
        ["src.out -> sink.inp"])
    assert error is None
    assert ended == 300 * MS + TEARDOWN_GRACE
    assert leaked == set()
    assert "node sink: teardown still running 10 s after it ended; abandoned" in caplog.text


@pytest.mark.parametrize("who", ["bad", "src"])
def test_a_teardown_that_raises_after_a_failure_does_not_hide_it(
        who: str, caplog: pytest.LogCaptureFixture) -> None:
    how = {"src": {}, "bad": {"fail_at": 3}}
    how[who] = {**how[who], "teardown": "raise"}
    _, error, ended, leaked = run(
        {"src": (Source, how["src"]), "bad": (Worker, how["bad"])}, ["src.out -> bad.inp"])
    assert isinstance(error, NodeFailed) and error.node_id == "bad"
    assert isinstance(error.exc, ZeroDivisionError)
    assert ended == 300 * MS
    assert leaked == set()
    assert f"node {who}: teardown failed too: OSError('{who}: close failed')" in caplog.text


def test_other_sessions_in_the_process_do_not_notice() -> None:
    clock = FakeClock(deadlock_after=1.0)
    broken = Session(Graph.build("t", {"src": (Source, {}),
                                       "bad": (Worker, {"fail_at": 3, "teardown": "hang"})},
                                 ["src.out -> bad.inp"]), clock=clock, services={"torn": []})
    fine = Session(Graph.build("t", {"src": (Source, {"n": 200}), "sink": (Worker, {})},
                               ["src.out -> sink.inp"]), clock=clock, services={"torn": []})

    ended: dict[str, int] = {}

    async def timed(session: Session) -> None:
        try:
            await session.run()
        finally:
            ended[session.id] = clock.now()

    async def main() -> list[Any]:
        return await asyncio.gather(timed(broken), timed(fine), return_exceptions=True)

    failed, ok = clock.run(main())
    assert isinstance(failed, NodeFailed) and failed.node_id == "bad"
    assert ended[broken.id] == 300 * MS + TEARDOWN_GRACE
    assert ok is None and ended[fine.id] == 200 * 100 * MS  # on time, however long that is
    assert fine.statistics().edges[0].carried == 200
    assert {"src: done", "sink: done"} <= set(fine.context.services["torn"])
