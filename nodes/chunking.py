"""Micro-turn arithmetic, sans-IO: cut audio, video and text into windows of media time.

Window (chunk) ``k`` covers media time ``[k * period, (k + 1) * period)``, which is audio
samples ``[k * n, (k + 1) * n)`` with ``n = period * sample_rate / 1 s`` (an integer: 3,200
for 200 ms at 16 kHz). Everything is integer arithmetic on sample indices and window
numbers, so ten minutes or ten hours of input never drift.

Rules (each counted, so a graph's statistics say when they happened):

- **Placement.** An audio frame with ``pts`` p starts at sample ``s = round(p * rate)``. Its
  samples are written at ``max(s, cursor)``, ``cursor`` being the end of the audio written so
  far: samples are never dropped and never overwrite each other, so every input sample
  lands in exactly one chunk, in arrival order.
- **Jitter.** A gap up to ``tolerance`` samples between ``cursor`` and ``s`` is timestamp
  jitter (rounding of container time bases): the frame is placed at ``cursor``, contiguous.
- **Silence.** A larger gap is missing audio: it is filled with zeros (``filled``). So is
  the rest of a window closed by ``advance_to`` (a live source stalled past its deadline)
  and the end of the last window at ``flush``.
- **Late input.** Audio whose first sample belongs to a window already emitted, or a video
  frame or text delta stamped in such a window, is put into the current window and counted
  in that chunk's ``late``. (Late audio appended at ``cursor`` delays what follows it until
  the source leaves a gap: a chunker never drops a sample to catch up.)
- **Completion.** A window is emitted as soon as its audio is complete (the cursor reached
  its end), by ``advance_to`` (its media time passed), or by ``flush`` (end of input).
- **Video.** A window has ``slots = max(1, floor(fps * period))`` slots of equal length; each
  keeps the latest frame stamped in it, so a chunk holds at most ``slots`` frames, oldest
  first. A late frame takes the first slot of the current window if it is free.
- **Text.** Deltas are kept in arrival order in the window of their ``pts``.

Audio must be mono float32 at the configured rate; ``push_audio`` converts int16 and other
float dtypes to float32 and averages channels down to mono, but it does not resample: a
different rate raises ``ValueError`` (resample upstream, e.g. ``source.file``'s
``sample_rate``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flow.messages import TextDelta, VideoFrame
from flow.units import S

from .types import Chunk


@dataclass
class _Window:
    """What is known so far of a window other than its audio."""

    video: list[VideoFrame | None]
    text: list[TextDelta] = field(default_factory=list)
    late: int = 0


@dataclass
class ChunkingStatistics:
    chunks: int = 0  #: windows emitted
    samples_in: int = 0  #: audio samples received
    filled: int = 0  #: samples of silence inserted
    late: int = 0  #: inputs (audio, video, text) that arrived after their window closed
    overlap: int = 0  #: audio samples placed later than their pts (stamped before the cursor)
    video_in: int = 0
    video_out: int = 0  #: frames kept (the fps cap replaces the others)
    text_in: int = 0


class Chunking:
    """Assembles ``Chunk``s; every ``push_*``/``advance_to``/``flush`` returns the chunks it
    completed, in index order. Not thread-safe; no I/O, no clock: time is the ``pts`` of
    what is pushed, or the media time given to ``advance_to``."""

    def __init__(self, period: int, sample_rate: int = 16_000, *, fps: float = 5.0,
                 tolerance: int = 2_000_000) -> None:
        if period <= 0:
            raise ValueError(f"period must be positive, got {period} ns")
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if (period * sample_rate) % S:
            raise ValueError(
                f"a period of {period} ns at {sample_rate} Hz is not a whole number of samples")
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.period = period
        self.sample_rate = sample_rate
        self.n = period * sample_rate // S
        self.slots = max(1, int(fps * period / S + 1e-9))
        self.tolerance = tolerance * sample_rate // S
        self.index = 0  #: the window being assembled (all before it were emitted)
        self.cursor = 0  #: absolute index of the next audio sample to write
        self._buf = np.zeros(self.n, np.float32)
        self._filled = 0  #: silence samples in the current window
        self._windows: dict[int, _Window] = {}
        self.stats = ChunkingStatistics()

    # -- input ------------------------------------------------------------------------------

    def push_audio(self, pts: int, samples: np.ndarray, sample_rate: int) -> list[Chunk]:
        if sample_rate != self.sample_rate:
            raise ValueError(
                f"audio arrives at {sample_rate} Hz but the chunker cuts {self.sample_rate} Hz;"
                f" resample upstream (source.file: sample_rate: {self.sample_rate}) or set"
                f" the chunker's sample_rate: {sample_rate}")
        x = _mono_float32(samples)
        self.stats.samples_in += len(x)
        out: list[Chunk] = []
        s = (pts * sample_rate + S // 2) // S
        cursor = self.cursor
        if s > cursor + self.tolerance:
            out += self._fill(s - cursor)
        elif s < cursor - self.tolerance:
            if s // self.n < self.index:
                self._window(self.index).late += 1
                self.stats.late += 1
            self.stats.overlap += min(len(x), cursor - s)
        # Write x at the cursor, emitting each window it completes.
        i = 0
        n = self.n
        while i < len(x):
            off = self.cursor - self.index * n
            take = min(n - off, len(x) - i)
            self._buf[off:off + take] = x[i:i + take]
            i += take
            self.cursor += take
            if off + take == n:
                out.append(self._emit())
        return out

    def push_video(self, frame: VideoFrame) -> None:
        self.stats.video_in += 1
        k = frame.pts // self.period
        if k < self.index:
            w = self._window(self.index)
            w.late += 1
            self.stats.late += 1
            if w.video[0] is None:
                w.video[0] = frame
            return
        slot = (frame.pts - k * self.period) * self.slots // self.period
        self._window(k).video[slot] = frame

    def push_text(self, delta: TextDelta) -> None:
        self.stats.text_in += 1
        k = delta.pts // self.period
        if k < self.index:
            k = self.index
            self._window(k).late += 1
            self.stats.late += 1
        self._window(k).text.append(delta)

    def advance_to(self, t: int) -> list[Chunk]:
        """Media time ``t`` has passed: close every window that ends at or before ``t``,
        filling its missing audio with silence."""
        end = t // self.period * self.n
        return self._fill(end - self.cursor) if end > self.cursor else []

    def flush(self) -> list[Chunk]:
        """End of input: emit the window in progress and every window holding pending
        video or text, padded with silence. Emits nothing if nothing was received."""
        last = max(self._windows, default=-1)
        if self.cursor > self.index * self.n:
            last = max(last, self.index)
        if last < self.index:
            return []
        return self._fill((last + 1) * self.n - self.cursor)

    # -- output ------------------------------------------------------------------------------

    @property
    def next_end(self) -> int:
        """Media time at which the window in progress ends."""
        return (self.index + 1) * self.period

    def _fill(self, count: int) -> list[Chunk]:
        """Write ``count`` samples of silence at the cursor."""
        out: list[Chunk] = []
        n = self.n
        self.stats.filled += count
        while count > 0:
            off = self.cursor - self.index * n
            take = min(n - off, count)
            self._buf[off:off + take] = 0.0
            self._filled += take
            self.cursor += take
            count -= take
            if off + take == n:
                out.append(self._emit())
        return out

    def _emit(self) -> Chunk:
        k = self.index
        w = self._windows.pop(k, None)
        video: tuple[VideoFrame, ...] = ()
        text: tuple[TextDelta, ...] = ()
        late = 0
        if w is not None:
            video = tuple(f for f in w.video if f is not None)
            text = tuple(w.text)
            late = w.late
            self.stats.video_out += len(video)
        chunk = Chunk(pts=k * self.period, index=k, period=self.period, audio=self._buf,
                      sample_rate=self.sample_rate, video=video, text=text,
                      filled=self._filled, late=late)
        self._buf = np.empty(self.n, np.float32)
        self._filled = 0
        self.index = k + 1
        self.stats.chunks += 1
        return chunk

    def _window(self, k: int) -> _Window:
        w = self._windows.get(k)
        if w is None:
            w = self._windows[k] = _Window(video=[None] * self.slots)
        return w


def _mono_float32(samples: np.ndarray) -> np.ndarray:
    """``(n,)`` or ``(n, channels)``, int16 or float -> ``(n,)`` float32 in [-1, 1]."""
    x = samples
    if x.dtype == np.int16:
        x = x.astype(np.float32) * np.float32(1 / 32768)
    elif np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"audio samples of dtype {x.dtype}: send float32 or int16")
    elif x.dtype != np.float32:
        x = x.astype(np.float32)
    if x.ndim == 2:
        x = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    return x
