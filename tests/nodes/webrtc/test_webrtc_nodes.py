"""The webrtc nodes against a ``Peer`` with fake tracks and channel, on the fake clock: no
network, no real time."""

from __future__ import annotations

import asyncio
import fractions
import itertools

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from flow import (
    AudioFrame,
    Event,
    FakeClock,
    Graph,
    GraphError,
    Interrupt,
    NodeFailed,
    ParamError,
    TextDelta,
)
from flow.server import protocol
from flow.server.peer import Peer
from flow.server.tracks import OutgoingAudioTrack
from flow.testing import run_graph_async, run_node
from flow.units import MS, S
from nodes.types import Action, Heard
from nodes.webrtc._common import Inbox, Stamper
from nodes.webrtc.events_out import to_protocol


class FakeTrack:
    """Plays prepared av frames at ``period`` on the fake clock, then ends."""

    def __init__(self, kind: str, frames: list, clock: FakeClock, period: int) -> None:
        self.kind, self.frames, self.clock, self.period = kind, list(frames), clock, period
        self.readyState = "live"
        self._next: int | None = None

    async def recv(self) -> object:
        if not self.frames or self.readyState != "live":
            self.readyState = "ended"
            raise MediaStreamError
        self._next = self.clock.now() if self._next is None else self._next + self.period
        await self.clock.sleep_until(self._next)
        return self.frames.pop(0)

    def stop(self) -> None:
        self.readyState = "ended"


class FakeChannel:
    readyState = "open"
    bufferedAmount = 0

    def __init__(self) -> None:
        self.sent: list = []

    def on(self, event: str, handler: object) -> None:
        pass

    def send(self, data: str) -> None:
        self.sent.append(protocol.decode_server(data))


def tone_frames(n: int, freq: float = 440.0) -> list[av.AudioFrame]:
    """n 20 ms frames of 48 kHz stereo int16, as aiortc's Opus decoder gives them."""
    out = []
    for k in range(n):
        t = (np.arange(960) + 960 * k) / 48000
        mono = (0.5 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
        f = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16",
                                       layout="stereo")
        f.sample_rate, f.pts, f.time_base = 48000, 960 * k, fractions.Fraction(1, 48000)
        out.append(f)
    return out


def peer_with(clock: FakeClock, **tracks: list) -> Peer:
    peer = Peer(None, clock=clock)
    for kind, frames in tracks.items():
        period = 20 * MS if kind == "audio" else 33 * MS
        peer.add_track(FakeTrack(kind, frames, clock, period))
    return peer


def test_audio_in_resamples_to_mono_at_the_graph_rate() -> None:
    clock = FakeClock()
    peer = peer_with(clock, audio=tone_frames(50))
    r = run_node("webrtc.audio_in", {"sample_rate": 16000}, clock=clock,
                 services={"webrtc": peer})
    frames = r.of("audio", AudioFrame)
    assert all(f.sample_rate == 16000 and f.samples.dtype == np.float32 and
               f.samples.ndim == 1 for f in frames)
    x = np.concatenate([f.samples for f in frames])
    assert abs(len(x) - 16000) < 400  # one second, less the resampler's small delay
    spectrum = np.abs(np.fft.rfft(x[1000:9000]))
    assert abs(np.argmax(spectrum) * 16000 / 8000 - 440) <= 2
    for a, b in itertools.pairwise(frames):  # contiguous media time
        assert b.pts - a.pts == a.duration
    assert peer.last_activity > 900 * MS


def test_audio_in_at_48k_converts_as_the_resampler_would() -> None:
    """At 48 kHz the node skips libswresample; its samples are the resampler's, to 1 ulp."""
    frames = tone_frames(5)
    frames[2] = av.AudioFrame.from_ndarray(  # a different left and right channel
        np.arange(-960, 960, dtype=np.int16).reshape(1, -1) * 17, format="s16",
        layout="stereo")
    frames[2].sample_rate = 48000
    clock = FakeClock()
    peer = peer_with(clock, audio=frames)
    r = run_node("webrtc.audio_in", {"sample_rate": 48000}, clock=clock,
                 services={"webrtc": peer})
    got = [f.samples for f in r.of("audio", AudioFrame)]
    resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
    want = [np.concatenate([o.to_ndarray().reshape(-1) for o in resampler.resample(f)])
            for f in frames]
    assert len(got) == 5
    for g, w in zip(got, want, strict=True):
        assert g.dtype == np.float32 and g.shape == (960,)
        np.testing.assert_allclose(g, w, rtol=0, atol=2e-7)


