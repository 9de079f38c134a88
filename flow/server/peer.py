"""``Peer``: what one browser connection hands its session, as ``services["webrtc"]``.

The server creates it per peer connection; the ``webrtc.*`` nodes read it in ``setup()``:
incoming tracks (``await peer.track("audio")``), typed text (``await
peer.next_text()``), the outgoing audio track (``peer.audio_out``) and ``peer.send(msg)`` for
events to the browser. Every queue here is bounded; what overflows is dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from ..clock import Clock
from ..units import S
from . import protocol
from .playout import TokenBucket

log = logging.getLogger("microturn.server")

#: Stop queueing events on a data channel whose send buffer holds this much already.
MAX_BUFFERED_BYTES = 1 << 20
#: Events the graph sends before the client's ``hello`` (its data channel opens after the
#: graph starts) wait for it, up to this many; the oldest go first.
EARLY_CAPACITY = 64


class Peer:
    def __init__(self, pc: Any, *, clock: Clock, session: str = "", audio_out: Any = None,
                 max_message_bytes: int = protocol.MAX_MESSAGE_BYTES,
                 message_rate: float = 20.0, message_burst: int = 40,
                 text_capacity: int = 16) -> None:
        self.pc = pc
        self.clock = clock
        self.session = session
        self.audio_out = audio_out
        self.max_message_bytes = max_message_bytes
        self.closed = asyncio.Event()
        self.last_activity = clock.now()
        self._tracks: dict[str, Any] = {}
        self._track_waiters: list[asyncio.Future[None]] = []
        self._claimed: set[str] = set()
        self._drains: dict[str, asyncio.Task[None]] = {}
        self.drained = 0  #: frames of unclaimed tracks read and discarded
        self._texts: deque[str] = deque(maxlen=text_capacity)
        self._text_waiter: asyncio.Future[None] | None = None
        self._bucket = TokenBucket(message_rate, message_burst)
        self._last_refusal = -S
        self.channel: Any = None
        self._hello: protocol.Hello | None = None  # sent once the channel and session are up
        self._session_open = False
        self._early: deque[Any] = deque()  # what the graph said before the hello
        self.received = 0  #: client messages accepted
        self.refused = 0  #: client messages refused (size, rate, format)
        self.texts_dropped = 0
        self.sent = 0
        self.send_dropped = 0
        self._said_last = False  # the client was told why the session ends: nothing after

    # -- incoming ------------------------------------------------------------------------

    def touch(self) -> None:
        """Something arrived from the client (media, a message): it is not idle."""
        self.last_activity = self.clock.now()

    def add_track(self, track: Any) -> None:
        """A remote track arrived (aiortc's ``track`` event)."""
        self._tracks.setdefault(track.kind, track)
        self._wake_tracks()

    async def track(self, kind: str) -> Any:
        """The client's ``audio`` or ``video`` track, once it arrives; None if the peer
        closes first. Claims it: the server stops draining it (see ``drain_unclaimed``)."""
        self._claimed.add(kind)
        drain = self._drains.pop(kind, None)
        if drain is not None:
            drain.cancel()
        while kind not in self._tracks:
            if self.closed.is_set():
                return None
            fut = asyncio.get_running_loop().create_future()
            self._track_waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._track_waiters:
                    self._track_waiters.remove(fut)
        return self._tracks[kind]

    def drain_unclaimed(self) -> None:
        """Read and discard every incoming track no node has claimed. aiortc decodes
        whatever arrives into an unbounded queue per track, so a graph without a
        ``webrtc.audio_in`` (or ``video_in``) must not leave the client's microphone (or
        camera) piling up there. Arriving media still counts as activity."""
        for kind, track in self._tracks.items():
            if kind not in self._claimed and kind not in self._drains:
                self._drains[kind] = asyncio.create_task(
                    self._drain(track), name=f"serve/{self.session}/drain-{kind}")

    async def _drain(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            while True:
                await track.recv()
                self.touch()
                self.drained += 1
        except MediaStreamError:
            pass

    def _wake_tracks(self) -> None:
        for fut in self._track_waiters:
            if not fut.done():
                fut.set_result(None)

    def attach_channel(self, channel: Any, hello: protocol.Hello | None = None) -> None:
        """Use ``channel`` (the client's ``events`` data channel) both ways. ``hello`` is
        sent once the session is open too (``session_open``): a client may start talking
        when it arrives, and nothing is lost because the graph was still setting up."""
        self.channel = channel
        channel.on("message", self.on_message)
        self._hello = hello
        self._send_hello()
        if hello is None:
            self._flush_early()

    def session_open(self) -> None:
        """Every node of the session is set up (media time has started)."""
        self._session_open = True
        self._send_hello()

    @property
    def greeted(self) -> bool:
        """The client has been sent its ``hello`` (the first message it gets)."""
        return self._hello is None and self._session_open and self.channel is not None

    def _send_hello(self) -> None:
        if self._session_open and self.channel is not None and self._hello is not None:
            hello, self._hello = self._hello, None
            self._send_now(hello)
            self._flush_early()

    def _flush_early(self) -> None:
        while self._early:
            self._send_now(self._early.popleft())

    def on_message(self, data: str | bytes) -> None:
        """One data-channel message from the client: size, rate and format checked. Only
        an accepted one counts as the client's activity (a client sending nothing but
        refused messages is idle)."""
        now = self.clock.now()
        try:
            if not self._bucket.allow(now):
                raise protocol.ProtocolError("rate_limited", "too many messages; slow down")
            msg = protocol.decode_client(data, max_bytes=self.max_message_bytes)
        except protocol.ProtocolError as exc:
            self.refused += 1
            self._tell(now, exc.code, str(exc))
            return
        self.touch()
        self.received += 1
        if isinstance(msg, protocol.Text):
            if len(self._texts) == self._texts.maxlen:
                self.texts_dropped += 1
                self._tell(now, "text_dropped", f"typed text comes faster than the graph "
                           f"reads it; the oldest of {self._texts.maxlen} waiting was dropped")
            self._texts.append(msg.text)
            w = self._text_waiter
            if w is not None and not w.done():
                w.set_result(None)

    def _tell(self, now: int, code: str, message: str) -> None:
        """An ``error`` to the client, unless one went less than 250 ms before: two bad
        messages back to back get one reply, a flood at most four a second."""
        if now - self._last_refusal >= S // 4:
            self._last_refusal = now
            self._send_now(protocol.Error(code=code, message=message))

    async def next_text(self) -> str | None:
        """The next typed text, in order; None once the peer has closed. (A coroutine,
        not an async generator: a cancelled reader must leave no generator to finalise.)"""
        while not self._texts:
            if self.closed.is_set():
                return None
            self._text_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._text_waiter
            finally:
                self._text_waiter = None
        return self._texts.popleft()

    # -- outgoing ------------------------------------------------------------------------

    def send(self, msg: Any) -> bool:
        """Send one protocol message to the browser; False (counted) if the channel is not
        open, its send buffer is backed up (a client that stopped reading), or the session's
        last message was sent. Before the client's ``hello`` (the graph starts as soon as
        the offer is answered; the channel opens later) the message waits for it, so that
        what a graph says at its start (the skills it announces) is not lost; at most
        ``EARLY_CAPACITY`` wait, the oldest dropped (counted)."""
        if (self.channel is None or self._hello is not None) and not self._said_last:
            if len(self._early) == EARLY_CAPACITY:
                self._early.popleft()
                self.send_dropped += 1
            self._early.append(msg)
            return True
        return self._send_now(msg)

    def _send_now(self, msg: Any) -> bool:
        ch = self.channel
        if (self._said_last or ch is None or ch.readyState != "open"
                or ch.bufferedAmount > MAX_BUFFERED_BYTES):
            self.send_dropped += 1
            return False
        ch.send(protocol.encode(msg))
        self.sent += 1
        return True

    def send_last(self, *msgs: Any) -> None:
        """The session's last messages (why it ends), sent as soon as it is ending: what
        the graph sends afterwards, while its nodes tear down, is dropped (counted).
        Only the first call sends."""
        if self._said_last:
            return
        for msg in msgs:
            self._send_now(msg)
        self._said_last = True
        self._early.clear()

    # -- end -----------------------------------------------------------------------------

    def close(self) -> None:
        """The connection is over: sources end, waiters wake, the output track stops."""
        if self.closed.is_set():
            return
        self.closed.set()
        self._wake_tracks()
        w = self._text_waiter
        if w is not None and not w.done():
            w.set_result(None)
        if self.audio_out is not None:
            self.audio_out.stop()
        for track in self._tracks.values():
            track.stop()
        for task in self._drains.values():
            task.cancel()
