"""Sessions: isolation, cancellation and Ctrl-C, statistics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import msgspec
import pytest

from flow import MS, FakeClock, Graph, In, Message, Node, NodeFailed, Out, Session
from flow.node import TEARDOWN_GRACE

ROOT = Path(__file__).resolve().parents[2]


class Frame(Message, frozen=True, kw_only=True):
    seq: int


class CountParams(msgspec.Struct, frozen=True):
    n: int = 10
    every: int = 10 * MS


class Count(Node):
    out: Out[Frame]
    Params = CountParams

    async def run(self) -> None:
        for i in range(self.params.n):
            await self.out.send(Frame(pts=self.now(), seq=i))
            await self.clock.sleep(self.params.every)

    async def teardown(self) -> None:
        self.context.services["torn"].append(self.id)


class Total(Node):
    """Keeps a running total in its own state and reports it to its session's services."""

    inp: In[Frame]
    out: Out[Frame]

    async def setup(self) -> None:
        self.total = 0

    async def on_inp(self, msg: Frame) -> None:
        self.total += msg.seq
        await self.clock.sleep(MS)
        await self.out.send(Frame(pts=msg.pts, seq=self.total))

    async def on_end(self) -> None:
        self.context.services["totals"].append(self.total)

    async def teardown(self) -> None:
        self.context.services["torn"].append(self.id)


GRAPH = Graph.build("sum", {"count": (Count, {}), "total": (Total, {})},
                    ["count.out -> total.inp"])


def services() -> dict[str, Any]:
    return {"totals": [], "torn": []}


def test_several_sessions_of_one_graph_run_isolated_in_one_process() -> None:
    clock = FakeClock()

    async def main() -> list[Session]:
        graph = Graph.build("sum", {"count": (Count, {"n": 10}), "total": (Total, {})},
                            ["count.out -> total.inp"])
        short = Graph.build("sum", {"count": (Count, {"n": 4}), "total": (Total, {})},
                            ["count.out -> total.inp"])
        sessions = [Session(graph, clock=clock, services=services()),
                    Session(short, clock=clock, services=services()),
                    Session(graph, clock=clock, services=services())]
        await asyncio.gather(*(s.run() for s in sessions))
        return sessions

    a, b, c = clock.run(main())
    assert len({a.id, b.id, c.id}) == 3
    assert a.context.services["totals"] == c.context.services["totals"] == [45]
    assert b.context.services["totals"] == [6]
    assert a.nodes["total"] is not c.nodes["total"]
    assert a.statistics().edges[0].carried == 10 and b.statistics().edges[0].carried == 4


def test_stop_cancels_every_node_and_runs_every_teardown() -> None:
    clock = FakeClock()

    async def main() -> tuple[Session, set[asyncio.Task[Any]]]:
        session = Session(Graph.build("sum", {"count": (Count, {"n": 10**6}),
                                              "total": (Total, {})},
                                      ["count.out -> total.inp"]),
                          clock=clock, services=services())
        task = asyncio.create_task(session.run())
        await clock.sleep(60 * 1000 * MS + 5 * MS)  # a minute of virtual time
        session.stop()
        await task  # returns: stop() ends the session, it does not cancel its caller
        assert session.stopped
        return session, asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    session, leaked = clock.run(main())
    assert leaked == set()
    assert sorted(session.context.services["torn"]) == ["count", "total"]
    assert session.finished
    assert session.statistics().edges[0].carried == 6_001  # 0 ms to 60 s, every 10 ms
    assert not any(n.running for n in session.statistics().nodes)


class SlowRelease(Node):
    """Holds a resource whose release takes a while: a blocking close in an executor thread
    (like the ears' worker process), then a wait on the clock. The session is stopped
    (``services["stop"]``) just as the release begins."""

    inp: In[Frame]

    async def on_inp(self, msg: Frame) -> None:
        pass

    async def teardown(self) -> None:
        torn = self.context.services["torn"]
        torn.append(f"{self.id}: releasing")
        self.context.services["stop"]()
        await self.clock.run_blocking(torn.append, f"{self.id}: closed")
        await self.clock.sleep(50 * MS)
        torn.append(f"{self.id}: done")


