"""Channel invariants on random schedules of sends, receives and interrupts (Hypothesis).

The edge is driven synchronously (``put_nowait`` / ``In.recv_nowait`` / ``interrupt``): a
``block`` edge that is full raises ``QueueFull``, which is where a producer would wait, so
the model keeps that message and offers it again later, as a waiting producer would.
"""

from __future__ import annotations

import asyncio
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from flow import MS, Edge, FakeClock, In, Interrupt, Message, Node, Out, Policy, SessionContext


class Frame(Message, frozen=True, kw_only=True):
    seq: int
    dur: int = 0

    @property
    def duration(self) -> int:
        return self.dur


class Producer(Node):
    out: Out[Frame]

    async def run(self) -> None:
        pass


class Consumer(Node):
    inp: In[Frame]

    async def run(self) -> None:
        pass


def make_edge(policy: Policy, capacity: int, max_time: int | None) -> tuple[Edge, Consumer]:
    ctx = SessionContext(clock=FakeClock())
    src, dst = Producer(id="p", context=ctx), Consumer(id="c", context=ctx)
    edge = Edge(src.out, dst.inp, ctx.clock, policy=policy, capacity=capacity, max_time=max_time)
    return edge, dst


ops = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(0, 3)),  # a frame of 0..60 ms
    st.tuples(st.just("recv"), st.just(0)),
    st.tuples(st.just("interrupt"), st.just(0)),
), max_size=120)


@settings(max_examples=300, deadline=None)
@given(policy=st.sampled_from(list(Policy)), capacity=st.integers(1, 6),
       max_time=st.one_of(st.none(), st.integers(1, 4).map(lambda k: k * 20 * MS)),
       schedule=ops, interrupts=st.booleans())
def test_channel_invariants(policy: Policy, capacity: int, max_time: int | None,
                            schedule: list[tuple[str, int]], interrupts: bool) -> None:
    edge, consumer = make_edge(policy, capacity, max_time)
    waiting: deque[Frame] = deque()  # what a blocked producer holds, in order
    accepted: list[int] = []
    received: list[int] = []
    seq = 0
    for op, arg in schedule:
        if op == "send":
            waiting.append(Frame(seq=seq, dur=arg * 20 * MS))
            seq += 1
        elif op == "recv":
            msg = consumer.inp.recv_nowait()
            if msg is not None:
                received.append(msg.seq)
        elif interrupts:
            edge.interrupt(Interrupt())
            waiting.clear()  # a blocked producer drops its stale message
        while waiting:  # the producer offers what it holds, oldest first
            try:
                edge.put_nowait(waiting[0])
            except asyncio.QueueFull:
                assert policy is Policy.BLOCK
                break
            accepted.append(waiting.popleft().seq)
        depth = edge.depth
        assert depth <= edge.capacity
        if max_time is not None and depth > 1:
            assert sum(m.duration for m, _ in edge._q) <= max_time
    st_ = edge.statistics()
    # FIFO: what arrives is in sending order; nothing arrives that was not accepted.
    assert received == sorted(received)
    assert set(received) <= set(accepted)
    # Accounting: every accepted message is carried, dropped, flushed, or still queued.
    assert st_.carried + st_.dropped + st_.flushed + st_.depth == len(accepted)
    assert st_.carried == len(received)
    assert st_.peak_depth <= edge.capacity
    if policy is Policy.BLOCK:
        assert st_.dropped == 0
        if not (interrupts and st_.interrupts):
            # Nothing lost: drained, the consumer gets exactly what was accepted.
            while (msg := consumer.inp.recv_nowait()) is not None:
                received.append(msg.seq)
            assert received == accepted


@settings(max_examples=100, deadline=None)
@given(policy=st.sampled_from(list(Policy)), n=st.integers(0, 20),
       capacity=st.integers(1, 5))
def test_end_of_stream_comes_last_and_is_not_counted(policy: Policy, n: int,
                                                       capacity: int) -> None:
    edge, consumer = make_edge(policy, capacity, None)
    sent = 0
    for i in range(n):
        try:
            edge.put_nowait(Frame(seq=i))
            sent += 1
        except asyncio.QueueFull:
            break
    edge.close()
    edge.close()  # idempotent
    assert edge.depth == edge.statistics().depth <= capacity
    got = []
    while (msg := consumer.inp.recv_nowait()) is not None:
        got.append(msg.seq)
    assert got == sorted(got)
    assert edge._ended and consumer.inp.ended
    st_ = edge.statistics()
    assert st_.carried == len(got) and st_.carried + st_.dropped == sent and st_.depth == 0
