"""Session lifecycle: teardown on hang-up, on a client that vanishes, on shutdown; nothing
left behind (tasks, tracks, peers); data-channel limits; the live graph view; /metrics.

Slow (``pytest.mark.slow``): real time on a real event loop. aiortc's ICE, DTLS and
media pacing run on real sockets over loopback, which a fake clock cannot drive, so the
short real waits here (``asyncio.sleep``) let media start flowing, or show that nothing
more arrives."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import textwrap
import traceback
import weakref

import aiohttp
import numpy as np
import pytest

from flow import Graph, In, Node, Out, TextDelta
from flow.server.client import Client
from flow.server.sessions import Limits, SessionManager
from flow.server.testing import echo_graph, serving
from flow.units import MS, S

# Real time: real aiortc peers over real loopback sockets, with aiortc's own timers and
# codec threads; none of it can run on the fake clock, so these wait in real time.
pytestmark = pytest.mark.slow

VANISHING_CLIENT = textwrap.dedent("""
    import asyncio, sys
    import numpy as np
    from flow.server import ice
    from flow.server.client import Client

    async def main():
        ice.restrict_host_candidates(["127.0.0.1"])
        c = await Client.connect(sys.argv[1])
        c.mic.play(np.full(48000 * 30, 0.1, np.float32))
        await c.send_text("about to vanish")
        await c.wait_for("heard")
        print("connected", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
""")


async def settle(pred, within: float = 10.0) -> None:
    """Wait (polling the loop) until ``pred()`` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not pred():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.05)


async def refs_when_flowing(manager: SessionManager) -> tuple[weakref.ref, ...]:
    """Weak references to the only session's peer, outgoing and incoming tracks, once
    audio flows through its graph (strong ones would keep them alive)."""
    (served,) = manager.sessions.values()
    await settle(lambda: served.session.statistics().nodes[0].sent > 10)
    mic = served.peer._tracks["audio"]
    assert mic.readyState == "live"
    return weakref.ref(served.peer), weakref.ref(served.peer.audio_out), weakref.ref(mic)


def tasks() -> set[asyncio.Task]:
    return set(asyncio.all_tasks())


async def test_client_that_vanishes_leaves_nothing_behind() -> None:
    """A client process killed mid-session (no goodbye of any kind): the idle timeout
    closes its session; every task, track and peer it had is gone afterwards."""
    limits = Limits(idle_timeout=3 * S, stats_interval=100 * MS)  # roomy on a loaded CI box
    async with serving(echo_graph(), limits=limits) as srv:
        before = tasks()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", VANISHING_CLIENT, srv.url, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.getcwd()})
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line.strip() == b"connected"
            peer_ref, track_ref, mic_ref = await refs_when_flowing(srv.manager)
            assert len(tasks() - before) > 5  # the session, its nodes, aiortc's transports
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
        await settle(lambda: not srv.manager.sessions)
        assert srv.manager.closed == {"idle": 1}
        await settle(lambda: not (tasks() - before), within=5)
        gc.collect()
        assert peer_ref() is None and track_ref() is None and mic_ref() is None


async def test_an_offer_that_never_connects_gives_its_slot_back() -> None:
    """Answered offers whose client never connects held their slot until the idle timeout
    (30 s): eight of them locked everyone out. The connect timeout frees it."""
    from aiortc import RTCPeerConnection

    from flow.server import ice

    limits = Limits(max_sessions=1, connect_timeout=1 * S, stats_interval=100 * MS)
    async with serving(echo_graph(), limits=limits) as srv:
        pc = RTCPeerConnection(ice.rtc_configuration())
        pc.createDataChannel("events")
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
        await pc.close()  # the client goes away before connecting
        async with aiohttp.ClientSession() as http:
            async with http.post(srv.url + "/offer", json=offer) as r:
                assert r.status == 200
            async with http.post(srv.url + "/offer", json=offer) as r:
                assert r.status == 503  # the one slot is held...
            await settle(lambda: not srv.manager.sessions, within=10)
        assert srv.manager.closed == {"never connected": 1}  # ...until the connect timeout
        c = await Client.connect(srv.url)  # and a real client gets it
        assert await c.wait_for("hello")
        await c.close()


