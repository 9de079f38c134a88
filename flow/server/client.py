"""A Python WebRTC client of ``microturn serve``, for tests, benchmarks and scripts.

    client = await Client.connect("http://127.0.0.1:8080")
    client.mic.play(samples_48k)             # speak (mono int16 or float at 48 kHz)
    await client.send_text("hello")
    ev = await client.wait_for("heard", within=5)
    await client.close()

It sends a microphone track paced in real time (silence between utterances, like a real
microphone), opens the ``events`` data channel, and records what comes back: every protocol
message with its arrival time, and the received audio's loudness per 20 ms frame, so a
caller can measure when a reply started.

``LoadClient`` is the cheap variant for load generation (``bench/webrtc.py``'s concurrency
and soak runs), where the clients are not the system under test: its microphone sends
Opus packets encoded once and looped (no encoding per frame), and it counts the audio it
receives per RTP packet (arrival times only, no Opus decoding). ICE, DTLS, SRTP, RTP and
the data channel are the same as ``Client``'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import av
import msgspec
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..clock import Clock, RealClock
from . import ice, protocol
from .playout import FRAME_SAMPLES, PTIME, RATE, Pacer

_TB = fractions.Fraction(1, RATE)


class MicTrack(MediaStreamTrack):
    """A microphone that plays queued samples in real time and silence otherwise. Records
    the clock time at which each voiced frame was handed to the encoder."""

    kind = "audio"

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__()
        self.clock = clock or RealClock()
        self.pacer = Pacer(PTIME)
        self._pending = np.zeros(0, np.int16)
        self.sent_voiced: list[int] = []  #: clock time of each frame with samples to play
        self.started: list[int] = []  #: clock time at which each play() began to be sent
        self._starts = 0

    def play(self, samples: np.ndarray) -> None:
        """Queue mono samples at 48 kHz (int16, or float in [-1, 1])."""
        if samples.dtype != np.int16:
            samples = np.clip(samples * 32767, -32768, 32767).astype(np.int16)
        if not len(self._pending):
            self._starts += 1
        self._pending = np.concatenate([self._pending, samples])

    @property
    def idle(self) -> bool:
        return not len(self._pending)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        k = self.pacer.k
        await self.clock.sleep_until(self.pacer.next_due(self.clock.now()))
        if len(self._pending):
            if self._starts > len(self.started):
                self.started.append(self.clock.now())
            chunk = self._pending[:FRAME_SAMPLES]
            self._pending = self._pending[FRAME_SAMPLES:]
            if len(chunk) < FRAME_SAMPLES:
                chunk = np.concatenate([chunk, np.zeros(FRAME_SAMPLES - len(chunk), np.int16)])
            self.sent_voiced.append(self.clock.now())
        else:
            chunk = np.zeros(FRAME_SAMPLES, np.int16)
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, k * FRAME_SAMPLES, _TB
        return frame


def encode_opus(samples: np.ndarray, *, bit_rate: int = 32000) -> list[bytes]:
    """Mono int16 samples at 48 kHz -> one Opus packet per whole 20 ms frame (libopus,
    ``voip``), in order. Decodable in a stream negotiated as ``opus/48000/2``."""
    codec = av.CodecContext.create("libopus", "w")
    codec.bit_rate, codec.format, codec.layout = bit_rate, "s16", "mono"
    codec.sample_rate, codec.time_base = RATE, _TB
    codec.options = {"application": "voip"}
    packets: list[bytes] = []
    for k in range(len(samples) // FRAME_SAMPLES):
        frame = av.AudioFrame.from_ndarray(
            samples[k * FRAME_SAMPLES:(k + 1) * FRAME_SAMPLES].reshape(1, -1),
            format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, k * FRAME_SAMPLES, _TB
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets[:len(samples) // FRAME_SAMPLES]


class PacketMicTrack(MediaStreamTrack):
    """A load generator's microphone: the given Opus packets (``encode_opus``), looped
    forever, one per 20 ms in real time. aiortc's sender only packetises an ``av.Packet``
    (no encoder, no thread hand-off). ``play()`` is not supported."""

    kind = "audio"

    def __init__(self, packets: list[bytes], clock: Clock | None = None) -> None:
        super().__init__()
        if not packets:
            raise ValueError("PacketMicTrack needs at least one packet")
        self.clock = clock or RealClock()
        self.pacer = Pacer(PTIME)
        self.packets = packets

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        k = self.pacer.k
        await self.clock.sleep_until(self.pacer.next_due(self.clock.now()))
        packet = av.Packet(self.packets[k % len(self.packets)])
        packet.pts, packet.time_base = k * FRAME_SAMPLES, _TB
        return packet


class Client:
    def __init__(self, clock: Clock | None = None, *, keep_audio_s: float = 60.0) -> None:
        self.clock = clock or RealClock()
        self.pc = RTCPeerConnection(ice.rtc_configuration())
        self.mic = MicTrack(self.clock)
        self.session = ""
        self.events: list[tuple[int, Any]] = []  #: (arrival clock ns, protocol message)
        #: (arrival clock ns, peak |sample| as a fraction of full scale) per received frame
        self.audio: deque[tuple[int, float]] = deque(maxlen=int(keep_audio_s * 50))
        self.audio_samples: deque[np.ndarray] = deque(maxlen=int(keep_audio_s * 50))
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.channel: Any = None
        self.unknown: list[str | bytes] = []

    @classmethod
    async def connect(cls, url: str, *, token: str | None = None, audio: bool = True,
                      listen: bool = True, jitter_prefetch: int | None = 1,
                      clock: Clock | None = None, within: float = 10.0) -> Client:
        """Offer to ``url``/offer, wait until the data channel is open and said hello.
        ``audio``: send the microphone; ``listen``: receive the graph's voice (without a
        microphone, a receive-only audio transceiver). ``audio=False, listen=False`` is a
        text-only client, which a graph that speaks refuses. Raises ``ConnectionError``
        with the server's reason when it refuses."""
        self = cls(clock)
        try:
            await asyncio.wait_for(self._connect(url, token, audio, listen, jitter_prefetch),
                                   within)
        except BaseException:
            await self.close()
            raise
        return self

    async def _connect(self, url: str, token: str | None, audio: bool, listen: bool,
                       jitter_prefetch: int | None) -> None:
        import aiohttp

        pc = self.pc
        self.channel = pc.createDataChannel(protocol.CHANNEL)
        self.channel.on("message", self._on_message)
        if audio and listen:
            pc.addTrack(self.mic)
        elif audio:
            pc.addTransceiver(self.mic, direction="sendonly")
        elif listen:
            pc.addTransceiver("audio", direction="recvonly")
        self._receive_audio()
        await pc.setLocalDescription(await pc.createOffer())
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as http, http.post(
                url.rstrip("/") + "/offer", headers=headers,
                json={"sdp": pc.localDescription.sdp, "type": "offer"}) as resp:
            if resp.status != 200:  # a proxy's refusal may not be the server's JSON
                text = await resp.text()
                try:
                    reason = json.loads(text).get("message", text)
                except (ValueError, AttributeError):
                    reason = text.strip()[:200]
                raise ConnectionError(f"{resp.status}: {reason}")
            body = await resp.json()
        self.session = body["session"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type="answer"))
        if jitter_prefetch is not None:
            for t in pc.getTransceivers():
                if t.kind == "audio":
                    ice.set_audio_prefetch(t.receiver, jitter_prefetch)
        await self.wait_for("hello")

    def _receive_audio(self) -> None:
        """Read the server's audio track as it arrives (decoded frames, into ``audio``)."""
        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                self._tasks.append(asyncio.create_task(self._read_audio(track)))

    def received_times(self) -> list[int]:
        """Arrival clock times of the audio frames received (the last ``keep_audio_s``)."""
        return [t for t, _ in self.audio]

    def _on_message(self, data: str | bytes) -> None:
        try:
            msg = protocol.decode_server(data)
        except msgspec.DecodeError:
            msg = None
        if msg is None:
            self.unknown.append(data)  # a newer server's message type: ignored, kept
            return
        self.events.append((self.clock.now(), msg))
        self._changed.set()

    async def _read_audio(self, track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                x = frame.to_ndarray()
                if frame.layout.name != "mono":
                    x = x.reshape(-1, len(frame.layout.channels))[:, 0]
                x = x.reshape(-1)
                self.audio.append((self.clock.now(), float(np.abs(x).max()) / 32768.0))
                self.audio_samples.append(x)
                self._changed.set()

    # -- talking ---------------------------------------------------------------------------

    async def send_text(self, text: str) -> None:
        self.send_raw(protocol.encode_client(protocol.Text(text=text)))

    def send_raw(self, data: str | bytes) -> None:
        self.channel.send(data)

    async def wait_until(self, pred: Callable[[], Any], within: float = 10.0) -> Any:
        """Wait until ``pred()`` returns something truthy (re-checked on every arrival)."""
        deadline = time.monotonic() + within
        while True:
            got = pred()
            if got:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"timed out after {within}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.1))

    async def wait_for(self, kind: str, pred: Callable[[Any], bool] = lambda m: True,
                       within: float = 10.0, after: int = 0) -> Any:
        """The first ``kind`` message (e.g. ``heard``) matching ``pred`` that arrived after
        clock time ``after``."""
        def find() -> Any:
            for t, m in self.events:
                if t >= after and type(m).__struct_config__.tag == kind and pred(m):
                    return m
            return None

        return await self.wait_until(find, within)

    def of(self, kind: str) -> list[Any]:
        return [m for _, m in self.events if type(m).__struct_config__.tag == kind]

    def voiced_after(self, t: int, threshold: float = 0.05) -> int | None:
        """Arrival time of the first received frame louder than ``threshold`` after ``t``."""
        for at, peak in self.audio:
            if at >= t and peak >= threshold:
                return at
        return None

    def _burst_started(self, count: int) -> bool:
        return len(self.mic.started) >= count

    async def burst_round_trips(self, n: int, *, gap: float = 0.3) -> list[float]:
        """Play ``n`` 100 ms tone bursts into the microphone, ``gap`` seconds apart, and
        return the ms from each burst's first frame leaving to the first loud frame coming
        back (through a graph that plays the microphone back, such as the echo graph)."""
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(4800) / 48000)).astype(np.float32)
        rtts: list[float] = []
        for i in range(n):
            self.mic.play(tone)
            await self.wait_until(functools.partial(self._burst_started, i + 1))
            sent: int = self.mic.started[i]
            back: int = await self.wait_until(functools.partial(self.voiced_after, sent),
                                              within=5)
            rtts.append((back - sent) / 1e6)
            await asyncio.sleep(gap)
        return rtts

    async def close(self) -> None:
        """Hang up: closes the peer connection (the server sees it close) and stops reading."""
        self.mic.stop()
        await self.pc.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


