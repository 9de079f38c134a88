"""Messages: immutable, typed records that flow along edges.

Every message carries ``pts``, its media time in nanoseconds since the session started, so
that latency and cadence can be measured end to end. Payloads (numpy arrays, torch tensors)
are held by reference: the engine never copies them. Treat a payload you received as
read-only; a node that wants to modify samples makes its own copy.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import msgspec
import numpy as np

from .units import S


class Message(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every message. ``pts``: media time in ns since session start."""

    pts: int = 0

    #: Control messages bypass edge policies (never dropped, never blocked).
    control: ClassVar[bool] = False

    @property
    def duration(self) -> int:
        """Media duration in ns; counts against an edge's ``max_time``. 0 if not media."""
        return 0


class AudioFrame(Message, frozen=True, kw_only=True):
    """PCM audio. ``samples`` has shape ``(n,)`` for mono or ``(n, channels)``.

    Any numeric dtype is allowed; built-in nodes use float32 in [-1, 1] or int16.
    """

    samples: np.ndarray
    sample_rate: int
    channels: int = 1

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> int:
        return self.num_samples * S // self.sample_rate


class VideoFrame(Message, frozen=True, kw_only=True):
    """One picture: ``image`` is ``(height, width, 3)`` uint8 RGB."""

    image: np.ndarray

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class TextDelta(Message, frozen=True, kw_only=True):
    """A piece of text: typed by the user, heard by a recogniser, or said by the model.

    ``role`` says whose text it is (``user``, ``model``, ``system``). ``final`` marks the end
    of an utterance or reply; deltas before it are partial and may be extended.
    """

    text: str
    role: str = "user"
    final: bool = False


class Event(Message, frozen=True, kw_only=True):
    """Something that happened, for sinks, the browser and logs: ``kind`` plus fields."""

    kind: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)


_interrupt_ids = itertools.count(1)


def _next_interrupt_id() -> int:
    return next(_interrupt_ids)


class Control(Message, frozen=True, kw_only=True):
    """Base of control messages, which edges never drop and never block."""

    control: ClassVar[bool] = True


class Interrupt(Control, frozen=True, kw_only=True):
    """Barge-in / flush. Travels out of band: it overtakes queued data on every edge it
    crosses, empties those queues, and reaches each downstream node once (``id`` dedupes
    it on graphs with fan-in or feedback)."""

    reason: str = ""
    id: int = msgspec.field(default_factory=_next_interrupt_id)


class EndOfStream(Control, frozen=True, kw_only=True):
    """End of a stream. Travels in band: it arrives after everything sent before it."""
