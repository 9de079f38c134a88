"""Speech in, speech out: generated speech into the client's microphone is heard by the
server's recogniser (``asr.pocketsphinx``), answered, and the spoken answer comes back.

Slow (``pytest.mark.slow``): real time on a real event loop. aiortc's ICE, DTLS and
media pacing run on real sockets over loopback, which a fake clock cannot drive, so the
short real waits here (``asyncio.sleep``) let media start flowing, or show that nothing
more arrives."""

from __future__ import annotations

import asyncio

import pytest

from flow import EdgeDecl, Graph, Policy
from flow.server.client import Client
from flow.server.testing import serving
from flow.units import MS, S
from nodes.espeak import synthesize

from .test_roundtrip import Parrot

# Real time: real aiortc peers over real loopback sockets, with aiortc's own timers and
# codec threads; none of it can run on the fake clock, so these wait in real time.
pytestmark = pytest.mark.slow


#: The microphone -> the embedded ears -> parrot -> espeak -> the speaker; what was heard
#: and said go to the browser as events. Typed text joins the parrot too.
LISTENING_NODES = {
    "mic": ("webrtc.audio_in", {"sample_rate": 16000}),
    "ears": ("asr.pocketsphinx", {}),
    "typed": ("webrtc.text_in", {}),
    "parrot": (Parrot, {}),
    "voice": ("speech.espeak", {"sample_rate": 24000}),
    "speaker": ("webrtc.audio_out", {}),
    "events": ("webrtc.events_out", {}),
}
LISTENING_EDGES = [
    EdgeDecl("mic", "audio", "ears", "audio", policy=Policy.DROP_OLDEST, max_time=S),
    "ears.heard -> events.events", "ears.heard -> parrot.text",
    "typed.text -> events.events", "typed.text -> parrot.text",
    "parrot.said -> voice.text", "voice.audio -> speaker.audio",
    "parrot.said -> events.events"]


def listening_graph() -> Graph:
    return Graph.build("listening", dict(LISTENING_NODES), list(LISTENING_EDGES))


async def test_spoken_phrase_is_heard_and_answered_and_the_round_trip_measured() -> None:
    """The Must-show client test: generated speech into the microphone; the server's
    recogniser hears the phrase (``heard``), the graph answers (``said``) and speaks; the
    client receives the spoken reply. Round trip: end of the phrase leaving the client to
    the reply's first audio arriving."""
    phrase = "convert twenty dollars to euros"
    speech = synthesize(phrase, sample_rate=48000)
    async with serving(listening_graph()) as srv:
        c = await Client.connect(srv.url)
        await asyncio.sleep(0.5)
        c.mic.play(speech)
        await c.wait_until(lambda: c.mic.started)
        spoken_end = c.mic.started[0] + len(speech) * S // 48000
        heard = await c.wait_for("heard", lambda m: m.final, within=15)
        said = await c.wait_for("said", lambda m: m.final, within=10)
        reply = await c.wait_until(lambda: c.voiced_after(spoken_end), within=10)
        partials = [m for m in c.of("heard") if not m.final]
        await c.close()
    assert heard.text == phrase
    assert said.text == f"you said: {phrase}."
    assert partials, "the recogniser streams partial hypotheses before its final"
    round_trip_ms = (reply - spoken_end) / MS
    print(f"end of phrase to first reply audio: {round_trip_ms:.0f} ms "
          f"(heard final at {heard.end_ms and heard.end_ms:.0f} ms media time)")
    assert 0 < round_trip_ms < 2000