def test_audio_in_ends_when_the_peer_closes_without_a_track() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock)

    async def main() -> list:
        graph = Graph.build("t", {"mic": ("webrtc.audio_in", {})}, [])
        asyncio.get_running_loop().call_later(0.5, peer.close)
        r = await run_graph_async(graph, outputs=["mic.audio"], clock=clock,
                                  services={"webrtc": peer})
        return r.outputs["mic.audio"]

    assert clock.run(main()) == []
    assert clock.now() == 500 * MS


def test_text_in_emits_accepted_texts_in_order() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock, max_message_bytes=100)
    ch = FakeChannel()
    peer.attach_channel(ch)
    for text in ("one", "two"):
        peer.on_message(protocol.encode_client(protocol.Text(text=text)))
    peer.on_message('{"type": "text", "text": "' + "x" * 200 + '"}')  # too big: refused
    peer.on_message('{"type": "ping"}')
    peer.on_message(protocol.encode_client(protocol.Text(text="three")))
    peer.close()
    r = run_node("webrtc.text_in", clock=clock, services={"webrtc": peer})
    texts = r.of("text", TextDelta)
    assert [t.text for t in texts] == ["one", "two", "three"]
    assert all(t.role == "user" and t.final for t in texts)
    assert [m.code for m in ch.sent] == ["too_big"]
    assert (peer.received, peer.refused) == (4, 1)


def test_video_in_keeps_only_the_newest_frame_at_the_fps_cap() -> None:
    clock = FakeClock()
    frames = []
    for k in range(30):  # one second at ~30 fps; the red channel says which frame it is
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., 0] = k
        f = av.VideoFrame.from_ndarray(img, format="rgb24")
        frames.append(f)
    peer = peer_with(clock, video=frames)
    r = run_node("webrtc.video_in", {"fps": 5, "width": 32, "height": 24}, clock=clock,
                 services={"webrtc": peer})
    out = r.outputs["video"]
    assert 5 <= len(out) <= 7
    assert all(v.image.shape == (24, 32, 3) for v in out)
    seen = [int(v.image[0, 0, 0]) for v in out]
    assert seen == sorted(seen) and seen[-1] >= 25  # newest frames, skipping the rest
    times = r.times["video"]
    assert all(b - a >= 200 * MS - 1 for a, b in itertools.pairwise(times))


async def _play(track: OutgoingAudioTrack, played: list, until: int) -> None:
    while track.clock.now() < until:
        f = await track.recv()
        played.append(f.to_ndarray().reshape(-1))


def test_audio_out_plays_in_real_time_and_interrupt_empties_the_buffer() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    peer.audio_out = OutgoingAudioTrack(clock)
    one_second = AudioFrame(samples=np.full(16000, 0.25, np.float32), sample_rate=16000)
    played: list[np.ndarray] = []

    async def main() -> None:
        player = asyncio.create_task(_play(peer.audio_out, played, 3 * S))
        graph = Graph.build("t", {"out": ("webrtc.audio_out", {"buffer": "200ms"})}, [])
        await run_graph_async(graph, {"out.audio": [one_second, one_second]}, clock=clock,
                              services={"webrtc": peer})
        await player

    clock.run(main())
    voiced = [bool(np.abs(p).max() > 1000) for p in played]
    assert len(played) == 151  # frames due at 0, 20 ms, ... 3 s: on time
    assert 98 <= sum(voiced) <= 100  # two seconds of audio, then silence
    assert abs(int(np.median(played[50])) - 8192) < 200
    assert peer.audio_out.pacer.resets == 0

    # Now with an interrupt after the first second has been queued.
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    peer.audio_out = OutgoingAudioTrack(clock)
    played = []

    async def main2() -> None:
        player = asyncio.create_task(_play(peer.audio_out, played, 3 * S))
        graph = Graph.build("t", {"out": ("webrtc.audio_out", {"buffer": "200ms"})}, [])
        inputs = [one_second, Interrupt(pts=500 * MS, reason="barge-in"),
                  AudioFrame(pts=600 * MS, samples=one_second.samples, sample_rate=16000)]
        await run_graph_async(graph, {"out.audio": inputs}, clock=clock, pace="pts",
                              services={"webrtc": peer})
        await player

    clock.run(main2())
    # Frame 0 is silence (nothing queued yet); at 500 ms 24 frames have played, the 10
    # queued (the 200 ms buffer) are cut and nothing more of the first second is queued,
    # not even the frame that was waiting for room; then the second second plays in full.
    assert peer.audio_out.buffer.cleared == 10
    voiced = [bool(np.abs(p).max() > 1000) for p in played]
    assert voiced[1:25] == [True] * 24 and not any(voiced[25:30])
    assert sum(voiced) == 24 + 50


