"""Edges in running graphs: policies, FIFO, capacity by count and by time, fan-out, fan-in,
end of stream, statistics. Everything runs on FakeClock: no test sleeps."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from flow import MS, EdgeDecl, FakeClock, Graph, In, Message, Node, Out, Session
from flow.edge import media_end


class Frame(Message, frozen=True, kw_only=True):
    seq: int
    src: str = ""
    dur: int = 0

    @property
    def duration(self) -> int:
        return self.dur


class SrcParams(msgspec.Struct, frozen=True):
    n: int = 10
    start_after: int = MS  # let every node finish setup first
    every: int = 0  # 0: send back to back, never yielding between sends on drop edges
    dur: int = 0
    name: str = ""
    #: stamp media time as a file would (frame i at i * dur), not from the clock: sent as
    #: fast as it may, far more media goes through than time passes
    file: bool = False


class Src(Node):
    out: Out[Frame]
    Params = SrcParams

    async def run(self) -> None:
        p = self.params
        await self.clock.sleep(p.start_after)
        for i in range(p.n):
            pts = i * p.dur if p.file else self.now()
            await self.out.send(Frame(pts=pts, seq=i, src=p.name, dur=p.dur))
            if p.every:
                await self.clock.sleep(p.every)


class SinkParams(msgspec.Struct, frozen=True):
    work: int = 0  # virtual time each message takes


class Sink(Node):
    inp: In[Frame] = In(fan_in=True)
    Params = SinkParams

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.got: list[Frame] = []
        self.ended_with: int | None = None

    async def on_inp(self, msg: Frame) -> None:
        self.got.append(msg)
        if self.params.work:
            await self.clock.sleep(self.params.work)

    async def on_end(self) -> None:
        self.ended_with = len(self.got)


def run(nodes: dict[str, Any], edges: list[str | EdgeDecl]) -> Session:
    graph = Graph.build("t", nodes, edges)
    session = Session(graph, clock=FakeClock())
    session.context.clock.run(session.run())  # type: ignore[attr-defined]
    return session


def edge(session: Session, name: str) -> Any:
    return next(e for e in session.edges if e.name == name)


def seqs(session: Session, node: str = "sink") -> list[int]:
    return [f.seq for f in session.nodes[node].got]  # type: ignore[attr-defined]


def test_block_loses_nothing_and_keeps_order_under_backpressure() -> None:
    s = run({"src": (Src, {"n": 50}), "sink": (Sink, {"work": 10 * MS})},
            [EdgeDecl("src", "out", "sink", "inp", capacity=4)])
    assert seqs(s) == list(range(50))
    st = edge(s, "src.out -> sink.inp").statistics()
    assert (st.carried, st.dropped, st.flushed, st.depth) == (50, 0, 0, 0)
    assert st.peak_depth == 4
    assert st.blocked_total > 0  # the producer was held back
    assert st.ended


@pytest.mark.parametrize(("policy", "expected", "dropped"), [
    ("drop_oldest", [7, 8, 9], 7),
    ("drop_newest", [0, 1, 2], 7),
    ("latest", [9], 9),
])
def test_drop_policies_count_their_drops(policy: str, expected: list[int], dropped: int) -> None:
    # The source sends 10 frames without yielding; the edge holds 3 (latest: 1).
    s = run({"src": (Src, {"n": 10}), "sink": (Sink, {})},
            [EdgeDecl("src", "out", "sink", "inp", policy=policy, capacity=3)])  # type: ignore[arg-type]
    assert seqs(s) == expected
    st = edge(s, "src.out -> sink.inp").statistics()
    assert st.dropped == dropped
    assert st.carried == len(expected)
    assert st.carried + st.dropped == 10
    assert st.peak_depth == (1 if policy == "latest" else 3)


def test_max_time_caps_queued_media_duration() -> None:
    # 20 ms frames on an edge of 100 messages but 60 ms: at most 3 queued.
    s = run({"src": (Src, {"n": 10, "dur": 20 * MS}), "sink": (Sink, {})},
            [EdgeDecl("src", "out", "sink", "inp", policy="drop_oldest", capacity=100,  # type: ignore[arg-type]
                      max_time=60 * MS)])
    assert seqs(s) == [7, 8, 9]
    st = edge(s, "src.out -> sink.inp").statistics()
    assert (st.peak_depth, st.dropped, st.max_time) == (3, 7, 60 * MS)


def test_max_time_without_a_capacity_is_the_bound_that_applies() -> None:
    """``max_time: 1s`` on 20 ms frames holds 50 of them: the default count (16) would
    have cut it to 320 ms. With an explicit capacity, the tighter bound wins."""
    timed = EdgeDecl("src", "out", "sink", "inp", policy="drop_oldest",  # type: ignore[arg-type]
                     max_time=1000 * MS)
    assert (timed.capacity, timed.limit) == (None, 1024)
    s = run({"src": (Src, {"n": 80, "dur": 20 * MS}), "sink": (Sink, {})}, [timed])
    assert seqs(s) == list(range(30, 80))
    st = edge(s, "src.out -> sink.inp").statistics()
    assert (st.peak_depth, st.dropped, st.capacity) == (50, 30, 1024)
    counted = EdgeDecl("src", "out", "sink", "inp", policy="drop_oldest",  # type: ignore[arg-type]
                       capacity=16, max_time=1000 * MS)
    s = run({"src": (Src, {"n": 80, "dur": 20 * MS}), "sink": (Sink, {})}, [counted])
    assert seqs(s) == list(range(64, 80))
    assert EdgeDecl("src", "out", "sink", "inp").limit == 16


def test_max_time_backpressure_and_oversized_message() -> None:
    # A 100 ms frame fits an empty 60 ms edge; blocking keeps every frame.
    s = run({"src": (Src, {"n": 6, "dur": 100 * MS}), "sink": (Sink, {"work": 5 * MS})},
            [EdgeDecl("src", "out", "sink", "inp", capacity=100, max_time=60 * MS)])
    assert seqs(s) == list(range(6))
    st = edge(s, "src.out -> sink.inp").statistics()
    assert st.peak_depth == 1 and st.dropped == 0


def test_fan_out_each_edge_applies_its_own_policy() -> None:
    s = run({"src": (Src, {"n": 20}), "all": (Sink, {"work": MS}), "few": (Sink, {"work": MS})},
            [EdgeDecl("src", "out", "all", "inp", capacity=2),
             EdgeDecl("src", "out", "few", "inp", policy="drop_newest", capacity=1)])  # type: ignore[arg-type]
    assert seqs(s, "all") == list(range(20))
    few = seqs(s, "few")
    assert few == sorted(few) and 0 < len(few) < 20
    st = edge(s, "src.out -> few.inp").statistics()
    assert st.dropped == 20 - len(few) and st.carried == len(few)


def test_fan_in_keeps_each_producers_order_and_ends_after_all() -> None:
    s = run({"a": (Src, {"n": 30, "name": "a", "every": MS}),
             "b": (Src, {"n": 10, "name": "b", "every": 3 * MS}),
             "sink": (Sink, {"work": 2 * MS})},
            ["a.out -> sink.inp", "b.out -> sink.inp"])
    got = s.nodes["sink"].got  # type: ignore[attr-defined]
    assert [f.seq for f in got if f.src == "a"] == list(range(30))
    assert [f.seq for f in got if f.src == "b"] == list(range(10))
    assert s.nodes["sink"].ended_with == 40  # type: ignore[attr-defined]


def test_end_of_stream_drains_everything_queued_first() -> None:
    s = run({"src": (Src, {"n": 12}), "sink": (Sink, {"work": 7 * MS})},
            [EdgeDecl("src", "out", "sink", "inp", capacity=16)])
    assert seqs(s) == list(range(12))
    assert s.nodes["sink"].ended_with == 12  # type: ignore[attr-defined]
    st = edge(s, "src.out -> sink.inp").statistics()
    assert st.ended and st.depth == 0 and st.peak_depth >= 11


def test_statistics_count_waiting_time() -> None:
    # Sent back to back onto a sink that takes 10 ms each: message i waits ~10*(i-1) ms.
    s = run({"src": (Src, {"n": 5}), "sink": (Sink, {"work": 10 * MS})},
            [EdgeDecl("src", "out", "sink", "inp", policy="drop_newest", capacity=8)])  # type: ignore[arg-type]
    st = edge(s, "src.out -> sink.inp").statistics()
    assert st.carried == 5 and st.dropped == 0
    assert st.wait_max == 40 * MS
    assert st.wait_total == (0 + 10 + 20 + 30 + 40) * MS
    table = s.format_statistics()
    assert "src.out -> sink.inp" in table and "drop_newest" in table
    nodes = {n.id: n for n in s.statistics().nodes}
    assert nodes["sink"].received == 5 and nodes["src"].sent == 5
    assert (nodes["sink"].wait_total, nodes["sink"].wait_max) == (100 * MS, 40 * MS)
    assert nodes["sink"].queued == nodes["sink"].dropped == 0


def test_statistics_say_how_far_media_went_on_every_path() -> None:
    # Ten 200 ms frames in 1 ms of clock time: handed over inline (one edge, and fan-out),
    # and queued (a drop edge). Each edge carried 2 s of media, whatever the clock says.
    s = run({"src": (Src, {"n": 10, "dur": 200 * MS, "file": True}), "sink": (Sink, {}),
             "fan": (Sink, {}), "queued": (Sink, {})},
            ["src.out -> sink.inp", "src.out -> fan.inp",
             EdgeDecl("src", "out", "queued", "inp", policy="drop_newest", capacity=10)])  # type: ignore[arg-type]
    assert s.context.clock.now() <= MS
    assert [e.statistics().media_end for e in s.edges] == [2000 * MS] * 3
    assert media_end(s.edges) == 2000 * MS
    alone = run({"src": (Src, {"n": 10, "dur": 200 * MS, "file": True}), "sink": (Sink, {})},
                ["src.out -> sink.inp"])
    assert edge(alone, "src.out -> sink.inp").statistics().media_end == 2000 * MS
    assert media_end([]) == 0


def test_an_unconnected_output_discards_and_an_unconnected_input_ends() -> None:
    class Two(Node):
        inp: In[Frame]
        out: Out[Frame]
        spare: Out[Frame]

        async def on_inp(self, msg: Frame) -> None:
            await self.spare.send(msg)

    s = run({"src": (Src, {"n": 3}), "two": (Two, {}), "idle": (Sink, {})},
            ["src.out -> two.inp"])
    assert s.nodes["two"].received == 3
    assert s.nodes["idle"].ended_with == 0  # type: ignore[attr-defined]


def test_pull_style_fan_in_reads_round_robin_until_every_edge_ended() -> None:
    class Reader(Node):
        inp: In[Frame] = In(fan_in=True)

        async def run(self) -> None:
            self.got = [(f.src, f.seq) async for f in self.inp]

    s = run({"a": (Src, {"n": 3, "name": "a"}), "b": (Src, {"n": 5, "name": "b"}),
             "r": (Reader, {})},
            ["a.out -> r.inp", "b.out -> r.inp"])
    got = s.nodes["r"].got  # type: ignore[attr-defined]
    assert [q for src, q in got if src == "a"] == [0, 1, 2]
    assert [q for src, q in got if src == "b"] == [0, 1, 2, 3, 4]
    assert s.nodes["r"].statistics().received == 8


def test_a_woken_producer_that_is_cancelled_passes_the_free_slot_on() -> None:
    import asyncio

    from flow import SessionContext
    from flow.edge import Edge

    class P(Node):
        out: Out[Frame]

        async def run(self) -> None:
            pass

    class C(Node):
        inp: In[Frame]

        async def run(self) -> None:
            pass

    clock = FakeClock()

    async def main() -> list[int]:
        ctx = SessionContext(clock=clock)
        p, c = P(id="p", context=ctx), C(id="c", context=ctx)
        edge = Edge(p.out, c.inp, clock, capacity=1)
        await edge.put(Frame(seq=0))  # fills the edge
        first = asyncio.create_task(edge.put(Frame(seq=1)))
        second = asyncio.create_task(edge.put(Frame(seq=2)))
        await asyncio.sleep(0)  # both wait for room
        assert len(edge._putters) == 2
        got = [c.inp.recv_nowait().seq]  # type: ignore[union-attr]  # wakes `first`...
        first.cancel()  # ...which is cancelled before it runs
        await asyncio.sleep(0)
        await asyncio.wait_for(second, 1)  # second must get the slot, not wait forever
        got.append(c.inp.recv_nowait().seq)  # type: ignore[union-attr]
        return got

    assert clock.run(main()) == [0, 2]
