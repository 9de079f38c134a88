"""``fusion.tokenizer``: each ``Chunk`` (one 200 ms micro-turn) in, one ``FusedTurn`` out.

No learned encoder: audio becomes dMel frames (``dmel.py``), the latest video frame(s)
raw 40x40 patches (``patches.py``), text its UTF-8 bytes (``text.py``), interleaved in model
order (``sequence.py``). ``TurnTokenizer`` is the whole per-session state machine, sans-IO;
the node only moves messages (tokenizing a turn takes well under a millisecond, so it runs
on the loop: a thread hop would cost more than the work).

Continuity: the dMel window overlap is carried from chunk to chunk, so a session's frames
are exactly those of its whole signal tokenized at once. A chunk whose ``index`` does not
follow the previous one (chunks dropped upstream) starts a fresh history, as at t=0, and is
counted in ``gaps``.

Video fps cap: media time is cut into windows of ``1/fps`` seconds aligned at pts 0, and at
most one frame per window enters the sequence (the latest of it), at most
``frames_per_turn`` per turn. Windows, not intervals since the last frame, so that camera
jitter cannot halve the rate. ``fps: 0`` leaves video out.

Interrupts (barge-in) drop nothing here: the audio history and the user's pending text are
still true after the model is interrupted; what goes stale is the model's output, downstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import msgspec
import numpy as np

from flow import In, Node, Out, S, VideoFrame

from ..types import Chunk, FusedTurn
from .dmel import SAMPLE_RATE, DMelStream
from .patches import PATCH, frame_to_patches, resize_frame
from .sequence import fuse
from .text import TextQueue, turn_text


class TokenizerParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of ``fusion.tokenizer`` (``with:`` in a graph)."""

    #: Sample rate chunks must have. dMel is defined at 16 kHz: resample upstream.
    sample_rate: int = SAMPLE_RATE
    #: Size frames are resized to before cutting (multiples of 40; 320x240 -> 48 patches).
    width: Annotated[int, msgspec.Meta(gt=0, multiple_of=PATCH)] = 320
    height: Annotated[int, msgspec.Meta(gt=0, multiple_of=PATCH)] = 240
    resize: Literal["nearest", "area"] = "nearest"
    #: At most this many frames per second of media enter the sequence; 0: no video.
    fps: Annotated[float, msgspec.Meta(ge=0)] = 5.0
    frames_per_turn: Annotated[int, msgspec.Meta(ge=1)] = 1
    #: OUTPUT positions at the end of every turn, for the model's own tokens.
    output_slots: Annotated[int, msgspec.Meta(ge=0)] = 8
    #: Text bytes per turn; the rest waits for the next turns.
    max_text_bytes: Annotated[int, msgspec.Meta(ge=1)] = 64
    #: Bound on text waiting for a turn (oldest dropped past it).
    max_pending_text_bytes: Annotated[int, msgspec.Meta(ge=1)] = 4096

    def __post_init__(self) -> None:
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"sample_rate must be {SAMPLE_RATE} (dMel is defined at 16 kHz: "
                             f"resample before the tokenizer), got {self.sample_rate}")
        if self.max_pending_text_bytes < self.max_text_bytes:
            raise ValueError(f"max_pending_text_bytes ({self.max_pending_text_bytes}) must be "
                             f"at least max_text_bytes ({self.max_text_bytes})")


class TurnTokenizer:
    """One session's tokenizer state: ``turn(chunk)`` -> ``FusedTurn``. Sans-IO."""

    def __init__(self, params: TokenizerParams | None = None) -> None:
        self.params = p = params if params is not None else TokenizerParams()
        self.audio = DMelStream()
        self.text = TextQueue(p.max_text_bytes, p.max_pending_text_bytes)
        self._fps_milli = round(p.fps * 1000)
        self._last_window = -1
        self._next_index: int | None = None
        self.turns = 0
        self.gaps = 0  #: chunks that did not follow the previous one (history reset)
        self.frames_used = 0
        self.frames_skipped = 0  #: frames over the fps cap or ``frames_per_turn``

    def turn(self, chunk: Chunk) -> FusedTurn:
        p = self.params
        if chunk.sample_rate != p.sample_rate:
            raise ValueError(f"chunk {chunk.index} has audio at {chunk.sample_rate} Hz; the "
                             f"tokenizer needs {p.sample_rate} Hz (set the chunker's "
                             "sample_rate, or resample upstream)")
        if self._next_index is not None and chunk.index != self._next_index:
            self.audio.reset()
            self.gaps += 1
        self._next_index = chunk.index + 1
        levels = self.audio.push(chunk.audio)
        frames = [self._patches(f.image) for f in self._pick(chunk.video)]
        if chunk.text:
            self.text.add(turn_text(chunk.text))
        text = self.text.take() if len(self.text) else b""
        self.turns += 1
        return fuse(chunk.index, chunk.pts, levels, frames, text, p.output_slots)

    def _pick(self, video: Sequence[VideoFrame]) -> list[VideoFrame]:
        """The frames this turn may use under the fps cap, oldest first."""
        if not video:
            return []
        if self._fps_milli == 0:
            self.frames_skipped += len(video)
            return []
        picked: list[VideoFrame] = []
        windows: list[int] = []
        for frame in reversed(video):
            window = frame.pts * self._fps_milli // (1000 * S)
            if window <= self._last_window or window in windows:
                continue
            picked.append(frame)
            windows.append(window)
            if len(picked) == self.params.frames_per_turn:
                break
        if windows:
            self._last_window = max(windows)
        self.frames_used += len(picked)
        self.frames_skipped += len(video) - len(picked)
        picked.sort(key=lambda f: f.pts)
        return picked

    def _patches(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if image.ndim == 2:  # grey
            image = np.repeat(image[:, :, None], 3, axis=2)
        elif image.shape[2] == 4:  # RGBA: the model sees RGB
            image = image[:, :, :3]
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        p = self.params
        return frame_to_patches(resize_frame(image, p.height, p.width, p.resize))


class FusionTokenizer(Node):
    """Chunks (200 ms micro-turns) in, fused token sequences out, one per chunk."""

    Params = TokenizerParams

    chunks: In[Chunk] = In(doc="one micro-turn of audio, video and text")
    turns: Out[FusedTurn] = Out(doc="the micro-turn as one interleaved sequence, model order")

    async def setup(self) -> None:
        self.tokenizer = TurnTokenizer(self.params)

    async def on_chunks(self, chunk: Chunk) -> None:
        self._last = chunk
        await self.turns.send(self.tokenizer.turn(chunk))

    async def on_end(self) -> None:
        """Typed text still waiting when the chunks end (a long paste, at most
        ``max_text_bytes`` a turn) goes out in turns of silence after the last chunk: user
        text is never cut short, at the end of a session either."""
        last: Chunk | None = getattr(self, "_last", None)
        while last is not None and len(self.tokenizer.text):
            last = Chunk(pts=last.pts + last.period, index=last.index + 1, period=last.period,
                         audio=np.zeros_like(last.audio), sample_rate=last.sample_rate)
            await self.turns.send(self.tokenizer.turn(last))