def test_audio_out_interrupt_is_heard_within_one_frame() -> None:
    """Audio queued ahead of the speaker is cut the moment the Interrupt arrives."""
    clock = FakeClock()
    track = OutgoingAudioTrack(clock, capacity=10)
    played: list[tuple[int, bool]] = []

    async def main() -> None:
        for _ in range(10):
            await track.put(np.full(960, 9000, np.int16))
        for _ in range(3):
            f = await track.recv()
            played.append((clock.now(), bool(f.to_ndarray().any())))
        assert track.clear() == 7
        f = await track.recv()
        played.append((clock.now(), bool(f.to_ndarray().any())))

    clock.run(main())
    assert played == [(0, True), (20 * MS, True), (40 * MS, True), (60 * MS, False)]


def test_events_out_maps_messages_to_the_protocol() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    ch = FakeChannel()
    peer.attach_channel(ch)
    msgs = [Heard(pts=0, text="twenty dollars", final=False, start=100 * MS, end=900 * MS),
            TextDelta(text="Twenty ", role="model"), TextDelta(text="dollars.", role="model",
                                                               final=True),
            Action(kind="speak", text="hi", turn=7, reaction=310 * MS),
            Event(kind="metrics", data={"tick_late_ms": 1.5, "missed": 0, "steps": 3}),
            Event(kind="timer", data={"left": 3}), Interrupt(pts=1 * S, reason="barge-in")]
    run_node("webrtc.events_out", inputs={"events": msgs}, clock=clock, pace="pts",
             services={"webrtc": peer})
    assert ch.sent == [
        protocol.Heard(text="twenty dollars", final=False, start_ms=100.0, end_ms=900.0),
        protocol.Said(text="Twenty "), protocol.Said(text="dollars.", final=True),
        protocol.Action(kind="speak", text="hi", turn=7, reaction_ms=310.0),
        protocol.Metrics(reaction_ms=310.0),
        protocol.Metrics(tick_late_ms=1.5, missed=0, data={"steps": 3}),
        protocol.Action(kind="timer", data={"left": 3}),
        protocol.Action(kind="interrupt", text="barge-in")]
    assert to_protocol(AudioFrame(samples=np.zeros(1), sample_rate=8000)) == []


def test_events_out_never_blocks_on_a_closed_channel() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    ch = FakeChannel()
    ch.readyState = "closed"
    peer.attach_channel(ch)
    run_node("webrtc.events_out", inputs={"events": [TextDelta(text="x", role="model")] * 5},
             clock=clock, services={"webrtc": peer})
    assert (peer.sent, peer.send_dropped) == (0, 5)


@pytest.mark.parametrize("node", ["webrtc.audio_in", "webrtc.text_in", "webrtc.video_in",
                                  "webrtc.audio_out", "webrtc.events_out"])
def test_without_a_peer_the_error_says_how_to_serve(node: str) -> None:
    with pytest.raises(NodeFailed) as err:
        run_node(node)
    assert isinstance(err.value.exc, ParamError)
    assert "microturn serve" in str(err.value)