class LoadClient(Client):
    """A cheap client for load generation: the microphone loops ``packets`` (Opus, see
    ``encode_opus``; by default a quiet 220 Hz tone) and received audio is counted per RTP
    packet, by arrival time, without decoding: aiortc's receiver never sees the packets
    (no jitter buffer, no decoder thread work, no RTCP receiver reports), so
    ``audio``/``audio_samples``/``voiced_after`` stay empty; use ``received_times()``."""

    _tone: list[bytes] | None = None

    def __init__(self, clock: Clock | None = None, *, keep_audio_s: float = 60.0,
                 packets: list[bytes] | None = None) -> None:
        super().__init__(clock, keep_audio_s=keep_audio_s)
        self.mic = PacketMicTrack(packets or self.quiet_tone(), self.clock)  # type: ignore[assignment]
        self.arrivals: deque[int] = deque(maxlen=int(keep_audio_s * 50))

    @classmethod
    def quiet_tone(cls) -> list[bytes]:
        """1 s of a 220 Hz tone at 5 % of full scale, encoded once per process."""
        if cls._tone is None:
            t = np.arange(RATE) / RATE
            tone = (0.05 * 32767 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)
            LoadClient._tone = encode_opus(tone)
        assert cls._tone is not None
        return cls._tone

    def _receive_audio(self) -> None:
        for t in self.pc.getTransceivers():
            if t.kind == "audio":
                t.receiver._handle_rtp_packet = self._count_packet  # type: ignore[method-assign]

    async def _count_packet(self, packet: Any, arrival_time_ms: int) -> None:
        self.arrivals.append(self.clock.now())

    def received_times(self) -> list[int]:
        return list(self.arrivals)