def stopped_in_teardown(holder: type[Node]) -> tuple[Session, int, set[asyncio.Task[Any]]]:
    """Three frames into ``holder``, whose teardown stops the session: the session, when
    it ended (virtual ns), and the tasks left behind."""
    clock = FakeClock()

    async def main() -> tuple[Session, int, set[asyncio.Task[Any]]]:
        session = Session(Graph.build("held", {"count": (Count, {"n": 3}),
                                               "hold": (holder, {})},
                                      ["count.out -> hold.inp"]),
                          clock=clock, services={**services(), "stop": lambda: session.stop()})
        await asyncio.create_task(session.run())  # returns: stop() cancels no caller
        assert session.stopped
        ended = clock.now()
        await asyncio.sleep(0)  # an abandoned teardown takes its cancellation
        return session, ended, asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    return clock.run(main())


def test_teardown_runs_to_its_end_when_the_session_is_stopped_meanwhile() -> None:
    """The client hangs up: the input ends, the graph drains, and a node is releasing what
    it holds when the server stops the session. The stop waits for that release to finish
    instead of cutting it short (a blocking close still queued for an executor thread
    would be cancelled there and never run: a leaked worker process)."""
    session, ended, leaked = stopped_in_teardown(SlowRelease)
    assert leaked == set()
    assert session.context.services["torn"] == [
        "count", "hold: releasing", "hold: closed", "hold: done"]
    assert ended == 30 * MS + 50 * MS  # the three frames, then the whole release


class HungRelease(Node):
    """A teardown that never finishes (a close without a timeout)."""

    inp: In[Frame]

    async def on_inp(self, msg: Frame) -> None:
        pass

    async def teardown(self) -> None:
        self.context.services["torn"].append(f"{self.id}: releasing")
        self.context.services["stop"]()
        await self.clock.sleep(3600 * 1000 * MS)
        self.context.services["torn"].append(f"{self.id}: done")


def test_a_teardown_that_hangs_is_abandoned_after_the_grace(
        caplog: pytest.LogCaptureFixture) -> None:
    """Waiting for teardown under cancellation is bounded: after ``TEARDOWN_GRACE`` (10 s)
    the hung teardown is abandoned with a warning and the session ends cancelled."""
    session, ended, leaked = stopped_in_teardown(HungRelease)
    assert leaked == set()
    assert session.context.services["torn"] == ["count", "hold: releasing"]
    assert ended == 30 * MS + TEARDOWN_GRACE  # the three frames, then the grace
    assert "node hold: teardown still running 10 s after the session was cancelled; " \
           "abandoned" in caplog.text


def test_a_session_runs_once() -> None:
    session = Session(GRAPH, clock=FakeClock(), services=services())
    session.context.clock.run(session.run())  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="already ran"):
        session.context.clock.run(session.run())  # type: ignore[attr-defined]


def test_statistics_and_their_table() -> None:
    session = Session(GRAPH, clock=FakeClock(), id="demo", services=services())
    before = session.statistics()
    assert before.media_time == 0 and before.session == "demo" and before.graph == "sum"
    session.context.clock.run(session.run())  # type: ignore[attr-defined]
    st = session.statistics()
    # ten frames 10 ms apart; the producer is held once, for the 1 ms of the first
    # handler it ran inline (then the edge queues until handlers stop suspending)
    assert st.media_time == 101 * MS
    assert [n.id for n in st.nodes] == ["count", "total"]
    assert st.nodes[1].received == 10 and st.nodes[1].sent == 10
    table = session.format_statistics()
    assert "session demo (sum)" in table and "count.out -> total.inp" in table
    assert msgspec.json.decode(msgspec.json.encode(st))["edges"][0]["carried"] == 10


class Tallied(Total):
    def statistics_extra(self) -> dict[str, Any]:
        return {"total": getattr(self, "total", 0),
                "pool": {"rows": 4, "sizes": {"k": 64 * 1024, "v": 64 * 1024}},
                "names": ["a" * 40, "b" * 40]}


