"""``webrtc.audio_in``: the browser's microphone as ``AudioFrame``s.

aiortc decodes Opus to 48 kHz 20 ms frames (usually stereo int16); this node downmixes
and resamples them to mono float32 at ``sample_rate`` with PyAV's resampler (libswresample);
at 48 kHz, int16 frames are converted with numpy instead, to the same values as
libswresample's (its stereo downmix is ``(L + R) * sqrt(1/2)``), at a third of the cost.
A reader drains the track continuously into a bounded inbox (``max_queue`` frames, oldest
dropped) so that a slow graph never builds lag. ``pts`` is contiguous media time that
follows the sender's RTP timestamps (``Stamper``): audio that arrives late or in a burst
stays contiguous, packets lost on the way are filled with silence up to 200 ms (a longer
gap is a gap), and what aiortc queued while the session was being set up is stamped back
from its arrival, as it was spoken (before the session's start: negative ``pts``).
The output ends when the client's track ends or the peer closes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import numpy as np

from flow import AudioFrame, Node, Out

from ._common import Inbox, Stamper, peer_of

#: int16 stereo -> float mono, as libswresample downmixes: (L + R) * sqrt(1/2) / 32768
_DOWNMIX = np.float32(np.sqrt(0.5) / 32768)
_SCALE = np.float32(1 / 32768)


class WebRTCAudioIn(Node):
    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        sample_rate: int = 16000
        max_queue: int = 50  #: frames (20 ms each) held while the graph is busy

    audio: Out[AudioFrame]

    async def setup(self) -> None:
        import av

        self.peer = peer_of(self)
        if not 8000 <= self.params.sample_rate <= 48000:
            from flow import ParamError

            raise ParamError(f"node {self.id!r}: sample_rate must be 8000..48000, got "
                             f"{self.params.sample_rate}")
        self._resampler = av.AudioResampler(format="flt", layout="mono",
                                            rate=self.params.sample_rate)
        self.stamper = Stamper(self.params.sample_rate)
        self.inbox: Inbox[AudioFrame] = Inbox(max(1, self.params.max_queue))

    def convert(self, frame: object) -> list[np.ndarray]:
        """One aiortc frame -> mono float32 arrays at ``sample_rate``."""
        f: Any = frame
        if (f.sample_rate == self.params.sample_rate and f.format.name == "s16"
                and f.layout.name in ("stereo", "mono")):  # packed int16: no resampling
            n = f.samples * len(f.layout.channels)
            x = np.frombuffer(f.planes[0], np.int16, n)  # a view; ~15x cheaper than to_ndarray
            if f.layout.name == "mono":
                return [x.astype(np.float32) * _SCALE]
            y = x.astype(np.float32)  # one contiguous cast, then strided float adds
            mono = y[0::2] + y[1::2]
            mono *= _DOWNMIX
            return [mono]
        return [o.to_ndarray().reshape(-1) for o in self._resampler.resample(f)]

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        try:
            frame: Any = await track.recv()
            self.peer.touch()
            if frame.pts is not None:
                frame = await self._take_backlog(track, frame)
            while True:
                self._take(frame, self.now())
                frame = await track.recv()
                self.peer.touch()
        except MediaStreamError:
            pass
        finally:
            self.inbox.close()

    async def _take_backlog(self, track: Any, first: Any) -> Any:
        """Stamp ``first`` and the frames queued behind it (aiortc queued them while the
        session was being set up) back from now, as they were spoken, instead of running
        ahead of the clock; returns the first frame that was not queued yet."""
        frames = [first]
        while True:
            later = asyncio.ensure_future(track.recv())
            await asyncio.sleep(0)  # one step: a queued frame is taken without waiting
            if not later.done() or later.exception() is not None:  # (ended: raised below)
                break
            frames.append(later.result())
        now = self.now()
        parts = [x for f in frames for x in self._convert_timed(f)]
        self.stamper.anchor(now, sum(len(x) for x in parts))
        for samples in parts:
            self._put(self.stamper.stamp(now, len(samples)), samples)
        return await later

    def _convert_timed(self, frame: Any) -> list[np.ndarray]:
        """``frame``'s samples, after the silence that fills a gap before it (if any)."""
        gap = self.stamper.source(frame.pts, frame.samples, frame.sample_rate)
        out = [np.zeros(gap, np.float32)] if gap else []
        return out + [x for x in self.convert(frame) if len(x)]

    def _take(self, frame: Any, arrival: int) -> None:
        for samples in self._convert_timed(frame):
            self._put(self.stamper.stamp(arrival, len(samples)), samples)

    def _put(self, pts: int, samples: np.ndarray) -> None:
        self.inbox.put(AudioFrame(pts=pts, samples=samples, sample_rate=self.params.sample_rate))

    async def run(self) -> None:
        track = await self.peer.track("audio")
        if track is None:
            return
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._read(track))
            while (msg := await self.inbox.get()) is not None:
                await self.audio.send(msg)