def test_bad_params() -> None:
    with pytest.raises(GraphError, match=r"with\.sample_rate"):
        Graph.build("t", {"mic": ("webrtc.audio_in", {"sample_rate": "fast"})}, [])
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    peer.audio_out = OutgoingAudioTrack(clock)
    with pytest.raises(GraphError, match=r"with a unit .* got '400' - at with\.buffer"):
        run_node("webrtc.audio_out", {"buffer": "400"}, clock=clock, services={"webrtc": peer})
    with pytest.raises(NodeFailed, match=r"at least 20ms - at with\.buffer"):
        run_node("webrtc.audio_out", {"buffer": "10ms"}, clock=clock, services={"webrtc": peer})
    with pytest.raises(NodeFailed, match=r"sample_rate must be 8000\.\.48000"):
        run_node("webrtc.audio_in", {"sample_rate": 1000}, clock=clock,
                 services={"webrtc": peer})


def test_stamper_contiguous_then_reanchors_after_a_gap() -> None:
    s = Stamper(16000)
    assert s.stamp(20 * MS, 320) == 0
    assert s.stamp(45 * MS, 320) == 20 * MS  # jitter does not move pts
    assert s.stamp(2 * S, 320) == 2 * S - 20 * MS and s.reanchors == 1


def test_stamper_follows_source_timestamps_through_a_stall() -> None:
    """RTP-timed frames that arrive 500 ms late, then in a burst, stay contiguous (arrival
    alone would re-anchor there and cut an utterance in two)."""
    s = Stamper(16000)
    arrivals = [20 * MS, 40 * MS, 560 * MS, 561 * MS, 562 * MS, 600 * MS]
    pts = []
    for k, arrival in enumerate(arrivals):
        assert s.source(960 * k, 960, 48000) == 0
        pts.append(s.stamp(arrival, 320))
    assert pts == [k * 20 * MS for k in range(6)] and s.reanchors == 0


def test_stamper_fills_lost_packets_and_reanchors_after_a_long_gap() -> None:
    s = Stamper(16000)
    assert (s.source(2**32 - 960, 960, 48000), s.stamp(20 * MS, 320)) == (0, 0)
    assert (s.source(0, 960, 48000), s.stamp(40 * MS, 320)) == (0, 20 * MS)  # wrapped
    # Two packets lost: 40 ms of silence to fill, then the frame, all contiguous.
    assert s.source(960 * 3, 960, 48000) == 640 and s.filled == 640
    assert s.stamp(100 * MS, 640) == 40 * MS and s.stamp(100 * MS, 320) == 80 * MS
    # A second without packets (a muted sender): a gap; the next frame starts at arrival.
    assert s.source(960 * 4 + 48000, 960, 48000) == 0
    assert s.stamp(1200 * MS, 320) == 1180 * MS and s.reanchors == 1
    # A timestamp far behind (a new stream) re-anchors too; a resent frame does not.
    assert s.source(960 * 4 + 48000, 960, 48000) == 0
    assert s.stamp(1220 * MS, 320) == 1200 * MS and s.reanchors == 1
    assert s.source(5, 960, 48000) == 0
    assert s.stamp(1300 * MS, 320) == 1280 * MS and s.reanchors == 2


class StallingTrack(FakeTrack):
    """Frame 10 and the ones queued behind it come 400 ms late, then all at once."""

    async def recv(self) -> object:
        if len(self.frames) == 20:
            await self.clock.sleep_until(self.clock.now() + 400 * MS)
            self._next = self.clock.now()  # the backlog is read at once from here on
            self.period = 0
        return await super().recv()


def test_audio_in_keeps_time_through_a_stall_and_fills_a_lost_packet() -> None:
    """The node stamps by the frames' RTP timestamps: a frame lost on the way becomes
    20 ms of silence in place, and frames held up for 400 ms stay contiguous."""
    frames = tone_frames(31)
    del frames[5]  # lost on the way
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    peer.add_track(StallingTrack("audio", frames, clock, 20 * MS))
    r = run_node("webrtc.audio_in", {"sample_rate": 48000}, clock=clock,
                 services={"webrtc": peer})
    got = r.of("audio", AudioFrame)
    assert len(got) == 31  # 30 frames and the silence in place of the lost one
    for a, b in itertools.pairwise(got):
        assert b.pts - a.pts == a.duration
    assert not got[5].samples.any() and got[5].duration == 20 * MS
    assert all(f.samples.any() for f in got[:5] + got[6:])
    assert got[-1].pts - got[0].pts == 30 * 20 * MS  # the stall left no gap


