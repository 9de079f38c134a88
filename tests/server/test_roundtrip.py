"""A Python aiortc client talks with served graphs over loopback: what it says or types
comes back as speech and events, and the round trip is measured.

Slow (``pytest.mark.slow``): real time on a real event loop. aiortc's ICE, DTLS and
media pacing run on real sockets over loopback, which a fake clock cannot drive, so the
short real waits here (``asyncio.sleep``) let media start flowing, or show that nothing
more arrives."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from flow import Graph, In, Node, Out, TextDelta
from flow.server.client import Client
from flow.server.sessions import Limits
from flow.server.testing import echo_graph, serving
from flow.units import MS
from nodes.types import Action

# Real time: real aiortc peers over real loopback sockets, with aiortc's own timers and
# codec threads; none of it can run on the fake clock, so these wait in real time.
pytestmark = pytest.mark.slow


class Parrot(Node):
    """A stand-in for the assistant: answers each final user utterance (typed or heard)
    with ``you said: ...`` as a final model ``TextDelta``, and reports the decision as an
    ``Action`` with its reaction time (the media time since the utterance's ``pts``)."""

    text: In[TextDelta] = In(fan_in=True)
    said: Out[TextDelta]
    actions: Out[Action]

    async def on_text(self, msg: TextDelta) -> None:
        if msg.final and msg.text.strip():
            reply = f"you said: {msg.text.strip()}."
            await self.actions.send(Action(pts=self.now(), kind="speak", text=reply,
                                           reaction=max(0, self.now() - msg.pts)))
            await self.said.send(TextDelta(pts=msg.pts, text=reply, role="model", final=True))


def speaking_graph() -> Graph:
    """typed text -> parrot -> espeak -> the browser's speaker; heard and said as events."""
    return Graph.build("speaking", {
        "typed": ("webrtc.text_in", {}),
        "parrot": (Parrot, {}),
        "voice": ("speech.espeak", {"sample_rate": 24000}),
        "speaker": ("webrtc.audio_out", {}),
        "events": ("webrtc.events_out", {}),
    }, ["typed.text -> events.events", "typed.text -> parrot.text", "parrot.said -> voice.text",
        "voice.audio -> speaker.audio", "parrot.said -> events.events"])


async def test_echo_round_trip_and_the_jitter_prefetch_setting() -> None:
    """Audio through the echo graph and back. aiortc holds 4 inbound packets (80 ms) in each
    direction; with the prefetch set to 1 on both ends the round trip is ~120 ms shorter."""
    medians = {}
    for prefetch in (4, 1):
        limits = Limits(jitter_prefetch=prefetch)
        async with serving(echo_graph(), limits=limits) as srv:
            c = await Client.connect(srv.url, jitter_prefetch=prefetch)
            await asyncio.sleep(0.3)
            rtts = await c.burst_round_trips(5)
            await c.close()
        medians[prefetch] = statistics.median(rtts)
        print(f"echo round trip, prefetch {prefetch}: {[round(r) for r in rtts]} ms")
    assert medians[1] < 250
    assert medians[4] - medians[1] > 60


async def test_typed_text_is_spoken_back_with_events() -> None:
    async with serving(speaking_graph()) as srv:
        c = await Client.connect(srv.url)
        await asyncio.sleep(0.3)
        sent = c.clock.now()
        await c.send_text("convert twenty dollars to euros")
        heard = await c.wait_for("heard")
        said = await c.wait_for("said", lambda m: m.final)
        assert heard.text == "convert twenty dollars to euros" and heard.final
        assert said.text == "you said: convert twenty dollars to euros."
        first = await c.wait_until(lambda: c.voiced_after(sent), within=5)

        def voiced_ms() -> int:
            return 20 * sum(1 for t, peak in c.audio if t >= sent and peak > 0.05)

        # The reply is about 2 s of speech: the whole sentence arrives, not a blip.
        await c.wait_until(lambda: voiced_ms() > 1200, within=10)
        await c.close()
    reply_ms = (first - sent) / MS
    print(f"typed text to first reply audio: {reply_ms:.0f} ms")
    assert reply_ms < 800

