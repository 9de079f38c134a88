"""``source.tone``: synthetic audio (sine, silence, white noise) for tests and benchmarks.

Frames of ``frame`` (20 ms) of mono float32 until ``duration`` (a last, shorter frame if it
does not divide). Sample ``i`` of a sine is ``amplitude * sin(2 pi f i / rate)``, computed
from the absolute index, so the phase is exact however long it runs. Noise is uniform in
``[-amplitude, amplitude]`` from a seeded generator: the same parameters give the same
samples. ``pace: realtime`` sends frame ``k`` at ``t0 + pts`` like a live microphone;
``fast`` sends as fast as downstream accepts.
"""

from __future__ import annotations

from typing import Literal

import msgspec
import numpy as np

from flow import AudioFrame, Node, Out
from flow.params import Duration
from flow.units import S, parse_duration


class ToneSourceParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kind: Literal["sine", "silence", "noise"] = "sine"
    frequency: float = 440.0
    amplitude: float = 0.5
    duration: Duration = "1s"
    sample_rate: int = 16_000
    frame: Duration = "20ms"
    pace: Literal["realtime", "fast"] = "realtime"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("sine", "silence", "noise"):
            raise ValueError(f"kind: expected 'sine', 'silence' or 'noise', got {self.kind!r}")
        if self.pace not in ("realtime", "fast"):
            raise ValueError(f"pace: expected 'realtime' or 'fast', got {self.pace!r}")
        for name in ("duration", "frame"):
            try:
                parse_duration(getattr(self, name))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        if not 0.0 <= self.amplitude <= 1.0:
            raise ValueError(f"amplitude: expected 0 to 1, got {self.amplitude}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate: expected a positive rate, got {self.sample_rate}")


def tone(kind: str, start: int, n: int, *, rate: int, frequency: float = 440.0,
         amplitude: float = 0.5, rng: np.random.Generator | None = None) -> np.ndarray:
    """Samples ``[start, start + n)`` of a tone, float32."""
    if kind == "sine":
        i = np.arange(start, start + n, dtype=np.float64)
        return (amplitude * np.sin(2 * np.pi * frequency * i / rate)).astype(np.float32)
    if kind == "noise":
        rng = rng or np.random.default_rng(0)
        return rng.uniform(-amplitude, amplitude, n).astype(np.float32)
    return np.zeros(n, np.float32)


class ToneSource(Node):
    Params = ToneSourceParams
    audio: Out[AudioFrame]

    async def run(self) -> None:
        p = self.params
        rate = p.sample_rate
        total = parse_duration(p.duration) * rate // S
        size = max(1, parse_duration(p.frame) * rate // S)
        rng = np.random.default_rng(p.seed)
        for start in range(0, total, size):
            pts = start * S // rate
            if p.pace == "realtime" and pts > self.now():
                await self.clock.sleep_until(self.context.t0 + pts)
            x = tone(p.kind, start, min(size, total - start), rate=rate, frequency=p.frequency,
                     amplitude=p.amplitude, rng=rng)
            await self.audio.send(AudioFrame(pts=pts, samples=x, sample_rate=rate))
