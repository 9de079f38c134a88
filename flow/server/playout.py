"""Sans-IO pieces of real-time playout and input limiting: they take ``now`` (ns) as an
argument and are tested synchronously."""

from __future__ import annotations

from collections import deque

import numpy as np

from ..units import MS, S

#: WebRTC audio: Opus at 48 kHz in 20 ms packets.
RATE = 48_000
PTIME = 20 * MS
FRAME_SAMPLES = RATE * PTIME // S  # 960


class PlayoutBuffer:
    """A bounded queue of 20 ms int16 frames for a real-time audio output.

    ``pop()`` gives the next frame, or None when empty (the track plays silence: an
    underrun). ``clear()`` empties it at once (barge-in) and says how many frames it cut.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"playout capacity must be at least 1 frame, got {capacity}")
        self.capacity = capacity
        self._q: deque[np.ndarray] = deque()
        self.pushed = 0
        self.played = 0
        self.underruns = 0
        self.cleared = 0

    def __len__(self) -> int:
        return len(self._q)

    @property
    def full(self) -> bool:
        return len(self._q) >= self.capacity

    def push(self, frame: np.ndarray) -> None:
        if frame.shape != (FRAME_SAMPLES,) or frame.dtype != np.int16:
            raise ValueError(f"expected ({FRAME_SAMPLES},) int16, got {frame.shape} {frame.dtype}")
        if self.full:
            raise OverflowError("playout buffer is full")
        self._q.append(frame)
        self.pushed += 1

    def pop(self) -> np.ndarray | None:
        if not self._q:
            self.underruns += 1
            return None
        self.played += 1
        return self._q.popleft()

    def clear(self) -> int:
        n = len(self._q)
        self._q.clear()
        self.cleared += n
        return n


class Pacer:
    """Deadlines of a real-time frame clock: frame k is due at ``start + k * period``.

    A consumer that falls more than ``max_late`` behind (a stalled loop) restarts the
    schedule from now instead of bursting out the backlog, and the restart is counted.
    """

    def __init__(self, period: int, *, max_late: int = 100 * MS) -> None:
        self.period = period
        self.max_late = max_late
        self.start: int | None = None
        self.k = 0
        self.resets = 0

    def next_due(self, now: int) -> int:
        if self.start is None:
            self.start = now
        due = self.start + self.k * self.period
        if now - due > self.max_late:
            self.start = now - self.k * self.period
            due = now
            self.resets += 1
        self.k += 1
        return due


class TokenBucket:
    """At most ``rate`` events per second on average, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._t: int | None = None

    def allow(self, now: int) -> bool:
        if self._t is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate / S)
        self._t = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
