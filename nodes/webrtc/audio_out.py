"""``webrtc.audio_out``: plays ``AudioFrame``s to the browser.

Frames of any rate and layout are converted to 48 kHz mono int16 (PyAV's resampler), cut
into 20 ms frames and queued in the session's outgoing track, whose bounded playout buffer
(``buffer``, default 400 ms) plays them in real time and plays silence when it is empty.
When the buffer is full this node waits, so backpressure reaches the synthesiser instead of
audio piling up. On ``Interrupt`` the buffer is emptied at once and what this node held is
dropped: a barge-in is audible within one 20 ms frame.
"""

from __future__ import annotations

import msgspec
import numpy as np

from flow import AudioFrame, In, Interrupt, Node, ParamError
from flow.params import Duration
from flow.units import parse_duration

from ._common import peer_of

RATE = 48_000
FRAME = 960  # 20 ms at 48 kHz


def to_mono_float(frame: AudioFrame) -> np.ndarray:
    s = frame.samples
    if s.ndim == 2:
        s = s.mean(axis=1) if s.shape[1] > 1 else s[:, 0]
    if s.dtype == np.int16:
        return s.astype(np.float32) / 32768.0
    return s.astype(np.float32, copy=False)


class WebRTCAudioOut(Node):
    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        buffer: Duration = "400ms"  #: playout buffer: how far ahead of the speaker audio may be

    audio: In[AudioFrame]

    async def setup(self) -> None:
        self.peer = peer_of(self)
        self.track = self.peer.audio_out
        if self.track is None:
            raise ParamError(f"node {self.id!r}: the peer has no outgoing audio track "
                             "(the offer had no audio m-line)")
        try:
            frames = parse_duration(self.params.buffer) // 20_000_000
        except ValueError as exc:
            raise ParamError(f"node {self.id!r}: {exc} - at with.buffer") from None
        if frames < 1:
            raise ParamError(f"node {self.id!r}: buffer must be at least 20ms - at with.buffer")
        self.track.buffer.capacity = frames
        self._rest = np.zeros(0, np.int16)
        self._resamplers: dict[int, object] = {}
        self._epoch = 0
        self.cut = 0  #: frames dropped by interrupts

    def _resample(self, x: np.ndarray, rate: int) -> np.ndarray:
        if rate == RATE:
            return np.clip(x * 32768.0, -32768, 32767).astype(np.int16)
        import av

        r = self._resamplers.get(rate)
        if r is None:
            r = self._resamplers[rate] = av.AudioResampler(format="s16", layout="mono",
                                                           rate=RATE)
        f = av.AudioFrame.from_ndarray(x.reshape(1, -1), format="flt", layout="mono")
        f.sample_rate = rate
        out = [o.to_ndarray().reshape(-1) for o in r.resample(f)]  # type: ignore[attr-defined]
        return np.concatenate(out) if out else np.zeros(0, np.int16)

    async def on_audio(self, frame: AudioFrame) -> None:
        epoch = self._epoch
        pcm = self._resample(to_mono_float(frame), frame.sample_rate)
        buf = np.concatenate([self._rest, pcm]) if len(self._rest) else pcm
        i = 0
        while len(buf) - i >= FRAME:
            if not await self.track.put(buf[i:i + FRAME].copy()) or epoch != self._epoch:
                return  # the track ended, or an interrupt made the rest stale
            i += FRAME
        self._rest = buf[i:]

    def on_interrupt(self, msg: Interrupt) -> None:
        self._epoch += 1
        self._rest = np.zeros(0, np.int16)
        self._resamplers.clear()
        self.cut += self.track.clear()

    async def on_end(self) -> None:
        if len(self._rest):
            pad = np.zeros(FRAME - len(self._rest), np.int16)
            await self.track.put(np.concatenate([self._rest, pad]))
            self._rest = np.zeros(0, np.int16)
