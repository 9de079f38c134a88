"""Small node types for loader, CLI and schema tests, registered in a private
``Registry`` so that these tests never depend on the built-in nodes."""

from __future__ import annotations

import sys
from typing import Annotated, Literal

import msgspec
import numpy as np

from flow import MS, AudioFrame, In, Node, Out, TextDelta
from flow.params import Duration
from flow.registry import Registry


class Lines(Node):
    """Says each of ``lines``, one every ``every_ms`` of media time."""

    text: Out[TextDelta]

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        lines: list[str] = msgspec.field(default_factory=lambda: ["hello"])
        every_ms: Annotated[int, msgspec.Meta(ge=0)] = 0
        forever: bool = False

    async def run(self) -> None:
        i = 0
        while i < len(self.params.lines) or self.params.forever:
            line = self.params.lines[i % len(self.params.lines)]
            await self.clock.sleep_until(self.context.t0 + i * self.params.every_ms * MS)
            await self.text.send(TextDelta(pts=self.now(), text=line))
            i += 1


class Upper(Node):
    """Upper-cases text."""

    text: In[TextDelta]
    out: Out[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        await self.out.send(TextDelta(pts=msg.pts, text=msg.text.upper(), role="model"))


class Print(Node):
    """Prints each text on stdout (``prefix: text``)."""

    text: In[TextDelta] = In(fan_in=True)

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        prefix: str = "said"

    async def on_text(self, msg: TextDelta) -> None:
        print(f"{self.params.prefix}: {msg.text}", file=sys.stdout, flush=True)


class Voice(Node):
    """Text in, audio out (silence as long as the text)."""

    text: In[TextDelta]
    audio: Out[AudioFrame]

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        voice: str = "en-us"
        rate: Annotated[int, msgspec.Meta(ge=8000, description="sample rate, Hz")] = 16000
        pace: Literal["fast", "realtime"] = "fast"

    async def on_text(self, msg: TextDelta) -> None:
        samples = np.zeros(len(msg.text) * self.params.rate // 100, dtype=np.float32)
        await self.audio.send(AudioFrame(pts=msg.pts, samples=samples,
                                         sample_rate=self.params.rate))


class AudioSink(Node):
    """Needs a path; counts samples."""

    audio: In[AudioFrame]

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        path: str
        channels: Annotated[int, msgspec.Meta(ge=1, le=8)] = 1

    async def on_audio(self, msg: AudioFrame) -> None:
        pass


class Front(Node):
    """A node with a feedback input, like the front end."""

    text: In[TextDelta]
    results: In[TextDelta]
    ask: Out[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        await self.ask.send(msg)

    async def on_results(self, msg: TextDelta) -> None:
        pass


class Back(Node):
    """Answers what it is asked."""

    ask: In[TextDelta]
    result: Out[TextDelta]

    async def on_ask(self, msg: TextDelta) -> None:
        await self.result.send(msg)


class Fail(Node):
    """Raises on the first message."""

    text: In[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        raise ValueError(f"cannot handle {msg.text!r}")


class Lax(Node):
    """Params without forbid_unknown_fields: the loader must still reject unknown ones."""

    text: In[TextDelta]

    class Params(msgspec.Struct, frozen=True):
        level: float = 1.0
        extra: dict[str, int] = msgspec.field(default_factory=dict)
        window: Duration = "1s"

    async def on_text(self, msg: TextDelta) -> None:
        pass


TYPES: dict[str, type[Node]] = {
    "test.lines": Lines, "test.upper": Upper, "test.print": Print, "test.voice": Voice,
    "test.audio_sink": AudioSink, "test.front": Front, "test.back": Back, "test.fail": Fail,
    "test.lax": Lax,
}


def registry() -> Registry:
    reg = Registry()
    for name, cls in TYPES.items():
        reg.register(name, cls)
    return reg
