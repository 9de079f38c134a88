"""``sink.wav``: audio frames onto a continuous WAV timeline, streamed to disk.

A frame with pts p is written at sample ``round(p * rate)``: where nothing arrived the
file holds silence, so the output lines up with the input's media time (like a full-duplex
benchmark's output.wav). A frame that starts before the end of what was already written
(the speaker is still "playing" earlier audio) is **appended** after it, as a player queues
audio; the overlap is counted, never mixed and never dropped. Gaps up to ``tolerance`` are
timestamp jitter and are not filled.

Samples are written as they come (memory stays flat however long the session), to a hidden
``.NAME.<8 hex>.part`` beside ``path`` (``nodes.part_file``). When the node ends, at the end
of its input and also after an error or when the session is stopped (Ctrl-C, SIGTERM,
``Session.stop()``), the RIFF header's sizes are patched and the file is renamed onto
``path``: a file under that name is always whole and playable, never half-written. A
session that never started (a node's ``setup()`` failed: an input file that is not there)
writes nothing, and a file an earlier run left at ``path`` stays as it was.

Frames must have the file's rate (``sample_rate``, default: the first frame's) or the node
fails with a message saying where to resample; mono frames are copied to every channel and
multi-channel frames averaged for a mono file.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

import msgspec
import numpy as np

from flow import AudioFrame, In, Node, ParamError
from flow.params import Duration
from flow.units import S, parse_duration

from .part_file import PartFile

_SILENCE_BLOCK = 1 << 16  #: samples of silence written per write() on a long gap


class WavSinkParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str
    sample_rate: int | None = None  #: default: the rate of the first frame
    channels: int = 1
    format: str = "s16"  #: s16 (16-bit PCM) | f32 (32-bit float)
    tolerance: Duration = "2ms"  #: timestamp jitter that is not a gap

    def __post_init__(self) -> None:
        if self.format not in ("s16", "f32"):
            raise ValueError(f"format: expected 's16' or 'f32', got {self.format!r}")
        if not 1 <= self.channels <= 8:
            raise ValueError(f"channels: expected 1 to 8, got {self.channels}")
        try:
            parse_duration(self.tolerance)
        except ValueError as exc:
            raise ValueError(f"tolerance: {exc}") from None


class WavStatistics(msgspec.Struct):
    frames: int = 0
    samples: int = 0  #: samples per channel in the file
    silence: int = 0  #: of which inserted for gaps
    overlapped: int = 0  #: samples appended later than their pts said


class WavSink(Node):
    Params = WavSinkParams
    audio: In[AudioFrame]

    async def setup(self) -> None:
        p = self.params
        self.rate: int | None = p.sample_rate
        self.stats = WavStatistics()
        self._tolerance = parse_duration(p.tolerance)
        self._bytes = 2 if p.format == "s16" else 4
        try:  # opened here, not at the first frame: a mistake in path fails the start-up
            self._wav: PartFile | None = PartFile(p.path)
        except OSError as exc:
            raise ParamError(f"sink.wav: {p.path}: cannot write it ({exc.strerror})") from None
        self._file: BinaryIO | None = self._wav.file
        self._file.write(_header(0, self.rate or 16_000, p.channels, p.format))

    def statistics_extra(self) -> dict[str, int]:
        stats = getattr(self, "stats", None)
        return msgspec.structs.asdict(stats) if stats is not None else {}

    async def on_audio(self, frame: AudioFrame) -> None:
        p = self.params
        if self.rate is None:
            self.rate = frame.sample_rate
        if frame.sample_rate != self.rate:
            raise ParamError(
                f"sink.wav {p.path}: a frame at {frame.sample_rate} Hz in a {self.rate} Hz "
                f"file; resample upstream or set sample_rate: {frame.sample_rate}")
        st = self.stats
        st.frames += 1
        pos = (frame.pts * self.rate + S // 2) // S
        gap = pos - st.samples
        if gap * S > self._tolerance * self.rate:
            self._silence(gap)
        elif gap < 0:
            st.overlapped += min(-gap, frame.num_samples)
        data = self._encode(frame.samples)
        assert self._file is not None  # set in setup
        self._file.write(data)
        st.samples += frame.num_samples

    def _silence(self, n: int) -> None:
        assert self._file is not None
        self.stats.silence += n
        self.stats.samples += n
        block = bytes(min(n, _SILENCE_BLOCK) * self._bytes * self.params.channels)
        while n > 0:
            take = min(n, _SILENCE_BLOCK)
            self._file.write(block[:take * self._bytes * self.params.channels])
            n -= take

    def _encode(self, samples: np.ndarray) -> bytes:
        channels = self.params.channels
        x = samples
        if x.dtype == np.int16:
            x = x.astype(np.float32) * np.float32(1 / 32768)
        if x.ndim == 1:
            x = x[:, None]
        if x.shape[1] != channels:
            if channels == 1:
                x = x.mean(axis=1, keepdims=True, dtype=np.float32)
            elif x.shape[1] == 1:
                x = np.repeat(x, channels, axis=1)
            else:
                raise ParamError(f"sink.wav {self.params.path}: a frame with {x.shape[1]} "
                                 f"channels in a {channels}-channel file")
        if self.params.format == "f32":
            return np.ascontiguousarray(x, dtype="<f4").tobytes()
        pcm = np.clip(np.rint(x * 32768.0), -32768, 32767).astype("<i2")
        return pcm.tobytes()

    async def teardown(self) -> None:
        out = getattr(self, "_wav", None)
        if out is None:
            return
        self._wav = self._file = None
        if not self.media_started:
            out.discard()  # nothing ran: what an earlier run wrote stays
            return
        try:
            f = out.file
            f.seek(0)
            data = self.stats.samples * self._bytes * self.params.channels
            f.write(_header(data, self.rate or 16_000, self.params.channels, self.params.format))
        except BaseException:
            out.discard()
            raise
        out.commit()


def _header(data_bytes: int, rate: int, channels: int, fmt: str) -> bytes:
    """A canonical 44-byte RIFF/WAVE header (PCM or IEEE float)."""
    width = 2 if fmt == "s16" else 4
    tag = 1 if fmt == "s16" else 3
    data_bytes = min(data_bytes, 0xFFFFFFFF - 36)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, tag, channels, rate,
                                    rate * channels * width, channels * width, width * 8)
            + b"data" + struct.pack("<I", data_bytes))
