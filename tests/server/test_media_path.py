"""The server's per-packet shortcuts: its own Opus encoding of the outgoing track, inline
decoding of inbound audio (instead of aiortc's decoder thread), and the load generator's
pre-encoded microphone. Real peers over loopback are in test_roundtrip.py; these check
each piece alone."""

from __future__ import annotations

import fractions
import threading

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import RemoteStreamTrack

from flow import FlowError
from flow.clock import FakeClock
from flow.server import ice
from flow.server.client import PacketMicTrack, encode_opus
from flow.server.tracks import OpusFrameEncoder, OutgoingAudioTrack
from flow.units import MS

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                             payloadType=111)


def tone(seconds: float, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(48000 * seconds)) / 48000
    return (level * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def decode(packets: list[bytes]) -> np.ndarray:
    """What aiortc's receiver does with them: decode to 48 kHz stereo, keep the left."""
    from aiortc.codecs import get_decoder

    dec = get_decoder(OPUS)
    out = []
    for k, p in enumerate(packets):
        for f in dec.decode(JitterFrame(data=p, timestamp=k * 960)):
            out.append(f.to_ndarray().reshape(-1, 2)[:, 0])
    return np.concatenate(out)


def test_opus_frame_encoder_gives_one_packet_per_frame_that_decodes_to_the_input() -> None:
    enc = OpusFrameEncoder()
    x = tone(1.0)
    packets = [enc.encode(x[k * 960:(k + 1) * 960], k) for k in range(50)]
    assert [p.pts for p in packets] == [k * 960 for k in range(50)]
    assert all(p.time_base == fractions.Fraction(1, 48000) for p in packets)
    y = decode([bytes(p) for p in packets])
    assert len(y) == 48000
    spectrum = np.abs(np.fft.rfft(y[4800:43200]))
    assert abs(np.argmax(spectrum) / (38400 / 48000) - 440) <= 2
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    assert abs(rms(y[4800:]) / rms(x[4800:]) - 1) < 0.1


def test_encoding_track_hands_aiortc_packets_paced_like_frames() -> None:
    clock = FakeClock()
    track = OutgoingAudioTrack(clock, capacity=10, encode=True)
    got: list[tuple[int, av.Packet]] = []

    async def main() -> None:
        for _ in range(3):
            await track.put(tone(0.02))
        for _ in range(5):
            packet = await track.recv()
            got.append((clock.now(), packet))

    clock.run(main())
    assert [t for t, _ in got] == [k * 20 * MS for k in range(5)]
    assert all(isinstance(p, av.Packet) for _, p in got)
    assert [p.pts for _, p in got] == [k * 960 for k in range(5)]
    y = decode([bytes(p) for _, p in got])
    assert np.abs(y[:2400]).max() > 3000 and np.abs(y[-960:]).max() < 300  # voiced, then silence


async def test_inline_decoding_feeds_the_track_and_ends_it_with_the_receiver() -> None:
    pc = RTCPeerConnection(ice.rtc_configuration())
    try:
        receiver = pc.addTransceiver("audio").receiver
        video = pc.addTransceiver("video").receiver
        assert not ice.decode_audio_inline(video)
        assert ice.decode_audio_inline(receiver)
        receiver._track = RemoteStreamTrack(kind="audio")  # as setRemoteDescription does
        q = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
        for k, p in enumerate(encode_opus(tone(0.1))):
            q.put((OPUS, JitterFrame(data=p, timestamp=k * 960)))
        assert q.decoded == 5 and receiver.track._queue.qsize() == 5
        frame = await receiver.track.recv()
        assert frame.sample_rate == 48000 and frame.samples == 960
        # aiortc's decoder thread, as the receiver starts it, waits on the queue until the
        # receiver stops; then the track ends after the frames already decoded.
        waiting = threading.Thread(target=q.get)
        waiting.start()
        q.put(None)
        waiting.join(timeout=5)
        assert not waiting.is_alive()
        q.put((OPUS, JitterFrame(data=b"\xff\xff", timestamp=0)))  # garbage: skipped
        assert q.errors == 1 and q.decoded == 5
    finally:
        await pc.close()


def test_inline_decoding_refuses_a_started_receiver() -> None:
    class Started:
        _RTCRtpReceiver__jitter_buffer = object()
        _RTCRtpReceiver__decoder_queue = object()
        _RTCRtpReceiver__decoder_thread = object()

    with pytest.raises(FlowError, match="already started"):
        ice.decode_audio_inline(Started())


def test_packet_mic_loops_its_packets_in_real_time() -> None:
    clock = FakeClock()
    packets = encode_opus(tone(0.06))
    assert len(packets) == 3
    mic = PacketMicTrack(packets, clock)
    got: list[tuple[int, av.Packet]] = []

    async def main() -> None:
        for _ in range(7):
            packet = await mic.recv()
            got.append((clock.now(), packet))

    clock.run(main())
    assert [bytes(p) for _, p in got] == [packets[k % 3] for k in range(7)]
    assert [p.pts for _, p in got] == [k * 960 for k in range(7)]
    assert [t for t, _ in got] == [k * 20 * MS for k in range(7)]