class BackloggedTrack(FakeTrack):
    """The first 25 frames wait in the track until 1 s (the session being set up), then
    come at once; the rest at their pace."""

    sent = 0

    async def recv(self) -> object:
        if not self.frames:
            raise MediaStreamError
        k, self.sent = self.sent, self.sent + 1
        due = 1000 * MS + max(0, k - 24) * self.period
        if due > self.clock.now():  # (a queued frame is returned at once, as aiortc's are)
            await self.clock.sleep_until(due)
        return self.frames.pop(0)


def test_audio_in_stamps_the_backlog_of_a_session_start_back_from_its_arrival() -> None:
    """Frames queued while a session was set up are read at once: they are stamped as
    spoken, ending when they arrived, and the live frames after them follow on."""
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    track = BackloggedTrack("audio", tone_frames(40), clock, 20 * MS)
    peer.add_track(track)
    r = run_node("webrtc.audio_in", {"sample_rate": 48000}, clock=clock,
                 services={"webrtc": peer})
    got = r.of("audio", AudioFrame)
    assert len(got) == 40
    for a, b in itertools.pairwise(got):
        assert b.pts - a.pts == a.duration
    assert got[24].pts + 20 * MS == 1000 * MS  # the last queued frame ended as it came
    assert got[0].pts == 500 * MS and got[-1].pts + 20 * MS == 1300 * MS  # live: on time


def test_inbox_drops_oldest_and_ends() -> None:
    async def main() -> list:
        box: Inbox[int] = Inbox(2)
        for i in range(5):
            box.put(i)
        box.close()
        return [await box.get(), await box.get(), await box.get(), box.dropped]

    assert FakeClock().run(main()) == [3, 4, None, 3]


def test_hello_waits_for_the_channel_and_the_session_both() -> None:
    """A client starts talking at ``hello``: it must not come while the graph is still
    setting up (the ears loading their model would miss the first words)."""
    hello = protocol.Hello(session="s1", graph="g")
    for order in ("channel first", "session first"):
        peer = Peer(None, clock=FakeClock())
        ch = FakeChannel()
        if order == "channel first":
            peer.attach_channel(ch, hello)
            assert ch.sent == []
            peer.session_open()
        else:
            peer.session_open()
            assert ch.sent == []
            peer.attach_channel(ch, hello)
        assert ch.sent == [hello]
        peer.session_open()
        assert ch.sent == [hello]  # once



def test_hello_is_the_first_message_a_client_gets() -> None:
    """The server's graph view waits for ``greeted``: before, a session still setting up
    sent 'graph' ahead of 'hello' (docs/protocol.md: hello comes first)."""
    peer = Peer(None, clock=FakeClock())
    channel = FakeChannel()
    peer.attach_channel(channel, protocol.Hello(session="s", graph="g"))
    assert not peer.greeted and channel.sent == []  # the session is not open yet
    peer.session_open()
    assert peer.greeted and [type(m).__name__ for m in channel.sent] == ["Hello"]


def test_typed_text_dropped_for_want_of_room_is_told_and_counted() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    channel = FakeChannel()
    peer.attach_channel(channel)
    for i in range(18):  # 16 wait at most
        peer.on_message(protocol.encode_client(protocol.Text(text=f"t{i}")))
    assert peer.texts_dropped == 2 and peer._texts[0] == "t2"  # the oldest went
    errors = [m for m in channel.sent if isinstance(m, protocol.Error)]
    assert [e.code for e in errors] == ["text_dropped"]  # at most four a second


def test_refused_messages_are_not_the_client_s_activity() -> None:
    clock = FakeClock()
    peer = Peer(None, clock=clock)
    peer.attach_channel(FakeChannel())


    async def five_seconds_later() -> None:
        await clock.sleep(5 * S)
        peer.on_message("not json")
        assert peer.last_activity == 0 and peer.refused == 1
        peer.on_message(protocol.encode_client(protocol.Ping()))
        assert peer.last_activity == 5 * S

    clock.run(five_seconds_later())
