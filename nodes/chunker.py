"""``chunker``: cuts audio, video and text into 200 ms micro-turns (``Chunk``s) on media
time; ``chunk.audio``: the audio of chunks as ``AudioFrame``s again (for a WAV sink).

The arithmetic lives in ``nodes.chunking`` (sans-IO); this node feeds it and decides *when*
a window is closed:

- ``pace: media`` (default): a window is emitted when its audio is complete, i.e. when
  audio stamped at or after its end arrives. Time is the media time of the input, never the
  clock: a file decoded as fast as possible is chunked exactly as when played live. If the
  ``audio`` input is not connected, video and text drive it instead (a window closes when
  an input stamped in a later window arrives).
- ``pace: realtime`` (live sources: microphone, WebRTC): as above, and in addition window
  ``k`` is closed at the latest at clock time ``t0 + (k + 1) * period + wait``, its missing
  audio filled with silence, so a stalled source does not stall the micro-turns. Audio that
  arrives after that is late (see ``nodes.chunking``), counted, and warned of once; not
  in the first ``START_GRACE`` (2 s) after the first input, a live session's start-up
  backlog. The deadline is computed from the
  session anchor ``t0``, never accumulated, so it runs the same on ``FakeClock``.

At the end of every input the last partial window is emitted, padded with silence.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Literal

import msgspec

from flow import AudioFrame, In, Message, Node, Out, ParamError, TextDelta, VideoFrame
from flow.params import Duration
from flow.units import S, parse_duration

from .chunking import Chunking, ChunkingStatistics
from .types import Chunk

#: Late input in this first stretch of a session (clock time from its first input) is
#: counted but not warned of: a live session starts with a backlog (a browser's first
#: packets come in a burst while the graph's first micro-turns are set up), and that is not
#: a graph falling behind real time.
START_GRACE = 2 * S


class ChunkerParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    period: Duration = "200ms"  #: micro-turn length
    sample_rate: int = 16_000  #: rate of the chunks' audio; inputs must already be at it
    fps: float = 5.0  #: at most this many video frames per second go into chunks
    #: media, or realtime: close windows at a clock deadline too
    pace: Literal["media", "realtime"] = "media"
    wait: Duration = "50ms"  #: realtime: how long after a window's end to wait for its audio
    tolerance: Duration = "2ms"  #: timestamp jitter treated as contiguous audio

    def __post_init__(self) -> None:
        for name in ("period", "wait", "tolerance"):
            try:
                parse_duration(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        if self.pace not in ("media", "realtime"):
            raise ValueError(f"pace: expected 'media' or 'realtime', got {self.pace!r}")


class Chunker(Node):
    """Audio (mono float32 or int16 at ``sample_rate``), video and text in; one ``Chunk``
    per ``period`` out, index ``k`` covering media time ``[k*period, (k+1)*period)``."""

    Params = ChunkerParams
    audio: In[AudioFrame]
    video: In[VideoFrame]
    text: In[TextDelta] = In(fan_in=True, doc="typed and heard text, into the micro-turns' "
                                            "tokens (the reflex front end hears words on "
                                            "front.heard, not here)")
    chunks: Out[Chunk]

    async def setup(self) -> None:
        p = self.params
        try:
            self.chunking = Chunking(parse_duration(p.period), p.sample_rate, fps=p.fps,
                                     tolerance=parse_duration(p.tolerance))
        except ValueError as exc:
            raise ParamError(f"chunker {self.id!r}: {exc}") from None
        self._wait = parse_duration(p.wait)
        self._lock = asyncio.Lock()
        self._warned_late = False
        self._started: int | None = None  # clock time of the first input
        self._late_excused = 0  # late inputs of the start-up backlog

    async def run(self) -> None:
        if self.params.pace != "realtime":
            return
        c = self.chunking
        while True:
            await self.clock.sleep_until(self.context.t0 + c.next_end + self._wait)
            # Every window whose deadline has passed, at once if the loop was held up.
            await self._emit(c.advance_to(self.now() - self._wait))

    def _arrived(self) -> None:
        if self._started is None:
            self._started = self.now()

    async def on_audio(self, frame: AudioFrame) -> None:
        self._arrived()
        try:
            chunks = self.chunking.push_audio(frame.pts, frame.samples, frame.sample_rate)
        except ValueError as exc:
            raise ParamError(f"chunker {self.id!r}: {exc}") from None
        await self._emit(chunks)

    async def on_video(self, frame: VideoFrame) -> None:
        self._arrived()
        self.chunking.push_video(frame)
        await self._drive(frame)

    async def on_text(self, delta: TextDelta) -> None:
        self._arrived()
        self.chunking.push_text(delta)
        await self._drive(delta)

    async def on_end(self) -> None:
        await self._emit(self.chunking.flush())

    async def _drive(self, msg: Message) -> None:
        if not self.audio.connected:
            await self._emit(self.chunking.advance_to(msg.pts))

    async def _emit(self, chunks: list[Chunk]) -> None:
        late = self.chunking.stats.late
        if late > self._late_excused and not self._warned_late:
            if self._started is not None and self.now() - self._started < START_GRACE:
                self._late_excused = late  # the start-up backlog (counted all the same)
            else:
                self._warned_late = True
                self.log.warning(
                    "session %s node %s: input arrived after its micro-turn was closed and "
                    "filled with silence: what feeds the chunker is slower than real time "
                    "(--stats counts it: late, filled)", self.context.id, self.id)
        if not chunks:
            return
        # The deadline loop and the handlers both emit: the lock keeps chunks in index
        # order (they are made before the lock is taken, and asyncio.Lock is FIFO).
        async with self._lock:
            for chunk in chunks:
                await self.chunks.send(chunk)

    def chunk_statistics(self) -> ChunkingStatistics:
        """What the chunking counted: silence filled, late inputs, frames capped."""
        return self.chunking.stats

    def statistics_extra(self) -> dict[str, int]:
        chunking = getattr(self, "chunking", None)
        return dataclasses.asdict(chunking.stats) if chunking is not None else {}


class ChunkAudio(Node):
    """The audio of each ``Chunk`` as one ``AudioFrame`` with the chunk's pts: lets a
    ``sink.wav`` (or any audio node) take a chunker's output, with a typed edge each side."""

    chunks: In[Chunk]
    audio: Out[AudioFrame]

    async def on_chunks(self, chunk: Chunk) -> None:
        await self.audio.send(AudioFrame(pts=chunk.pts, samples=chunk.audio,
                                         sample_rate=chunk.sample_rate))
