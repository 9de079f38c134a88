"""``source.file``: any audio/video file PyAV reads (WAV, MP3, Ogg/Opus, MP4, WebM, ...)
as 20 ms ``AudioFrame``s and ``VideoFrame``s stamped with the file's media time.

Timestamps come from the file, shifted so that the container's start is media time 0 (an
MP3's encoder delay or an MP4's edit list does not show up as leading silence). Audio is
re-cut into frames of ``frame`` (20 ms) whose pts follow from the sample count, so they are
exact; a jump in the file's own timestamps (a gap) starts a new run at the file's pts.
Samples are float32 in [-1, 1], shape ``(n,)`` for mono and ``(n, channels)`` otherwise,
resampled by PyAV's ``AudioResampler`` when ``sample_rate``/``channels`` are set.

Audio and video go out in pts order (decoders delay video frames, so decoded messages are
reordered, holding back at most 1 s of media), so a consumer never sees a frame "late".

``pace: realtime`` sends each message when the session clock reaches ``t0 + pts``, as a
live microphone and camera would; ``fast`` sends as fast as downstream accepts. ``loop``
starts again at the end, continuing media time (with ``fast`` it never ends: a stress
source). Opening and decoding run off the event loop.

A missing or undecodable file is a ``ParamError`` naming the path, raised at setup (graph
start), before any message is sent.
"""

from __future__ import annotations

import functools
import heapq
import os
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
import numpy as np

from flow import AudioFrame, Message, Node, Out, ParamError, VideoFrame
from flow.errors import no_such_file
from flow.params import Duration
from flow.units import S, parse_duration


class FileSourceParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str
    pace: Literal["realtime", "fast"] = "realtime"
    sample_rate: int | None = None  #: resample to this rate (default: the file's)
    channels: int | None = None  #: mix to this many channels (default: the file's)
    frame: Duration = "20ms"  #: audio frame length
    video: bool = True  #: decode the video stream too, if there is one
    loop: bool = False

    def __post_init__(self) -> None:
        if self.pace not in ("realtime", "fast"):
            raise ValueError(f"pace: expected 'realtime' or 'fast', got {self.pace!r}")
        try:
            parse_duration(self.frame)
        except ValueError as exc:
            raise ValueError(f"frame: {exc}") from None
        if self.sample_rate is not None and self.sample_rate < 1000:
            raise ValueError(f"sample_rate: expected at least 1000 Hz, got {self.sample_rate}")
        if self.channels is not None and not 1 <= self.channels <= 8:
            raise ValueError(f"channels: expected 1 to 8, got {self.channels}")


#: How much media one off-loop decoding call produces before handing it to the loop.
_BATCH = 200_000_000
#: The most media time a decoded message waits for another stream's decoder to catch up.
_HOLD = 1_000_000_000
#: A jump in the file's audio timestamps larger than this is a gap, not rounding.
_GAP = 20_000_000


class FileSource(Node):
    """Decodes ``path``; ``audio`` and ``video`` outputs (either may be left unconnected)."""

    Params = FileSourceParams
    audio: Out[AudioFrame]
    video: Out[VideoFrame]

    async def setup(self) -> None:
        want_video = self.params.video and self.video.connected
        self._decoder = await self.clock.run_blocking(
            functools.partial(_Decoder, self.params, want_video=want_video))

    async def run(self) -> None:
        pace = self.params.pace == "realtime"
        offset = 0
        while True:
            batches = self._decoder.batches(offset)
            while True:
                batch = await self.clock.run_blocking(next, batches, None)
                if batch is None:
                    break
                for msg in batch:
                    if pace and msg.pts > self.now():
                        await self.clock.sleep_until(self.context.t0 + msg.pts)
                    if isinstance(msg, AudioFrame):
                        await self.audio.send(msg)
                    else:
                        await self.video.send(msg)  # type: ignore[arg-type]
            if not self.params.loop or self._decoder.end <= offset:
                return
            offset = self._decoder.end

    async def teardown(self) -> None:
        decoder = getattr(self, "_decoder", None)
        if decoder is not None:
            decoder.close()