async def test_hang_up_tears_down_and_shutdown_closes_every_session() -> None:
    async with serving(echo_graph()) as srv:
        before = tasks()
        a = await Client.connect(srv.url)
        await a.close()
        await settle(lambda: not srv.manager.sessions)
        assert srv.manager.closed == {"connection closed": 1}
        await settle(lambda: not (tasks() - before), within=5)
        clients = [await Client.connect(srv.url) for _ in range(3)]
        assert len(srv.manager.sessions) == 3
        manager = srv.manager
    # leaving the block shut the server down gracefully, telling each client why
    assert manager.sessions == {} and manager.closed["shutdown"] == 3
    for c in clients:
        err = await c.wait_for("error")
        assert (err.code, err.message) == ("closed", "session closed: shutdown")
        await c.close()


async def test_data_channel_limits() -> None:
    limits = Limits(max_message_bytes=256, message_rate=5, message_burst=5)
    async with serving(echo_graph(), limits=limits) as srv:
        c = await Client.connect(srv.url)
        (served,) = srv.manager.sessions.values()
        c.send_raw('{"type": "text", "text": "' + "x" * 300 + '"}')
        err = await c.wait_for("error")
        assert err.code == "too_big"
        await asyncio.sleep(0.3)
        c.send_raw('{"type": "text", "text": "old", "v": 0}')
        assert (await c.wait_for("error", lambda m: m.code == "bad_version")).message
        await asyncio.sleep(1.2)  # refill the bucket
        for i in range(50):
            await c.send_text(f"flood {i}")
        await c.wait_for("error", lambda m: m.code == "rate_limited")
        await settle(lambda: served.peer.received + served.peer.refused >= 52)
        assert served.peer.received <= 5 + 2  # the burst, plus what refilled meanwhile
        # at most a few error replies for a flood: never an amplifier
        assert len(c.of("error")) <= 6
        assert srv.manager.sessions  # still connected
        await c.close()


