"""Helpers shared by the webrtc nodes: finding the peer, a bounded inbox between an
aiortc track and a node's output, and media-time stamping of live audio."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flow import Node, ParamError
from flow.units import MS, S

if TYPE_CHECKING:
    from flow.server.peer import Peer

T = TypeVar("T")


def peer_of(node: Node) -> Peer:
    """The session's WebRTC peer, or a ``ParamError`` saying how to get one."""
    peer: Any = node.context.services.get("webrtc")
    if peer is None:
        raise ParamError(
            f"node {node.id!r} ({type(node).type_name}) needs a WebRTC peer connection: serve "
            "the graph with `microturn serve GRAPH.yaml` (services['webrtc'] is not set)")
    return peer  # type: ignore[no-any-return]


class Inbox(Generic[T]):
    """A bounded FIFO between a track reader and a sender: when full, the oldest item is
    dropped (and counted) so that a slow graph never builds unbounded lag in aiortc's own
    queue, which we drain continuously. ``get()`` returns None once closed and empty."""

    def __init__(self, capacity: int) -> None:
        self._q: deque[T] = deque()
        self.capacity = capacity
        self.dropped = 0
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._q)

    def put(self, item: T) -> None:
        if len(self._q) >= self.capacity:
            self._q.popleft()
            self.dropped += 1
        self._q.append(item)
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def get(self) -> T | None:
        while not self._q:
            if self._closed:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._q.popleft()


class Stamper:
    """Media time of live audio: contiguous ``pts`` from the sample count, anchored at the
    first frame's arrival.

    When the frames carry their source's timestamps (RTP: aiortc's decoded frames have the
    packet's timestamp as ``pts``), tell each one to ``source()`` before stamping it. The
    count then follows the sender's clock: frames that arrive late (a stall of the event
    loop, then a burst) stay contiguous, where re-anchoring at their arrival used to cut
    the audio there (an utterance in the ears closes at a gap); packets lost on the way
    are a gap of their length, which up to ``fill`` is returned for the caller to fill
    with silence (a jitter buffer's concealment: one lost packet does not cut an utterance
    in two), and a longer gap or a timestamp that goes back (a new stream) re-anchors the
    next frame at its arrival. Without source timestamps, arrival is all there is: the
    stamper re-anchors when arrival drifts more than ``max_drift`` from the count (the
    client paused its microphone, packets were lost). Either way, frames that run more
    than ``max_drift`` ahead of their arrival re-anchor at their arrival (a backlog read
    at once: ``anchor()`` it at the end of its arrival instead)."""

    def __init__(self, sample_rate: int, *, max_drift: int = 200 * MS,
                 fill: int = 200 * MS) -> None:
        self.sample_rate = sample_rate
        self.max_drift = max_drift
        self.fill = fill
        self._base: int | None = None
        self._n = 0
        self._ticks: int | None = None  # the source timestamp expected next
        self._timed = False  # frames carry source timestamps: lateness never re-anchors
        self._reanchor = False
        self.reanchors = 0
        self.filled = 0  #: samples of silence asked for, over lost packets

    def source(self, ticks: int | None, length: int, rate: int) -> int:
        """The next frame starts at source timestamp ``ticks`` (in 1/``rate`` s, modulo
        2**32 as RTP's are; None: not known) and covers ``length`` of them. Returns the
        samples (at ``sample_rate``) of silence to stamp and send before it."""
        expected = self._ticks
        if ticks is None:  # (a frame without a timestamp: assume it follows on)
            self._ticks = None if expected is None else (expected + length) % 2**32
            return 0
        self._timed = True
        self._ticks = (ticks + length) % 2**32
        if expected is None:
            return 0
        ahead = (ticks - expected) % 2**32
        if ahead >= 2**31:  # before what came already
            if 2**32 - ahead > length:  # more than a frame's overlap: a new stream
                self._reanchor = True
            return 0
        gap = ahead * self.sample_rate // rate
        if gap * S // self.sample_rate > self.fill:
            self._reanchor = True
            return 0
        self.filled += gap
        return gap

    def anchor(self, end: int, n: int) -> None:
        """The next ``n`` samples (a backlog read at once) end at media time ``end``."""
        self._base, self._n = end - n * S // self.sample_rate, 0

    def stamp(self, arrival: int, n: int) -> int:
        """``pts`` of ``n`` samples whose last one arrived at media time ``arrival``."""
        start = arrival - n * S // self.sample_rate
        if self._base is None:
            self._base = start
        pts = self._base + self._n * S // self.sample_rate
        late = start - pts > self.max_drift and not self._timed
        if self._reanchor or late or pts - start > self.max_drift:
            self.reanchors += 1
            self._reanchor = False
            self._base, self._n, pts = start, 0, start
        self._n += n
        return pts
