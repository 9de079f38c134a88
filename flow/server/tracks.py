"""The outgoing audio track: what the browser hears from a session.

aiortc's sender calls ``recv()`` for each 20 ms frame; the track paces itself on the
session clock (frame k at ``start + k * 20 ms``), plays what ``webrtc.audio_out`` queued in
its bounded ``PlayoutBuffer``, and silence when that is empty. ``clear()`` empties it at
once, so a barge-in is audible within one frame.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from ..clock import Clock
from .playout import FRAME_SAMPLES, PTIME, RATE, Pacer, PlayoutBuffer

_TIME_BASE = fractions.Fraction(1, RATE)


class OutgoingAudioTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: Clock, *, capacity: int = 25) -> None:
        super().__init__()
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

    async def recv(self) -> av.AudioFrame:
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
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = k * FRAME_SAMPLES
        frame.time_base = _TIME_BASE
        return frame

    def stop(self) -> None:
        super().stop()
        self.buffer.clear()
        self._wake()