class _Decoder:
    """PyAV demuxing, decoding, resampling and re-framing (blocking: run off the loop)."""

    def __init__(self, params: FileSourceParams, *, want_video: bool) -> None:
        import av

        self.path = params.path
        self.params = params
        self.want_video = want_video
        self.frame_ns = parse_duration(params.frame)
        self.end = 0  #: media time just after the last decoded message
        self.container: Any = None
        if not os.path.exists(self.path):
            raise ParamError(f"source.file: {no_such_file(self.path)}")
        # Decode the first packets now, so that an undecodable file fails at setup. Each
        # pass then opens the file afresh: seeking back loses or repeats samples in some
        # containers (Ogg, WebM).
        container = self._open()
        try:
            for packet in container.demux(*self.streams):
                if packet.decode():
                    break
        except av.error.FFmpegError as exc:
            raise ParamError(f"source.file: {self.path}: cannot decode it ({_reason(exc)})"
                             ) from None
        finally:
            self.close()

    def _open(self) -> Any:
        import av

        self.close()
        try:
            self.container = c = av.open(self.path)
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
            raise ParamError(f"source.file: {self.path}: cannot decode it as audio or video "
                             f"({_reason(exc)})") from None
        self.astream = c.streams.audio[0] if c.streams.audio else None
        self.vstream = c.streams.video[0] if (self.want_video and c.streams.video) else None
        if not (c.streams.audio or c.streams.video):
            self.close()
            raise ParamError(f"source.file: {self.path}: has no audio or video stream")
        self.streams = [s for s in (self.astream, self.vstream) if s is not None]
        self.start = (c.start_time or 0) * S // av.time_base
        return c

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def batches(self, offset: int) -> Iterator[list[Message]]:
        """Lists of messages in file order, each about ``_BATCH`` of media long."""
        import av

        container = self._open()
        batch: list[Message] = []
        cutter = _AudioCutter(self, self.astream, offset) if self.astream else None
        # Decoders have different delays (a video decoder holds frames back), so decoded
        # order is not pts order: messages wait in a heap until every stream has decoded
        # past them (or they are _HOLD behind the newest), then go out in pts order.
        heap: list[tuple[int, int, Message]] = []
        newest = {id(s): -1 for s in self.streams}
        seq = 0
        try:
            for packet in container.demux(*self.streams):
                decoded: list[Message] = []
                for frame in packet.decode():
                    if packet.stream is self.vstream:
                        pts = self._pts(frame, offset)
                        decoded.append(
                            VideoFrame(pts=pts, image=frame.to_ndarray(format="rgb24")))
                        lasts = round(frame.duration * frame.time_base * S) if frame.duration else 0
                        self.end = max(self.end, pts + lasts)
                    elif cutter is not None:
                        decoded += cutter.push(frame)
                for msg in decoded:
                    heapq.heappush(heap, (msg.pts, seq, msg))
                    seq += 1
                    newest[id(packet.stream)] = max(newest[id(packet.stream)], msg.pts)
                ready = max(min(newest.values()), max(newest.values()) - _HOLD)
                while heap and heap[0][0] <= ready:
                    batch.append(heapq.heappop(heap)[2])
                if batch and batch[-1].pts - batch[0].pts >= _BATCH:
                    yield batch
                    batch = []
            if cutter is not None:
                for msg in cutter.finish():
                    heapq.heappush(heap, (msg.pts, seq, msg))
                    seq += 1
            batch += [heapq.heappop(heap)[2] for _ in range(len(heap))]
        except av.error.FFmpegError as exc:
            raise ParamError(f"source.file: {self.path}: decoding failed ({_reason(exc)})"
                             ) from None
        finally:
            self.close()
        if batch:
            yield batch

    def _pts(self, frame: Any, offset: int) -> int:
        if frame.pts is None:
            return offset + self.end
        t: int = round(frame.pts * frame.time_base * S)
        return offset + max(0, t - self.start)


class _AudioCutter:
    """Resamples decoded audio and re-cuts it into frames of exactly ``frame_ns``."""

    def __init__(self, dec: _Decoder, stream: Any, offset: int) -> None:
        import av

        self.dec = dec
        self.offset = offset
        ctx = stream.codec_context
        self.rate = dec.params.sample_rate or ctx.sample_rate
        self.channels = dec.params.channels or ctx.channels
        self.layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels}c")
        self.size = max(1, dec.frame_ns * self.rate // S)  #: samples per frame
        self.pending: list[np.ndarray] = []
        self.pending_n = 0
        self.run_pts: int | None = None  #: pts of the first sample of the current run
        self.run_samples = 0  #: samples emitted in the current run
        self.expected: int | None = None  #: file pts (ns) where the next input frame starts
        self.resampler = av.AudioResampler(format="flt", layout=self.layout, rate=self.rate)

    def push(self, frame: Any) -> list[AudioFrame]:
        out: list[AudioFrame] = []
        pts = self.dec._pts(frame, self.offset) if frame.pts is not None else self.expected
        if pts is None:
            pts = self.offset
        if self.expected is not None and abs(pts - self.expected) > _GAP:
            out += self.finish()  # a gap in the file: start a new run at its pts
        if self.run_pts is None:
            self.run_pts = pts
        self.expected = pts + frame.samples * S // frame.sample_rate
        for res in self.resampler.resample(frame):
            self._add(res)
        out += self._cut(final=False)
        return out

    def finish(self) -> list[AudioFrame]:
        for res in self.resampler.resample(None):
            self._add(res)
        out = self._cut(final=True)
        import av

        self.resampler = av.AudioResampler(format="flt", layout=self.layout, rate=self.rate)
        self.run_pts = None
        self.run_samples = 0
        return out

    def _add(self, res: Any) -> None:
        x = res.to_ndarray()  # packed float: (1, n * channels)
        x = x.reshape(-1, self.channels)
        if len(x):
            self.pending.append(x)
            self.pending_n += len(x)

    def _cut(self, *, final: bool) -> list[AudioFrame]:
        if self.pending_n < self.size and not (final and self.pending_n):
            return []
        x = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        whole = len(x) if final else len(x) - len(x) % self.size
        out: list[AudioFrame] = []
        run_pts = self.run_pts or 0
        for i in range(0, whole, self.size):
            samples = x[i:i + self.size]
            if self.channels == 1:
                samples = samples[:, 0]
            pts = run_pts + self.run_samples * S // self.rate
            out.append(AudioFrame(pts=pts, samples=np.ascontiguousarray(samples),
                                  sample_rate=self.rate, channels=self.channels))
            self.run_samples += len(samples)
        rest = x[whole:]
        self.pending = [rest] if len(rest) else []
        self.pending_n = len(rest)
        self.dec.end = max(self.dec.end, run_pts + self.run_samples * S // self.rate)
        return out


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(": '")[0]


__all__ = ["FileSource", "FileSourceParams"]
