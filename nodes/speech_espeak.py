"""``speech.espeak``: streaming text in, 20 ms ``AudioFrame``s of speech out (espeak-ng).

Text arrives as ``TextDelta``s (a model's reply token by token, or a user's typed line).
It is spoken clause by clause as it arrives: a clause ends at ``, . ; : ! ?`` followed by
a space (or at the end of a delta when that cannot be a decimal point), at a newline, at a
``final`` delta, and at the end of input; an over-long run of words without punctuation is
cut at a space. Each clause is synthesised off the event loop (``clock.run_blocking``)
and its audio is framed and sent while espeak is still producing the rest, so the first
frame of a reply follows its first clause by the synthesis of one ~60 ms block.

Timeline: a clause's audio starts at the later of its text's ``pts``, the end of the audio
already sent (consecutive frames are contiguous: each frame's ``pts`` follows from the
sample count) and, with ``pace: realtime``, now. So ``sink.wav`` places it where it was
said, and silence between replies is left to the sink.

Pace, and why it decides barge-in:

- ``realtime`` (default): the frame with ``pts`` p is sent when media time reaches
  ``p - lead``, as a speaker would play it. Only ``lead`` (default one frame) of audio is
  ever ahead of playback, so an ``Interrupt`` drops everything not yet played: the node
  stops within one frame (far inside a 200 ms micro-turn), the frames queued downstream
  are flushed by the interrupt itself, and the WAV or the real-time output stops at the
  interruption. Use it for anything live. In front of an output with its own playout
  buffer (``webrtc.audio_out``), a ``lead`` of 60-100 ms rides out event-loop jitter
  without an audible gap; that buffer is flushed by the interrupt too.
- ``fast``: frames are sent as fast as downstream accepts, ``pts`` set on the same
  timeline. For rendering to files and benchmarks: an ``Interrupt`` drops only what has
  not been sent yet, which is usually nothing once the reply is synthesised.

On ``Interrupt`` the node drops its buffered text and untold clauses, aborts the running
synthesis (espeak stops at its next block) and sends nothing more of the interrupted
reply; text that arrives afterwards is a new reply.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from typing import Annotated, Any, Literal

import msgspec
import numpy as np

from flow import AudioFrame, In, Interrupt, Node, Out, ParamError, TextDelta
from flow.params import Duration
from flow.units import MS, S, parse_duration

from . import espeak

#: Length of each output frame.
FRAME = 20 * MS
#: Clauses waiting to be spoken; ``on_text`` waits (backpressure) beyond this.
MAX_PENDING = 32
#: A clause without punctuation is cut at a space once it is this long.
MAX_CLAUSE_CHARS = 200

# Clause-ending punctuation (and closing quotes/brackets after it) followed by a space,
# or a newline.
_BOUNDARY = re.compile(r"[,.;:!?]+[\"'\u2019\u201d)\]]*(?=\s)|\n")
# Punctuation ending the buffer: a boundary too, unless it may be the point of "3.5".
_TRAILING = re.compile(r"(?<!\d)[,.]+[\"'\u2019\u201d)\]]*$|[;:!?]+[\"'\u2019\u201d)\]]*$")
_WORD = re.compile(r"\w")


class ClauseSplitter:
    """Cuts streaming text into clauses to speak (sans-IO: plain strings in and out)."""

    def __init__(self, max_chars: int = MAX_CLAUSE_CHARS) -> None:
        self.max_chars = max_chars
        self._buf = ""

    @property
    def buffered(self) -> str:
        return self._buf

    def push(self, text: str) -> list[str]:
        """Add ``text``; return the clauses it completed (stripped, each with words)."""
        self._buf += text
        out: list[str] = []
        while True:
            m = _BOUNDARY.search(self._buf) or _TRAILING.search(self._buf)
            if m is not None:
                cut = m.end()
            elif len(self._buf) > self.max_chars:
                space = self._buf.rfind(" ", 0, self.max_chars)
                cut = space if space > 0 else self.max_chars
            else:
                break
            self._emit(self._buf[:cut], out)
            self._buf = self._buf[cut:]
        return out

    def flush(self) -> list[str]:
        """The end of an utterance: whatever is buffered is a clause."""
        out: list[str] = []
        self._emit(self._buf, out)
        self._buf = ""
        return out

    def clear(self) -> None:
        self._buf = ""

    @staticmethod
    def _emit(clause: str, out: list[str]) -> None:
        clause = clause.strip()
        if _WORD.search(clause):
            out.append(clause)


class Framer:
    """Cuts a stream of sample blocks into frames of exactly ``FRAME`` (sans-IO).

    ``pts`` follow from the sample count since the last ``start``, so consecutive frames
    are contiguous and do not drift at rates where 20 ms is not a whole number of samples.
    """

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.size = sample_rate * FRAME // S
        self._anchor = 0
        self._count = 0  # samples framed since the anchor
        self._rest = np.zeros(0, np.float32)

    @property
    def end(self) -> int:
        """Media time just after the last frame made."""
        return self._anchor + self._count * S // self.sample_rate

    def start(self, pts: int) -> None:
        """Begin a contiguous run at ``pts`` (no-op if it continues the current one)."""
        if pts != self.end:
            self._anchor, self._count = pts, 0
        self._rest = np.zeros(0, np.float32)

    def push(self, block: np.ndarray) -> list[AudioFrame]:
        buf = np.concatenate([self._rest, block]) if self._rest.size else block
        n = buf.size // self.size
        frames = [self._frame(buf[i * self.size:(i + 1) * self.size]) for i in range(n)]
        self._rest = buf[n * self.size:]
        return frames

    def finish(self) -> AudioFrame | None:
        """The remainder, padded with silence to a whole frame (None if there is none)."""
        if not self._rest.size:
            return None
        frame = np.zeros(self.size, np.float32)
        frame[:self._rest.size] = self._rest
        self._rest = np.zeros(0, np.float32)
        return self._frame(frame)

    def _frame(self, samples: np.ndarray) -> AudioFrame:
        pts = self.end
        self._count += samples.size
        return AudioFrame(pts=pts, samples=samples, sample_rate=self.sample_rate)


class EspeakSpeechParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    voice: str = "en-us"  #: a language code (en-us, en-gb, fr), optionally +variant (+f3)
    rate: Annotated[int, msgspec.Meta(ge=espeak.MIN_RATE, le=espeak.MAX_RATE)] = 175  #: wpm
    pitch: Annotated[int, msgspec.Meta(ge=espeak.MIN_PITCH, le=espeak.MAX_PITCH)] = 50
    sample_rate: Annotated[int, msgspec.Meta(ge=espeak.MIN_SAMPLE_RATE,
                                             le=espeak.MAX_SAMPLE_RATE)] = 24000
    pace: Literal["realtime", "fast"] = "realtime"
    lead: Duration = "20ms"  #: realtime: how far ahead of playback frames are sent

    def __post_init__(self) -> None:
        if parse_duration(self.lead) > 200 * MS:
            raise ValueError(f"lead: at most one micro-turn (200ms), got {self.lead!r}; "
                             "audio sent further ahead could not be cut on barge-in")


class EspeakSpeech(Node):
    """Speaks streaming text clause by clause with espeak-ng, as 20 ms frames on the
    media timeline; stops within a frame on Interrupt (see the module docstring)."""

    Params = EspeakSpeechParams
    requires = (("espeakng_loader", "espeakng-loader", "speech"),)
    text: In[TextDelta]
    audio: Out[AudioFrame]

    async def setup(self) -> None:
        p = self.params
        try:
            # Loads the voice's dictionary and the resampler now, not on the first reply.
            await self.clock.run_blocking(espeak.warm_up, p.voice, p.sample_rate)
        except espeak.UnknownVoice as exc:
            raise ParamError(f"{exc} - at with.voice") from None
        self._realtime = p.pace == "realtime"
        self._lead = parse_duration(p.lead)
        self._splitter = ClauseSplitter()
        self._framer = Framer(p.sample_rate)
        self._pending: deque[tuple[str, int]] = deque()
        self._changed = asyncio.Event()  # pending grew or shrank, or speaking stopped
        self._speaking = False
        self._epoch = 0  # bumped by every Interrupt: what was started before is stale
        self._closing = False
        self._cursor = 0  # media time where the next audio may start

    # -- input ---------------------------------------------------------------------------

    async def on_text(self, msg: TextDelta) -> None:
        epoch = self._epoch
        clauses = self._splitter.push(msg.text)
        if msg.final:
            clauses += self._splitter.flush()
        for clause in clauses:
            while len(self._pending) >= MAX_PENDING:
                await self._wait_change()
            if self._epoch != epoch:
                return  # interrupted while waiting for room: the rest is stale
            self._pending.append((clause, msg.pts))
            self._changed.set()

    def on_interrupt(self, msg: Interrupt) -> None:
        self._epoch += 1
        self._splitter.clear()
        self._pending.clear()
        self._changed.set()

    async def on_end(self) -> None:
        for clause in self._splitter.flush():
            self._pending.append((clause, self._cursor))
            self._changed.set()
        while self._pending or self._speaking:
            await self._wait_change()

    async def teardown(self) -> None:
        self._closing = True  # a synthesis still running aborts at its next block

    async def _wait_change(self) -> None:
        self._changed.clear()
        await self._changed.wait()

    # -- speaking ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            while not self._pending:
                await self._wait_change()
            clause, pts = self._pending.popleft()
            self._speaking = True
            self._changed.set()  # room in pending
            try:
                await self._speak(clause, pts)
            finally:
                self._speaking = False
                self._changed.set()

    async def _speak(self, clause: str, pts: int) -> None:
        epoch = self._epoch
        p = self.params
        loop = asyncio.get_running_loop()
        arrived: deque[np.ndarray] = deque()
        wake = asyncio.Event()

        def arrive(block: np.ndarray) -> None:
            arrived.append(block)
            wake.set()

        def on_block(block: np.ndarray) -> bool:  # on espeak's thread
            if self._epoch != epoch or self._closing:
                return False  # interrupted: stop synthesising
            loop.call_soon_threadsafe(arrive, block)
            return True

        synth = asyncio.ensure_future(self.clock.run_blocking(
            _stream, clause, on_block, p.voice, p.rate, p.pitch, p.sample_rate))
        synth.add_done_callback(lambda _: wake.set())
        start = max(pts, self._cursor, self.now() if self._realtime else 0)
        self._framer.start(start)
        try:
            while not (synth.done() and not arrived):
                await wake.wait()
                wake.clear()
                while arrived:
                    for frame in self._framer.push(arrived.popleft()):
                        if not await self._send(frame, epoch):
                            return
            synth.result()  # an espeak error fails the node
            last = self._framer.finish()
            if last is not None:
                await self._send(last, epoch)
        finally:
            if not synth.done():
                # Interrupted: espeak stops at its next block; wait for it so that the
                # next clause does not queue behind a synthesis nobody wants.
                await asyncio.wait([synth])
            if synth.done() and not synth.cancelled():
                synth.exception()  # retrieved: an aborted synthesis has nothing to say

    async def _send(self, frame: AudioFrame, epoch: int) -> bool:
        """Send ``frame`` (on time when pacing); False if it went stale (Interrupt)."""
        if self._realtime:
            due = self.context.t0 + frame.pts - self._lead
            if due > self.clock.now():
                await self.clock.sleep_until(due)
        if self._epoch != epoch:
            return False
        await self.audio.send(frame)
        self._cursor = max(self._cursor, frame.pts + frame.duration)
        return self._epoch == epoch


def _stream(text: str, on_block: Any, voice: str, rate: int, pitch: int,
            sample_rate: int) -> bool:
    return espeak.stream(text, on_block, voice=voice, rate=rate, pitch=pitch,
                         sample_rate=sample_rate, end_pause=True)


__all__ = ["FRAME", "ClauseSplitter", "EspeakSpeech", "EspeakSpeechParams", "Framer"]
