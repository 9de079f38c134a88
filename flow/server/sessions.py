"""One graph session per peer connection, with limits and complete teardown.

``SessionManager.open(sdp, type)`` validates the offer, builds an ``RTCPeerConnection``
(no STUN; host candidates as ``ice.restrict_host_candidates`` set them), answers it, and
starts a ``flow.Session`` of the graph with ``services["webrtc"]`` = that connection's
``Peer``. A session ends when its graph ends, when the connection fails or closes, when
the client sends nothing (media, messages, pings) for ``idle_timeout``, when its connection
is not up ``connect_timeout`` after the answer, or on shutdown;
whichever comes first closes the peer connection, cancels the graph, and forgets it. A test
counts asyncio tasks and live tracks before and after to prove nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..clock import Clock, RealClock
from ..errors import FlowError, NodeFailed
from ..graph import Graph
from ..session import Session, SessionStatistics
from ..units import MS, S
from . import ice, metrics, protocol
from .peer import Peer

log = logging.getLogger("microturn.server")


#: A client needs three (audio, video, the data channel); more is a malformed or hostile offer.
MAX_MEDIA_SECTIONS = 6
#: The node that plays a graph's voice on the peer's outgoing audio track.
AUDIO_OUT = "webrtc.audio_out"


class OfferError(FlowError, ValueError):
    """An offer the server cannot accept (HTTP 400); the message says why."""


class SessionsFull(FlowError):
    """Every session slot is taken (HTTP 503)."""


@dataclass(frozen=True)
class Limits:
    max_sessions: int = 8
    idle_timeout: int = 30 * S
    #: an answered offer whose connection is not up by then is closed: a client that
    #: never connects must not hold a slot (eight of them would lock everyone out)
    connect_timeout: int = 10 * S
    max_message_bytes: int = protocol.MAX_MESSAGE_BYTES
    message_rate: float = 20.0  #: data-channel messages per second (average)
    message_burst: int = 40
    max_sdp_bytes: int = 64 * 1024
    playout_frames: int = 25  #: outgoing audio buffer, 20 ms frames
    jitter_prefetch: int | None = 1  #: inbound audio packets aiortc holds (None: aiortc's 4)
    stats_interval: int = 500 * MS  #: how often the browser gets the graph view


@dataclass
class Served:
    id: str
    pc: Any
    peer: Peer
    session: Session
    task: asyncio.Task[None] | None = None
    graph: asyncio.Task[None] | None = None
    reason: str = ""
    watch: asyncio.Task[None] | None = None
    torn_down: bool = False
    opened_at: int = 0  #: clock time the offer was answered
    connected: bool = False  #: the peer connection has been up
    failure: NodeFailed | None = None  #: the node failure that ends it, once reported


class SessionManager:
    def __init__(self, graph: Graph, *, limits: Limits | None = None,
                 clock: Clock | None = None, services: dict[str, Any] | None = None) -> None:
        self.graph = graph
        self.limits = limits or Limits()
        self.clock = clock or RealClock()
        self.services = dict(services or {})
        self.sessions: dict[str, Served] = {}
        self._pending = 0
        self._closing = False
        self.opened = 0
        self.rejected: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.ended = metrics.Totals.of(graph)  #: the counters of every session that ended
        #: the graph's nodes that speak to the client, which need an audio m-line
        self.speakers = sorted(d.id for d in graph.nodes.values() if d.type_name == AUDIO_OUT)

    # -- opening -------------------------------------------------------------------------

    def validate_offer(self, sdp: str, kind: str) -> None:
        if kind != "offer":
            raise OfferError(f"expected type 'offer', got {kind!r}")
        if len(sdp) > self.limits.max_sdp_bytes:
            raise OfferError(f"SDP of {len(sdp)} bytes exceeds {self.limits.max_sdp_bytes}")
        if not sdp.startswith("v=0"):
            raise OfferError("SDP must start with 'v=0'")
        from aiortc.sdp import SessionDescription

        try:
            parsed = SessionDescription.parse(sdp)
        except Exception as exc:  # aiortc's parser raises whatever the text provokes
            raise OfferError(f"malformed SDP: {type(exc).__name__}: {exc}") from None
        if not parsed.media:
            raise OfferError("SDP offers no media and no data channel")
        if len(parsed.media) > MAX_MEDIA_SECTIONS:
            raise OfferError(f"SDP has {len(parsed.media)} media sections; at most "
                             f"{MAX_MEDIA_SECTIONS} (microphone, camera, data channel...)")
        for m in parsed.media:
            if m.kind not in ("audio", "video", "application"):
                raise OfferError(f"unsupported media kind {m.kind!r}")
            if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
                raise OfferError(f"m={m.kind} has no ICE credentials (a=ice-ufrag/a=ice-pwd)")
            if m.dtls is None or not m.dtls.fingerprints:
                raise OfferError(f"m={m.kind} has no DTLS fingerprint")
        if self.speakers and not any(m.kind == "audio" for m in parsed.media):
            # Answered, the session would fail as it starts (no track to speak on) without
            # a word to the client, whose data channel is not open yet.
            raise OfferError(
                f"graph {self.graph.name} speaks (node {self.speakers[0]!r}, {AUDIO_OUT}) "
                "but the offer has no audio m-line: add a recvonly audio transceiver "
                "(pc.addTransceiver('audio', {direction: 'recvonly'})) to hear it")

    async def open(self, sdp: str, kind: str = "offer") -> tuple[str, str]:
        """Answer an offer and start its session: returns ``(session id, answer SDP)``.
        Raises ``SessionsFull``, ``OfferError`` (the offer's fault) or another
        ``FlowError`` (the server's: a setting or an aiortc it cannot work with)."""
        if self._closing:
            raise SessionsFull("the server is shutting down")
        if len(self.sessions) + self._pending >= self.limits.max_sessions:
            self.rejected["full"] += 1
            raise SessionsFull(f"all {self.limits.max_sessions} sessions are in use")
        try:
            self.validate_offer(sdp, kind)
        except OfferError:
            self.rejected["bad_offer"] += 1
            raise
        self._pending += 1
        try:
            return await self._open(sdp, kind)
        finally:
            self._pending -= 1

    async def _open(self, sdp: str, kind: str) -> tuple[str, str]:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from .tracks import OutgoingAudioTrack

        sid = uuid.uuid4().hex[:12]
        pc = RTCPeerConnection(ice.rtc_configuration())
        lim = self.limits
        peer = Peer(pc, clock=self.clock, session=sid,
                    max_message_bytes=lim.max_message_bytes, message_rate=lim.message_rate,
                    message_burst=lim.message_burst)
        session = Session(self.graph, clock=self.clock, id=sid,
                          services={**self.services, "webrtc": peer})
        served = Served(sid, pc, peer, session)
        hello = protocol.Hello(session=sid, graph=self.graph.name)

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == protocol.CHANNEL and peer.channel is None and channel.ordered:
                peer.attach_channel(channel, hello)
                return
            if channel.label == protocol.CHANNEL and not channel.ordered:
                # deltas out of order or lost would garble the transcript: say so, then close
                log.warning("session %s: the client's events channel is unordered; closed",
                            sid)
                if channel.readyState == "open":
                    channel.send(protocol.encode(protocol.Error(
                        code="bad_channel", message="the events channel must be ordered "
                        "(docs/protocol.md)")))
            channel.close()

        @pc.on("track")
        def on_track(track: Any) -> None:
            peer.add_track(track)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState == "connected":
                served.connected = True
            if pc.connectionState in ("failed", "closed"):
                self._close_soon(served, f"connection {pc.connectionState}")

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
            for t in pc.getTransceivers():
                if t.kind != "audio":
                    continue
                if lim.jitter_prefetch is not None:
                    ice.set_audio_prefetch(t.receiver, lim.jitter_prefetch)
                ice.decode_audio_inline(t.receiver)
                if peer.audio_out is None:
                    peer.audio_out = OutgoingAudioTrack(self.clock, capacity=lim.playout_frames,
                                                        encode=True)
                    t.sender.replaceTrack(peer.audio_out)
                    if t.direction == "recvonly":
                        t.direction = "sendrecv"
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except Exception as exc:  # aiortc rejects a bad offer with many exception types
            peer.close()
            # A connection that failed half-way can fail to close too (aiortc's close stops
            # an SCTP transport an unanswerable BUNDLE never created): that must not turn
            # the client's 400 into a 500.
            with contextlib.suppress(Exception):
                await pc.close()
            if isinstance(exc, OfferError):
                self.rejected["bad_offer"] += 1
                raise
            if isinstance(exc, FlowError):  # the server's own: its settings, its aiortc
                self.rejected["server_error"] += 1
                log.error("session %s: cannot answer an offer: %s", sid, exc)
                raise
            self.rejected["bad_offer"] += 1
            # The client's mistake, one line; aiortc's traceback only for whoever debugs it.
            log.warning("session %s: offer refused, aiortc cannot answer it: %s: %s", sid,
                        type(exc).__name__, exc)
            log.debug("session %s: aiortc's refusal", sid, exc_info=exc)
            raise OfferError(f"cannot answer this offer: {type(exc).__name__}: {exc}") from None
        self.sessions[sid] = served
        self.opened += 1
        served.opened_at = self.clock.now()
        served.task = asyncio.create_task(self._run(served), name=f"serve/{sid}")
        served.watch = asyncio.create_task(self._watch(served), name=f"serve/{sid}/watch")
        log.info("session %s opened (%d open)", sid, len(self.sessions))
        return sid, pc.localDescription.sdp

    # -- running -------------------------------------------------------------------------

    async def _run(self, served: Served) -> None:
        try:
            if not served.reason:  # not closed before it could start
                # The graph runs in its own task so that closing cancels only the graph,
                # never the teardown below.
                served.graph = asyncio.create_task(served.session.run(),
                                                   name=f"serve/{served.id}/graph")
                opened = asyncio.create_task(served.session.opened.wait())
                opened.add_done_callback(
                    lambda t: None if t.cancelled() else served.peer.session_open())
                try:
                    await served.graph
                finally:
                    opened.cancel()
                served.reason = served.reason or "graph ended"
        except NodeFailed as exc:
            self._node_failed(served, exc)
        except asyncio.CancelledError:
            served.reason = served.reason or "cancelled"
            if served.graph is not None:
                served.graph.cancel()
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # we were cancelled, not the graph
                await self._teardown(served)
                raise
        finally:
            await self._teardown(served)

    def _node_failed(self, served: Served, exc: NodeFailed) -> None:
        """Log a node's failure and tell the client, once."""
        if served.failure is not None:
            return
        served.failure = exc
        served.reason = "node failed"
        # the node's own traceback, where in its code it raised; the message without
        # NodeFailed's "session '...': ", which would say the session twice
        log.error("session %s: node %r failed: %s: %s", served.id, exc.node_id,
                  type(exc.exc).__name__, exc.exc, exc_info=exc.exc)
        self._say_closed(served, protocol.Error(code="node_failed", message=str(exc)))

    def _say_closed(self, served: Served, *before: Any) -> None:
        """Tell the client why its session ends, as soon as it is ending: the graph's
        teardown that follows may take seconds (a node's teardown has up to
        ``flow.node.TEARDOWN_GRACE``), and the client must not wait on it to hear why."""
        served.peer.send_last(*before, protocol.Error(
            code="closed", message=f"session closed: {served.reason}"))

    async def _watch(self, served: Served) -> None:
        """Push the graph view to the browser (after its ``hello``, which comes first),
        enforce the connect and idle timeouts, and report a failed node as soon as it
        raised (the graph reports it only once every node's teardown is over)."""
        lim = self.limits
        peer = served.peer
        while True:
            await self.clock.sleep(lim.stats_interval)
            if (failure := served.session.failure) is not None:
                self._node_failed(served, failure)
                return
            peer.drain_unclaimed()  # by now every node that reads a track has claimed it
            now = self.clock.now()
            if not served.connected and now - served.opened_at > lim.connect_timeout:
                self._close_soon(served, "never connected")
                return
            if now - peer.last_activity > lim.idle_timeout:
                self._close_soon(served, "idle")
                return
            if peer.greeted:
                peer.send(graph_view(served.session.statistics()))

    def _close_soon(self, served: Served, reason: str) -> None:
        if not served.reason:
            served.reason = reason
            self._say_closed(served)  # before the graph's teardown, however long it takes
        if served.graph is not None:  # if the graph has not started yet, _run sees the reason
            served.graph.cancel()

    async def _teardown(self, served: Served) -> None:
        """Close everything the session holds; it leaves ``sessions`` (and frees its slot)
        only once that is done."""
        if served.torn_down:
            return
        served.torn_down = True
        if served.watch is not None and served.watch is not asyncio.current_task():
            served.watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await served.watch
        # Say why, unless it was said as the session began to end (a no-op then).
        self._say_closed(served)
        served.peer.close()
        await served.pc.close()
        self.closed[served.reason] += 1
        self._count_ended(served)
        self.sessions.pop(served.id, None)
        log.info("session %s closed: %s (%d open)", served.id, served.reason,
                 len(self.sessions))

    async def close(self, sid: str, reason: str = "closed") -> bool:
        """Close one session and wait until it is gone; False if there is no such session."""
        served = self.sessions.get(sid)
        if served is None:
            return False
        self._close_soon(served, reason)
        if served.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await served.task
        return True

    async def shutdown(self) -> None:
        """Refuse new sessions and close every open one."""
        self._closing = True
        await asyncio.gather(*(self.close(sid, "shutdown") for sid in list(self.sessions)))

    def cadence(self) -> list[dict[str, Any]]:
        """Per session: how the outgoing audio kept time, and the data channel's counters
        (``GET /sessions``; the soak benchmark reads it)."""
        out = []
        for s in self.sessions.values():
            t = s.peer.audio_out
            p = s.peer
            out.append({
                "id": s.id, "media_time_ms": s.session.context.media_time() / MS,
                "audio_out": None if t is None else {
                    "frames": t.frames, "late_frames": t.late_frames,
                    "late_max_ms": t.late_max / MS, "resets": t.pacer.resets,
                    "underruns": t.buffer.underruns, "cut": t.buffer.cleared,
                    "queued": len(t.buffer)},
                "channel": {"received": p.received, "refused": p.refused, "sent": p.sent,
                            "send_dropped": p.send_dropped,
                            "texts_dropped": p.texts_dropped}})
        return out

    def statistics(self) -> list[SessionStatistics]:
        return [s.session.statistics() for s in self.sessions.values() if s.session.started]

    def totals(self) -> metrics.Totals:
        """The graph's counters over every session the server ran, the live ones so far."""
        totals = self.ended.plus(self.statistics())
        for s in self.sessions.values():
            _add_audio(totals, s)
        return totals

    def _count_ended(self, served: Served) -> None:
        if served.session.started:
            self.ended.add(served.session.statistics())
        _add_audio(self.ended, served)
        if served.failure is not None:
            decl = self.graph.nodes.get(served.failure.node_id)
            self.ended.failures[(served.failure.node_id,
                                 decl.type_name if decl else "?")] += 1


def _add_audio(totals: metrics.Totals, served: Served) -> None:
    t = served.peer.audio_out
    if t is not None:
        totals.audio["frames"] += t.frames
        totals.audio["late_frames"] += t.late_frames
        totals.audio["underruns"] += t.buffer.underruns


def graph_view(st: SessionStatistics) -> protocol.GraphView:
    """The browser's live graph view, from one session's statistics."""
    return protocol.GraphView(
        name=st.graph, media_time_ms=st.media_time / MS,
        nodes=[protocol.NodeView(id=n.id, type=n.type, received=n.received, sent=n.sent)
               for n in st.nodes],
        edges=[protocol.EdgeView(name=e.name, policy=e.policy, depth=e.depth,
                                 capacity=e.capacity, carried=e.carried, dropped=e.dropped,
                                 flushed=e.flushed) for e in st.edges])
