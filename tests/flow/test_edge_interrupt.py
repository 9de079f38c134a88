"""Interrupt: out of band, overtakes and clears queued data, drops a blocked producer's
stale message, reaches each node once through fan-in and feedback."""

from __future__ import annotations

from typing import Any

import msgspec

from flow import MS, EdgeDecl, FakeClock, Graph, In, Interrupt, Message, Node, Out, Policy, Session


class Frame(Message, frozen=True, kw_only=True):
    seq: int


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[int, str, str]] = []  # (time ms, node, what)


def note(node: Node, what: str) -> None:
    node.context.services["events"].log.append((node.now() // MS, node.id, what))


class BurstParams(msgspec.Struct, frozen=True):
    n: int = 5
    interrupt_after: int = 15 * MS  # from the start of the burst
    then: int = 2  # sent after the interrupt


class Burst(Node):
    """Sends ``n`` frames back to back, interrupts later, then sends ``then`` more."""

    out: Out[Frame]
    Params = BurstParams

    async def run(self) -> None:
        p = self.params
        await self.clock.sleep(MS)
        for i in range(p.n):
            await self.out.send(Frame(seq=i))
        await self.clock.sleep_until(self.context.t0 + MS + p.interrupt_after)
        await self.interrupt("barge-in")
        for i in range(100, 100 + p.then):
            await self.out.send(Frame(seq=i))


class Slow(Node):
    """Takes 10 ms per message; forwards to ``out``."""

    inp: In[Frame] = In(fan_in=True)
    fb: In[Frame]
    out: Out[Frame]

    async def on_inp(self, msg: Frame) -> None:
        note(self, f"start {msg.seq}")
        await self.clock.sleep(10 * MS)
        note(self, f"done {msg.seq}")
        await self.out.send(msg)

    async def on_fb(self, msg: Frame) -> None:
        pass

    def on_interrupt(self, msg: Interrupt) -> None:
        note(self, f"interrupt {msg.reason}")


class Holder(Node):
    """Sends one message per input to ``out`` and a watcher: used as the blocked producer."""

    inp: In[Frame]
    ctl: In[Frame]
    out: Out[Frame]

    async def on_inp(self, msg: Frame) -> None:
        note(self, f"send {msg.seq}")
        await self.out.send(msg)
        note(self, f"sent {msg.seq}")

    async def on_ctl(self, msg: Frame) -> None:
        pass


def run(nodes: dict[str, Any], edges: list[Any]) -> tuple[Session, list[tuple[int, str, str]]]:
    events = Events()
    session = Session(Graph.build("t", nodes, edges), clock=FakeClock(),
                      services={"events": events})
    session.context.clock.run(session.run())  # type: ignore[attr-defined]
    return session, events.log


def test_interrupt_overtakes_and_clears_queued_data() -> None:
    session, log = run({"src": (Burst, {"n": 5}), "slow": (Slow, {})},
                       [EdgeDecl("src", "out", "slow", "inp", capacity=16)])
    slow = [(t, what) for t, node, what in log if node == "slow"]
    # Frame 0 started at 1 ms; the interrupt arrives at 16 ms while frame 1 is being
    # handled, before anything still queued (2..4), which it clears. Then 100, 101.
    assert slow == [(1, "start 0"), (11, "done 0"), (11, "start 1"), (16, "interrupt barge-in"),
                    (21, "done 1"), (21, "start 100"), (31, "done 100"), (31, "start 101"),
                    (41, "done 101")]
    st = session.edges[0].statistics()
    assert (st.flushed, st.interrupts, st.carried, st.dropped) == (3, 1, 4, 0)
    assert st.carried + st.flushed == 7


def test_a_blocked_producer_drops_its_stale_message() -> None:
    class Interrupter(Node):
        out: Out[Frame]

        async def run(self) -> None:
            await self.clock.sleep(15 * MS)
            await self.interrupt("stop")

    # src -> hold (inline) -> slow, capacity 1: hold blocks on the full edge with its
    # message; the interrupt (through hold.ctl) must release it and drop that message.
    session, log = run(
        {"src": (Burst, {"n": 4, "interrupt_after": 500 * MS, "then": 0}),
         "hold": (Holder, {}), "slow": (Slow, {}), "int": (Interrupter, {})},
        ["src.out -> hold.inp", EdgeDecl("hold", "out", "slow", "inp", capacity=1),
         "int.out -> hold.ctl"])
    slow_started = [what for _, node, what in log if node == "slow" and what.startswith("start")]
    # 0 runs inline (1..11 ms). Then 1 is being handled (11..21 ms), 2 waits in the edge
    # and hold is blocked holding 3. At 15 ms the interrupt clears 2 and makes hold drop 3.
    assert slow_started == ["start 0", "start 1"]
    edge = next(e for e in session.edges if e.name == "hold.out -> slow.inp").statistics()
    # Two interrupts crossed it: int's at 15 ms and src's own at the end of its run.
    assert edge.flushed == 2 and edge.interrupts == 2 and edge.blocked_total == 4 * MS
    assert (15, "hold", "sent 3") in log  # the producer was released at once


def test_interrupt_reaches_each_node_once_through_fan_in_and_feedback() -> None:
    #         +--> a --+
    #  src ---+        +--> join --> tail
    #         +--> b --+      ^       |
    #                         +-------+ (feedback)
    session, log = run(
        {"src": (Burst, {"n": 2, "interrupt_after": 30 * MS, "then": 1}),
         "a": (Slow, {}), "b": (Slow, {}), "join": (Slow, {}), "tail": (Slow, {})},
        ["src.out -> a.inp", "src.out -> b.inp", "a.out -> join.inp", "b.out -> join.inp",
         "join.out -> tail.inp",
         EdgeDecl("tail", "out", "join", "fb", policy=Policy.LATEST, feedback=True)])
    interrupts = [node for _, node, what in log if what.startswith("interrupt")]
    assert sorted(interrupts) == ["a", "b", "join", "tail"]
    assert all(n.interrupts == 1 for n in session.nodes.values() if n.id != "src")


def test_interrupt_keeps_a_queued_end_of_stream() -> None:
    class SendThenInterrupt(Node):
        out: Out[Frame]

        async def run(self) -> None:
            await self.clock.sleep(MS)
            for i in range(3):
                await self.out.send(Frame(seq=i))
            self.out.close()  # EndOfStream is queued behind 1 and 2
            await self.interrupt()

    session, log = run({"src": (SendThenInterrupt, {}), "slow": (Slow, {})},
                       [EdgeDecl("src", "out", "slow", "inp", capacity=8)])
    assert [w for _, n, w in log if n == "slow" and w.startswith("start")] == ["start 0"]
    st = session.edges[0].statistics()
    assert st.ended and st.flushed == 2 and st.depth == 0


def test_a_fan_out_blocked_on_one_edge_does_not_send_the_stale_message_on_the_others() -> None:
    class Interrupter(Node):
        out: Out[Frame]

        async def run(self) -> None:
            await self.clock.sleep(15 * MS)
            await self.interrupt("stop")

    class Fast(Node):
        inp: In[Frame]

        async def on_inp(self, msg: Frame) -> None:
            note(self, f"got {msg.seq}")

    # hold.out fans out to slow (capacity 1, blocks) and fast. As in the test above, hold
    # is blocked on slow with frame 3 when the interrupt comes: fast must not get 3.
    _, log = run(
        {"src": (Burst, {"n": 5, "interrupt_after": 500 * MS, "then": 0}),
         "hold": (Holder, {}), "slow": (Slow, {}), "fast": (Fast, {}), "int": (Interrupter, {})},
        ["src.out -> hold.inp", EdgeDecl("hold", "out", "slow", "inp", capacity=1),
         "hold.out -> fast.inp", "int.out -> hold.ctl"])
    fast = [w for _, n, w in log if n == "fast"]
    assert fast == ["got 0", "got 1", "got 2", "got 4"]


def test_an_interrupt_sent_on_a_fan_out_output_reaches_every_edge() -> None:
    class SendInterrupt(Node):
        out: Out[Frame]

        async def run(self) -> None:
            await self.clock.sleep(MS)
            await self.out.send(Interrupt(reason="sent"))  # type: ignore[arg-type]

    session, log = run({"src": (SendInterrupt, {}), "a": (Slow, {}), "b": (Slow, {}),
                        "c": (Slow, {})},
                       ["src.out -> a.inp", "src.out -> b.inp", "src.out -> c.inp"])
    assert sorted(n for _, n, w in log if w == "interrupt sent") == ["a", "b", "c"]
    assert all(e.statistics().interrupts == 1 for e in session.edges)