def test_a_nodes_own_counters_are_printed_whole_and_nested_ones_spelled_out() -> None:
    graph = Graph.build("sum", {"count": (Count, {}), "total": (Tallied, {})},
                        ["count.out -> total.inp"])
    session = Session(graph, clock=FakeClock(), services=services())
    session.context.clock.run(session.run())  # type: ignore[attr-defined]
    (line,) = [r for r in session.format_statistics().splitlines()
               if r.startswith("  total:")]
    assert line.startswith("  total: total 45, pool.rows 4, pool.sizes.k 65536, "
                           "pool.sizes.v 65536, names [")


class Chunk(Message, frozen=True, kw_only=True):
    @property
    def duration(self) -> int:
        return 200 * MS


class FastFile(Node):
    out: Out[Chunk]

    async def run(self) -> None:  # stamps media time from the file, sends without pacing
        for i in range(28):
            await self.out.send(Chunk(pts=i * 200 * MS))


class Drain(Node):
    inp: In[Chunk]

    async def on_inp(self, msg: Chunk) -> None:
        pass


def test_media_time_is_what_went_through_not_the_clock() -> None:
    # microturn run graphs/echo.yaml --stats said "media time 0.020s" for 5.6 s of audio:
    # it reported the clock, and a fast graph runs ahead of it.
    session = Session(Graph.build("fast", {"src": (FastFile, {}), "sink": (Drain, {})},
                                  ["src.out -> sink.inp"]), clock=FakeClock())
    session.context.clock.run(session.run())  # type: ignore[attr-defined]
    assert session.context.media_time() == 0
    assert session.statistics().media_time == 5600 * MS
    assert "media time 5.600s" in session.format_statistics()


@pytest.mark.slow
def test_ctrl_c_stops_a_running_session_cleanly(tmp_path: Path) -> None:
    """Real time and a real SIGINT: the only way to see what Ctrl-C does to a process."""
    script = tmp_path / "forever.py"
    script.write_text(textwrap.dedent("""
        import asyncio
        import sys
        from flow import MS, Graph, Session
        from flow.clock import run
        from tests.flow.test_session import Count, Total

        torn = []
        graph = Graph.build("sum", {"count": (Count, {"n": 10**9, "every": 5 * MS}),
                                    "total": (Total, {})}, ["count.out -> total.inp"])
        session = Session(graph, services={"totals": [], "torn": torn})

        async def main():
            running = asyncio.ensure_future(session.run())
            await session.opened.wait()  # every node is set up: a running session
            print("started", flush=True)
            await running

        try:
            run(main())
        except KeyboardInterrupt:
            print("interrupted; teardown:", ",".join(sorted(torn)), flush=True)
            sys.exit(130)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            # SIGINT may be ignored here (a background job): not in the child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "interrupted; teardown: count,total" in out
    assert "Traceback" not in err


def test_a_session_is_opened_when_every_node_is_set_up() -> None:
    clock = FakeClock()
    seen: list[bool] = []

    class SlowSetup(Node):
        out: Out[Message]

        async def setup(self) -> None:
            await self.clock.sleep(2000 * MS)

        async def run(self) -> None:
            seen.append(session.opened.is_set())

    session = Session(Graph.build("t", {"a": (SlowSetup, {})}, []), clock=clock)
    clock.run(session.run())
    assert seen == [True] and session.opened.is_set()


def test_the_failure_named_is_the_first_in_time_not_the_first_declared() -> None:
    """A node that fails because another did (a knock-on) must not hide the cause: the
    server tells its client, and logs, the failure that came first."""
    session = Session(GRAPH, clock=FakeClock(), services=services())
    assert session.failure is None
    cause = session.nodes["total"]._fail(ValueError("cause"))
    session.nodes["count"]._fail(RuntimeError("knock-on"))  # declared first, failed later
    assert session.failure is cause and session.failure.node_id == "total"


async def test_a_fake_clock_on_a_loop_it_does_not_drive_fails_the_session() -> None:
    """The mistake this catches: a pytest-asyncio test (or ``asyncio.run``) giving its
    session a ``FakeClock``, which would run seconds of media in no time while asyncio's
    own timers ran on real time. The error says what to do instead."""
    session = Session(GRAPH, clock=FakeClock(), services=services())
    with pytest.raises(NodeFailed, match=r"failed: RuntimeError: this FakeClock does not drive "
                                         r"the running event loop: run the session with "
                                         r"clock\.run"):
        await session.run()