async def test_graph_view_and_metrics() -> None:
    async with serving(echo_graph(), limits=Limits(stats_interval=100 * MS)) as srv:
        c = await Client.connect(srv.url)
        c.mic.play(np.full(48000, 0.2, np.float32))
        view = await c.wait_for("graph", lambda g: any(e.carried > 5 for e in g.edges))
        assert view.name == "echo_webrtc"
        assert {e.name for e in view.edges} == {"mic.audio -> voice.audio",
                                                "typed.text -> events.events"}
        assert {n.id for n in view.nodes} == {"mic", "typed", "voice", "events"}
        async with aiohttp.ClientSession() as http, http.get(srv.url + "/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await r.text()
        assert "microturn_sessions_open 1\n" in text
        assert f'microturn_edge_carried_total{{session="{c.session}",graph="echo_webrtc",' \
               'edge="mic.audio -> voice.audio",policy="drop_oldest"}' in text
        families = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE")]
        assert len(families) == len(set(families))  # each family's lines are together
        await c.close()


async def test_media_no_node_reads_is_drained_not_queued() -> None:
    """A graph without webrtc.audio_in: the client's microphone must not pile up in
    aiortc's unbounded per-track queue."""
    graph = Graph.build("typed_only", {"typed": ("webrtc.text_in", {}),
                                       "events": ("webrtc.events_out", {})},
                        ["typed.text -> events.events"])
    async with serving(graph, limits=Limits(stats_interval=100 * MS)) as srv:
        c = await Client.connect(srv.url)
        c.mic.play(np.full(48000 * 2, 0.1, np.float32))
        (served,) = srv.manager.sessions.values()
        await settle(lambda: served.peer.drained > 50)
        assert served.peer._tracks["audio"]._queue.qsize() < 10
        await c.close()


async def test_a_client_without_a_microphone_still_hears_the_graph() -> None:
    """``Client.connect(audio=False)`` offered no audio at all: a graph that speaks could
    not answer it. It now offers a receive-only audio transceiver."""
    async with serving(echo_graph()) as srv:
        c = await Client.connect(srv.url, audio=False)
        await c.send_text("no microphone")
        assert (await c.wait_for("heard")).text == "no microphone"
        await c.wait_until(lambda: len(c.audio) > 10)  # the graph's (silent) voice arrives
        (served,) = srv.manager.sessions.values()
        assert "audio" not in served.peer._tracks  # and nothing was sent to it
        await c.close()


async def test_a_text_only_client_talks_to_a_graph_that_does_not_speak() -> None:
    graph = Graph.build("typed_only", {"typed": ("webrtc.text_in", {}),
                                       "events": ("webrtc.events_out", {})},
                        ["typed.text -> events.events"])
    async with serving(graph) as srv:
        c = await Client.connect(srv.url, audio=False, listen=False)
        assert [t.kind for t in c.pc.getTransceivers()] == []
        await c.send_text("only text")
        assert (await c.wait_for("heard")).text == "only text"
        await c.close()


async def test_sessions_are_isolated() -> None:
    async with serving(echo_graph()) as srv:
        a, b = await Client.connect(srv.url), await Client.connect(srv.url)
        assert a.session != b.session
        await a.send_text("only for a")
        await b.send_text("only for b")
        assert (await a.wait_for("heard")).text == "only for a"
        assert (await b.wait_for("heard")).text == "only for b"
        await asyncio.sleep(0.3)
        assert [m.text for m in a.of("heard")] == ["only for a"]
        assert [m.text for m in b.of("heard")] == ["only for b"]
        await a.close()
        await b.close()


async def test_an_unordered_events_channel_is_refused_with_a_reason() -> None:
    """The protocol needs an ordered channel (a said delta lost or out of order garbles
    the transcript): the server says so on it, then closes it."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from flow.server import ice, protocol

    async with serving(echo_graph()) as srv:
        pc = RTCPeerConnection(ice.rtc_configuration())
        channel = pc.createDataChannel("events", ordered=False, maxRetransmits=0)
        got: list = []
        closed = asyncio.Event()
        channel.on("message", lambda data: got.append(protocol.decode_server(data)))
        channel.on("close", closed.set)
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
        async with aiohttp.ClientSession() as http, http.post(srv.url + "/offer",
                                                              json=offer) as r:
            answer = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        try:
            await asyncio.wait_for(closed.wait(), 10)
            assert [(m.code, m.message) for m in got] == [
                ("bad_channel", "the events channel must be ordered (docs/protocol.md)")]
        finally:
            await pc.close()


class CrashOnText(Node):
    """Passes typed text on; raises on "crash"."""

    text: In[TextDelta]
    out: Out[TextDelta]

    async def on_text(self, t: TextDelta) -> None:
        if "crash" in t.text:
            raise RuntimeError("boom: asked to crash")
        await self.out.send(t)


def crash_graph(**more: tuple) -> Graph:
    return Graph.build("crash_webrtc", {"typed": ("webrtc.text_in", {}),
                                        "crash": (CrashOnText, {}),
                                        "events": ("webrtc.events_out", {}), **more},
                       ["typed.text -> crash.text", "crash.out -> events.events"])


async def test_a_crashed_node_is_logged_with_its_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """The log said only "session X: session 'X': node 'crash' failed: RuntimeError: ...",
    the session twice and no traceback: where the node raised was nowhere."""
    async with serving(crash_graph()) as srv:
        c = await Client.connect(srv.url)
        await c.send_text("please crash")
        err = await c.wait_for("error", lambda m: m.code == "node_failed")
        assert err.message == f"session {c.session!r}: node 'crash' failed: RuntimeError: " \
                              "boom: asked to crash"
        await settle(lambda: not srv.manager.sessions)
        await c.close()
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == \
        f"session {c.session}: node 'crash' failed: RuntimeError: boom: asked to crash"
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    frames = traceback.extract_tb(record.exc_info[2])
    assert frames[-1].name == "on_text" and frames[-1].filename == __file__


#: set by a test before its graph runs; HoldsTeardown's teardown waits for it
held: dict[str, asyncio.Event] = {}


class HoldsTeardown(Node):
    """Runs until cancelled; its teardown then waits until the test lets it finish (a
    node closing a device or flushing a file, for seconds)."""

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def teardown(self) -> None:
        await held["teardown"].wait()


async def test_a_client_hears_why_its_session_ends_before_a_slow_teardown() -> None:
    """The closing message was sent after the graph's teardown: with a node whose
    teardown takes seconds (up to its 10 s grace), a client hung up on, or whose session
    a failed node ended, heard nothing for that long."""
    held["teardown"] = gate = asyncio.Event()
    graph = crash_graph(hold=(HoldsTeardown, {}))
    async with serving(graph, limits=Limits(stats_interval=100 * MS)) as srv:
        try:
            a, b = await Client.connect(srv.url), await Client.connect(srv.url)
            closing = asyncio.create_task(srv.manager.close(a.session, "hangup"))
            err = await a.wait_for("error")
            assert (err.code, err.message) == ("closed", "session closed: hangup")
            await b.send_text("crash")
            failed = await b.wait_for("error")
            assert failed.code == "node_failed"
            await b.wait_for("error", lambda m: m.code == "closed")
            assert [(m.code, m.message) for m in b.of("error")][1] == \
                ("closed", "session closed: node failed")
            assert not closing.done() and len(srv.manager.sessions) == 2  # still held
        finally:
            gate.set()
        assert await closing
        await settle(lambda: not srv.manager.sessions)
        assert srv.manager.closed == {"hangup": 1, "node failed": 1}
        assert len(a.of("error")) == 1 and len(b.of("error")) == 2  # nothing said twice
        await a.close()
        await b.close()


async def metrics_text(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as r:
        return await r.text()


def sample(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"{name}{{{want}}} ")]
    return float(line.rsplit(" ", 1)[1])


async def test_the_graphs_counters_outlive_its_sessions_with_bounded_labels() -> None:
    """An operator alerts on drops and failures over time; a session shorter than the
    scrape interval, or one that ended, must still count, under labels that do not grow
    with every session (per-session series go when their session does)."""
    edge = {"graph": "crash_webrtc", "edge": "typed.text -> crash.text", "policy": "block"}
    async with serving(crash_graph()) as srv:
        before = await metrics_text(srv.url)  # every series is there from the start, at 0
        assert sample(before, "microturn_graph_edge_carried_total", **edge) == 0
        assert sample(before, "microturn_graph_node_failures_total", graph="crash_webrtc",
                      node="crash", type="CrashOnText") == 0
        assert sample(before, "microturn_offers_rejected_total", reason="full") == 0
        assert sample(before, "microturn_sessions_closed_total", reason="node failed") == 0
        for text in ("one", "two", "please crash"):
            c = await Client.connect(srv.url)
            await c.send_text(text)
            if text == "please crash":
                await c.wait_for("error", lambda m: m.code == "node_failed")
            else:
                await c.wait_for("heard", within=5)
            await c.close()
            await settle(lambda: not srv.manager.sessions)
        text = await metrics_text(srv.url)
        live = await Client.connect(srv.url)
        await live.send_text("three")
        await live.wait_for("heard", within=5)
        with_live = await metrics_text(srv.url)
        await live.close()
    assert sample(text, "microturn_graph_edge_carried_total", **edge) == 3
    assert sample(text, "microturn_graph_node_failures_total", graph="crash_webrtc",
                  node="crash", type="CrashOnText") == 1
    assert sample(text, "microturn_graph_node_received_total", graph="crash_webrtc",
                  node="events", type="webrtc.events_out") == 2
    assert 'session="' not in text  # no session open: no per-session series
    assert sample(with_live, "microturn_graph_edge_carried_total", **edge) == 4
    families = [ln.split()[2] for ln in with_live.splitlines() if ln.startswith("# TYPE")]
    assert len(families) == len(set(families))
