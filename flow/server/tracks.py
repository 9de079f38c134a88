"""The outgoing audio track: what the browser hears from a session.

aiortc's sender calls ``recv()`` for each 20 ms frame; the track paces itself on the
session clock (frame k at ``start + k * 20 ms``), plays what ``webrtc.audio_out`` queued in
its bounded ``PlayoutBuffer``, and silence when that is empty. ``clear()`` empties it at
once, so a barge-in is audible within one frame.

With ``encode=True`` (what the server uses) the track encodes each frame itself, to mono
Opus (``OpusFrameEncoder``), and hands aiortc's sender an ``av.Packet``, which the sender
only packetises: no per-frame hand-off to aiortc's encoder thread, no resampling to stereo,
no audio-level computation. Measured on the echo graph, this is about a third of the
server's CPU per session (bench/README.md, ``## webrtc``). Without it, ``recv()`` returns
the PCM ``av.AudioFrame`` (what the unit tests inspect) and aiortc encodes.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..clock import Clock
from .playout import FRAME_SAMPLES, PTIME, RATE, Pacer, PlayoutBuffer

_TIME_BASE = fractions.Fraction(1, RATE)


class OpusFrameEncoder:
    """20 ms mono int16 frames at 48 kHz -> one Opus packet each (libopus, ``voip``,
    ``bit_rate`` bits/s). A stream negotiated as ``opus/48000/2`` may carry mono packets;
    every Opus decoder (browsers', aiortc's) plays them."""

    def __init__(self, bit_rate: int = 48_000) -> None:
        self.codec = av.CodecContext.create("libopus", "w")
        self.codec.bit_rate = bit_rate
        self.codec.format = "s16"
        self.codec.layout = "mono"
        self.codec.sample_rate = RATE
        self.codec.time_base = _TIME_BASE
        self.codec.options = {"application": "voip"}
        self._last: bytes | None = None

    def encode(self, samples: np.ndarray, k: int) -> av.Packet[Any]:
        """Frame ``k``'s packet, with ``pts = k * 960`` in 1/48000 s."""
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(samples)  # type: ignore[arg-type]  # any buffer; cheaper than from_ndarray
        frame.sample_rate = RATE
        frame.pts = k * FRAME_SAMPLES
        frame.time_base = _TIME_BASE
        packets = self.codec.encode(frame)
        if packets:  # libopus gives exactly one packet per 20 ms frame
            packet = packets[-1]
            self._last = bytes(packet)
        else:  # never seen; repeat the last so the RTP clock keeps its cadence
            packet = av.Packet(self._last or b"\xf8\xff\xfe")  # CELT FB 20 ms silence
        packet.pts = k * FRAME_SAMPLES
        packet.time_base = _TIME_BASE
        return packet


class OutgoingAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: Clock, *, capacity: int = 25, encode: bool = False) -> None:
        super().__init__()
        self.encoder = OpusFrameEncoder() if encode else None
        self.clock = clock
        self.buffer = PlayoutBuffer(capacity)
        self.pacer = Pacer(PTIME)
        self._silence = np.zeros(FRAME_SAMPLES, np.int16)
        self._putters: deque[asyncio.Future[None]] = deque()
        #: Clock time at which the last non-silent frame was handed to the encoder.
        self.last_voiced: int | None = None
        self.generation = 0  #: bumped by clear()
        self.frames = 0  #: frames handed to the encoder
        #: frames handed over more than two frames (40 ms) after due: more jitter than a
        #: receiver's jitter buffer smooths without a glitch
        self.late_frames = 0
        self.late_max = 0  #: ns

    async def put(self, frame: np.ndarray) -> bool:
        """Queue one 20 ms int16 frame, waiting while the buffer is full (backpressure
        toward the synthesiser). Returns False, dropping the frame, if the track ended or
        was cleared while this waited (the frame belongs to what a barge-in cut)."""
        generation = self.generation
        while self.buffer.full:
            if self.readyState != "live":
                return False
            fut = asyncio.get_running_loop().create_future()
            self._putters.append(fut)
            try:
                await fut
            finally:
                if not fut.done():
                    fut.cancel()
        if self.readyState != "live" or generation != self.generation:
            return False
        self.buffer.push(frame)
        return True

    def clear(self) -> int:
        """Drop everything queued (barge-in); returns the number of frames cut."""
        n = self.buffer.clear()
        self.generation += 1
        self._wake()
        return n

    def _wake(self) -> None:
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)

    async def recv(self) -> av.AudioFrame | av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        k = self.pacer.k
        due = self.pacer.next_due(self.clock.now())
        await self.clock.sleep_until(due)
        late = self.clock.now() - due
        self.frames += 1
        if late > 2 * PTIME:
            self.late_frames += 1
        self.late_max = max(self.late_max, late)
        samples = self.buffer.pop()
        self._wake()
        if samples is None:
            samples = self._silence
        else:
            self.last_voiced = self.clock.now()
        if self.encoder is not None:
            return self.encoder.encode(samples, k)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = k * FRAME_SAMPLES
        frame.time_base = _TIME_BASE
        return frame

    def stop(self) -> None:
        super().stop()
        self.buffer.clear()
        self._wake()
