"""``gain.scale``: multiply audio by a gain given in decibels, clipping what overflows."""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np

from flow import AudioFrame, In, Interrupt, Node, Out


class Gain(Node):
    """Scales audio by ``gain_db`` decibels. Float samples are clipped to [-1, 1] and int16
    samples to their range, so a loud gain saturates instead of wrapping around."""

    audio: In[AudioFrame] = In(doc="audio to scale (float32 in [-1, 1] or int16)")
    out: Out[AudioFrame] = Out(doc="the same frames, scaled; pts unchanged")

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        gain_db: Annotated[float, msgspec.Meta(ge=-60, le=40,
                                               description="gain in dB; 6 dB doubles")] = 0.0
        clip: Annotated[bool, msgspec.Meta(description="clip instead of overflowing")] = True

    async def setup(self) -> None:
        self.factor = 10 ** (self.params.gain_db / 20)
        self.frames = 0

    async def on_audio(self, frame: AudioFrame) -> None:
        self.frames += 1
        await self.out.send(msgspec.structs.replace(frame, samples=self.scale(frame.samples)))

    def on_interrupt(self, msg: Interrupt) -> None:
        # Nothing is buffered here, so nothing goes stale; a node that buffers (a resampler,
        # a synthesiser) drops its buffer in this method. The engine forwards the interrupt.
        pass

    def scale(self, samples: np.ndarray) -> np.ndarray:
        """Scaled copy of ``samples`` in the same dtype (received arrays are read-only by
        contract: never scale in place)."""
        scaled = samples.astype(np.float32) * np.float32(self.factor)
        if samples.dtype == np.int16:
            if self.params.clip:
                scaled = np.clip(scaled, -32768, 32767)
            return np.round(scaled).astype(np.int16)
        if self.params.clip:
            scaled = np.clip(scaled, -1.0, 1.0)
        return scaled.astype(samples.dtype, copy=False)
