"""An application drives a session: ``stop()`` now, ``end_input()`` to drain, and a failure
whose traceback reaches the node's own code."""

from __future__ import annotations

import asyncio
import traceback

import pytest

from flow import MS, FakeClock, Graph, GraphError, In, Node, NodeFailed, Session
from flow.graph import EdgeDecl

from .test_session import Count, Frame, Total, services

FOREVER = {"n": 10**9}  # a source that would run for ever: only the application ends it


def forever() -> Graph:
    return Graph.build("sum", {"count": (Count, FOREVER), "total": (Total, {})},
                       ["count.out -> total.inp"])


def test_stop_from_another_task_ends_the_session_without_cancelling_its_caller() -> None:
    clock = FakeClock()

    async def main() -> tuple[Session, int]:
        session = Session(forever(), clock=clock, services=services())

        async def caller() -> int:  # an aiohttp handler awaiting its session
            await session.run()
            task = asyncio.current_task()
            assert task is not None
            await clock.sleep(MS)  # it goes on: nothing cancelled it
            return task.cancelling()

        task = asyncio.create_task(caller())
        await clock.sleep(100 * MS)
        session.stop()
        return session, await task

    session, cancelling = clock.run(main())
    assert cancelling == 0
    assert session.stopped and session.finished
    assert sorted(session.context.services["torn"]) == ["count", "total"]


def test_stop_before_the_run_begins_starts_no_node() -> None:
    clock = FakeClock()

    async def main() -> Session:
        session = Session(forever(), clock=clock, services=services())
        task = asyncio.create_task(session.run())  # not begun yet
        session.stop()
        await task
        return session

    session = clock.run(main())
    assert session.stopped and session.context.services["torn"] == []
    assert clock.now() == 0


def test_cancelling_the_caller_stops_every_node_before_it_is_cancelled() -> None:
    clock = FakeClock()

    async def main() -> Session:
        session = Session(forever(), clock=clock, services=services())
        task = asyncio.create_task(session.run())
        await clock.sleep(100 * MS)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # every teardown ran before the caller saw its cancellation
        assert sorted(session.context.services["torn"]) == ["count", "total"]
        return session

    session = clock.run(main())
    assert not session.stopped and session.finished


def test_end_input_drains_the_graph_so_what_is_in_flight_is_finished() -> None:
    """The sources end as at the end of a file: downstream nodes take what is queued, run
    their on_end (a reply in flight said, a WAV finished) and the run returns."""
    clock = FakeClock()

    async def main() -> Session:
        session = Session(forever(), clock=clock, services=services())
        task = asyncio.create_task(session.run())
        await clock.sleep(95 * MS)  # ten frames sent, 0 to 90 ms
        session.end_input()
        await task
        return session

    session = clock.run(main())
    assert not session.stopped
    assert session.context.services["totals"] == [sum(range(10))]  # total's on_end ran
    assert sorted(session.context.services["torn"]) == ["count", "total"]
    assert session.statistics().edges[0].carried == 10


def test_end_input_before_the_run_begins_drains_at_once() -> None:
    clock = FakeClock()

    async def main() -> Session:
        session = Session(forever(), clock=clock, services=services())
        session.end_input()
        await session.run()
        return session

    session = clock.run(main())
    assert session.context.services["totals"] == [0]
    assert session.statistics().edges[0].carried == 0


class Boom(Node):
    inp: In[Frame]

    async def on_inp(self, msg: Frame) -> None:
        raise ValueError(f"boom at {msg.seq}")


def test_a_failure_raised_by_run_keeps_the_nodes_own_exception_as_its_cause() -> None:
    """A test's traceback shows the line in the node that raised."""
    graph = Graph.build("boom", {"count": (Count, {}), "boom": (Boom, {})},
                        ["count.out -> boom.inp"])
    session = Session(graph, clock=FakeClock(), services=services())
    with pytest.raises(NodeFailed) as err:
        session.context.clock.run(session.run())  # type: ignore[attr-defined]
    assert isinstance(err.value.__cause__, ValueError)
    shown = "".join(traceback.format_exception(err.value))
    assert 'raise ValueError(f"boom at {msg.seq}")' in shown


def test_a_graph_changed_by_hand_is_checked_before_it_runs() -> None:
    graph = forever()
    graph.edges.append(EdgeDecl("count", "ot", "total", "inp"))
    with pytest.raises(GraphError, match=r"edge 'count.ot -> total.inp': .*'ot'"):
        Session(graph, clock=FakeClock(), services=services())


class Writer(Node):
    """A handler that waits (writing a file, a full edge) while its source delivers to it
    inline, in the source's own task."""

    inp: In[Frame]

    async def on_inp(self, msg: Frame) -> None:
        self.context.services["started"].append(msg.seq)
        await self.clock.sleep(5 * MS)
        self.context.services["done"].append(msg.seq)

    async def on_end(self) -> None:
        self.context.services["totals"].append("ended")


def test_end_input_lets_a_handler_the_source_is_running_inline_finish() -> None:
    clock = FakeClock()
    graph = Graph.build("w", {"count": (Count, FOREVER), "write": Writer},
                        ["count.out -> write.inp"])

    async def main() -> Session:
        session = Session(graph, clock=clock, services={**services(), "started": [],
                                                        "done": []})
        task = asyncio.create_task(session.run())
        await clock.sleep(2 * MS)  # frame 0 is being written, in count's task
        session.end_input()
        await task
        return session

    session = clock.run(main())
    sv = session.context.services
    assert sv["started"] == sv["done"] == [0] and sv["totals"] == ["ended"]
    assert session.failure is None and not session.stopped
