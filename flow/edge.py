"""Edges: bounded channels between an output port and an input port.

Each edge has a policy for when it is full:

- ``block`` (default): the producer waits (backpressure); nothing is ever lost.
- ``drop_oldest``: the oldest queued message is dropped to make room.
- ``drop_newest``: the incoming message is dropped.
- ``latest``: only the newest message is kept (video frames, state).

Capacity is a message count and, optionally, a media duration (``max_time``): the queued
messages' ``duration`` must fit in it (one message always fits in an empty edge). An edge
declared with a ``max_time`` and no count is bounded by the time (its count is only a
safety net, ``TIMED_CAPACITY``); otherwise the count defaults to ``DEFAULT_CAPACITY``.

Fast path: on a ``block`` edge whose queue is empty, a message for an idle push-style
consumer is handed to its handler directly in the producer's task, without a task switch
(GStreamer's chain functions work the same way). Otherwise it is queued and the consumer's
own task picks it up. Either way the consumer's handlers never run concurrently, per-edge
order is FIFO, and the statistics count the same things. A handler that suspends would
hold its producer, so after one does, that node gets its messages through its queue until
its handlers run without suspending again (``Node._set_direct``). The fast path is off for
edges leaving a node that has both push-style inputs and a ``run()`` (that ``run()`` is
cancelled when the node's inputs end, and a cancellation must never land inside another
node's handler) or that sets ``inline_delivery = False``; and after ``MAX_INLINE_DEPTH``
hops in one task the next hop queues, so no graph is deep enough to exhaust the stack.

``Interrupt`` never queues: it empties the edge (counted as ``flushed``), makes any producer
blocked on it drop the message it was trying to send (also ``flushed``; on a fan-out, the
edges not reached yet do not get it either), and reaches the consumer at once.
``EndOfStream`` is queued behind the data (in band) and ignores capacity.

When the consumer finishes before the producer (a pull-style node whose ``run()`` returned
early, or a node fed by a ``feedback`` edge), the edge is *detached*: what is queued and
whatever is sent later is discarded and counted as ``dropped``, and blocked producers are
released, so that an early finisher never deadlocks the graph.

Accounting invariant: every message accepted by ``put`` ends up exactly once in
``carried``, ``dropped``, ``flushed``, or ``depth`` (still queued).
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from .errors import SessionClosed
from .messages import EndOfStream, Interrupt, Message
from .ports import MAX_INLINE_DEPTH

if TYPE_CHECKING:
    from .clock import Clock
    from .ports import In, Out


class Policy(enum.StrEnum):
    BLOCK = "block"
    DROP_OLDEST = "drop_oldest"
    DROP_NEWEST = "drop_newest"
    LATEST = "latest"


DEFAULT_CAPACITY = 16
#: The count bound of an edge that gives ``max_time`` and no capacity: only a safety net
#: (against messages without a duration), so that the time bound is the one that applies;
#: 16 would cut 20 ms audio frames at 320 ms, whatever ``max_time`` said.
TIMED_CAPACITY = 1024


def default_capacity(max_time: int | None) -> int:
    """The capacity of an edge that declares none: 16, or 1024 under a ``max_time``."""
    return DEFAULT_CAPACITY if max_time is None else TIMED_CAPACITY


class EdgeStatistics(msgspec.Struct, frozen=True):
    """What one edge carried. Times are ns on the session clock."""

    name: str
    policy: str
    capacity: int
    max_time: int | None
    carried: int  #: messages handed to the consumer
    dropped: int  #: lost to a drop policy, or discarded after the consumer finished
    flushed: int  #: cleared by an Interrupt (queued, or held by a blocked producer)
    interrupts: int
    depth: int  #: queued now
    peak_depth: int
    wait_total: int  #: total time messages spent queued
    wait_max: int
    blocked_total: int  #: total time producers were held back (backpressure)
    ended: bool
    #: furthest media time carried: the largest ``pts + duration`` handed to the consumer.
    #: In a graph that runs faster than real time this, not the clock, says how much media
    #: went through.
    media_end: int = 0


class Edge:
    __slots__ = (
        "_block",
        "_can_inline",
        "_clock",
        "_closed",
        "_ended",
        "_epoch",
        "_gone",
        "_inline",
        "_last",
        "_media_end",
        "_node",
        "_push",
        "_putters",
        "_q",
        "_qtime",
        "_scheduled",
        "blocked_total",
        "capacity",
        "carried",
        "dropped",
        "dst",
        "feedback",
        "flushed",
        "interrupts",
        "max_time",
        "name",
        "peak_depth",
        "policy",
        "src",
        "wait_max",
        "wait_total",
    )

    def __init__(self, src: Out[Any], dst: In[Any], clock: Clock, *,
                 policy: Policy | str = Policy.BLOCK, capacity: int | None = None,
                 max_time: int | None = None, feedback: bool = False) -> None:
        self.policy = Policy(policy)
        if capacity is None:
            capacity = default_capacity(max_time)
        if capacity < 1:
            raise ValueError(f"edge capacity must be at least 1, got {capacity}")
        self.src = src
        self.dst = dst
        self.name = f"{src.node.id}.{src.name} -> {dst.node.id}.{dst.name}"
        self.capacity = 1 if self.policy is Policy.LATEST else capacity
        self.max_time = max_time
        self.feedback = feedback
        self._clock = clock
        self._q: deque[tuple[Message, int]] = deque()
        self._qtime = 0
        self._putters: deque[asyncio.Future[None]] = deque()
        self._epoch = 0
        self._closed = False  # EndOfStream was put
        self._ended = False  # EndOfStream was taken by the consumer
        self._gone = False  # the consumer finished: discard everything
        self._scheduled = False  # in the consumer node's ready queue
        self._node = dst.node
        self._push = dst.handler is not None
        # Inline delivery runs the consumer's handler in the producer's task; see the
        # module docstring for why a push-and-run producer never does it.
        self._can_inline = (self._push and self.policy is Policy.BLOCK
                            and getattr(src.node, "_inline_out", True))
        self._inline = self._can_inline  # switched off while the consumer suspends
        self._block = self.policy is Policy.BLOCK
        self.carried = self.dropped = self.flushed = self.interrupts = 0
        self.peak_depth = self.wait_total = self.wait_max = self.blocked_total = 0
        # how far the media went: the message handed over last (kept, not measured, on the
        # hot path) and the furthest end measured on the queued path
        self._last: Message | None = None
        self._media_end = 0
        src._edges.append(self)
        dst._edges.append(self)

    # -- producer side -------------------------------------------------------------------

    async def put(self, msg: Message) -> None:
        if self._closed:
            raise SessionClosed(f"send on {self.name} after EndOfStream")
        if msg.control:
            if isinstance(msg, Interrupt):
                self.interrupt(msg)
            else:
                self.close()
            return
        if self._block:
            node = self._node
            depth = self.src.node._depth
            if self._inline and not self._q and not node._busy and depth < MAX_INLINE_DEPTH:
                node._depth = depth + 1
                self.carried += 1
                self._last = msg
                await node._call(self.dst, msg)
                return
            if self._gone:
                self.dropped += 1
                return
            if self._full(msg) and not await self._wait_for_space(msg):
                return
            self._append(msg)
        else:
            self.put_nowait(msg)

    def put_nowait(self, msg: Message) -> bool:
        """Queue ``msg`` under a drop policy (or if a ``block`` edge has room). Returns
        False if the message was dropped; a full ``block`` edge raises ``QueueFull``."""
        if self._closed:
            raise SessionClosed(f"send on {self.name} after EndOfStream")
        if self._gone:
            self.dropped += 1
            return False
        if self._full(msg):
            policy = self.policy
            if policy is Policy.BLOCK:
                raise asyncio.QueueFull(self.name)
            if policy is Policy.DROP_NEWEST:
                self.dropped += 1
                return False
            q = self._q
            while q and (policy is Policy.LATEST or self._full(msg)):
                old, _ = q.popleft()
                self._qtime -= old.duration
                self.dropped += 1
        self._append(msg)
        return True

    def _full(self, msg: Message) -> bool:
        q = self._q
        if not q:
            return False
        if len(q) >= self.capacity:
            return True
        mt = self.max_time
        return mt is not None and self._qtime + msg.duration > mt

    async def _wait_for_space(self, msg: Message) -> bool:
        """Wait until ``msg`` fits. False if it must not be queued after all: an Interrupt
        made it stale (counted ``flushed``) or the consumer finished (``dropped``)."""
        epoch = self._epoch
        loop = asyncio.get_running_loop()
        start = self._clock.now()
        try:
            while self._full(msg):
                fut: asyncio.Future[None] = loop.create_future()
                self._putters.append(fut)
                try:
                    await fut
                except BaseException:
                    if not fut.done():
                        fut.cancel()
                    else:  # woken, then cancelled: pass the free slot on, not lose it
                        self._wake_one_putter()
                    raise
                if self._epoch != epoch:
                    self.flushed += 1  # an Interrupt made this message stale
                    return False
                if self._gone:
                    self.dropped += 1
                    return False
                if self._closed:
                    raise SessionClosed(f"send on {self.name} after EndOfStream")
        finally:
            self.blocked_total += self._clock.now() - start
        return True

    def _append(self, msg: Message) -> None:
        q = self._q
        q.append((msg, self._clock.now()))
        self._qtime += msg.duration
        if len(q) > self.peak_depth:
            self.peak_depth = len(q)
        self._notify()

    def _notify(self) -> None:
        if self._push:
            if not self._scheduled:
                self._scheduled = True
                self._node._schedule(self)
        else:
            self.dst._wakeup()

    def close(self) -> None:
        """Put ``EndOfStream`` behind everything queued. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._gone:
            return
        self._q.append((_EOS, 0))
        self._notify()
        self._wake_putters()

    def detach(self) -> None:
        """The consumer has finished: discard what is queued and all that comes later
        (counted ``dropped``), and release blocked producers. Idempotent."""
        if self._gone:
            return
        self._gone = True
        q = self._q
        n = len(q) - (1 if q and q[-1][0] is _EOS else 0)
        self.dropped += n
        q.clear()
        self._qtime = 0
        self._wake_putters()

    def interrupt(self, msg: Interrupt) -> None:
        """Empty the edge (keeping a queued end of stream) and deliver ``msg`` at once. A
        consumer that has finished still passes it on: what is downstream is stale too."""
        if self._gone:
            self._node._interrupted(msg)
            return
        q = self._q
        eos = bool(q) and q[-1][0] is _EOS
        n = len(q) - eos
        if n:
            self.flushed += n
            q.clear()
            self._qtime = 0
            if eos:
                q.append((_EOS, 0))
        self._epoch += 1
        self.src._epoch += 1
        self.interrupts += 1
        self._wake_putters()
        self._node._interrupted(msg)

    def _wake_putters(self) -> None:
        putters = self._putters
        while putters:
            fut = putters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _wake_one_putter(self) -> None:
        putters = self._putters
        while putters:
            fut = putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # -- consumer side -------------------------------------------------------------------

    def _pop(self) -> Message | None:
        """Next message, ``_EOS`` at the end, None if empty."""
        q = self._q
        if not q:
            return None
        msg, t = q.popleft()
        if msg is _EOS:
            self._ended = True
            return msg
        duration = msg.duration
        self._qtime -= duration
        self.carried += 1
        end = msg.pts + duration
        if end > self._media_end:
            self._media_end = end
        waited = self._clock.now() - t
        self.wait_total += waited
        if waited > self.wait_max:
            self.wait_max = waited
        if self._putters:
            self._wake_one_putter()
        return msg

    @property
    def depth(self) -> int:
        """Messages queued now (the end-of-stream marker is not one)."""
        q = self._q
        return len(q) - (1 if q and q[-1][0] is _EOS else 0)

    def statistics(self) -> EdgeStatistics:
        return EdgeStatistics(
            name=self.name, policy=self.policy.value, capacity=self.capacity,
            max_time=self.max_time, carried=self.carried, dropped=self.dropped,
            flushed=self.flushed, interrupts=self.interrupts, depth=self.depth,
            peak_depth=self.peak_depth, wait_total=self.wait_total, wait_max=self.wait_max,
            blocked_total=self.blocked_total, ended=self._ended or self._gone,
            media_end=self.media_end)

    @property
    def media_end(self) -> int:
        """The furthest media time this edge carried (``pts + duration``)."""
        last = self._last
        return max(self._media_end, last.pts + last.duration if last is not None else 0)


def media_end(edges: Iterable[Edge]) -> int:
    """The furthest media time any of ``edges`` carried (0 if none carried media)."""
    return max((e.media_end for e in edges), default=0)


#: The in-band end-of-stream marker every edge queues (one shared instance).
_EOS = EndOfStream()
