"""A real browser talks to a served graph: headless Chromium (Debian's ``chromium``,
installed by ``make test``), driven by playwright, with a WAV file as its microphone.

It loads the page, connects, speaks (the WAV), and we assert that the server's recogniser
heard the phrase, the page showed the transcript, and the page received the spoken reply's
audio; then it types, and the typed text is answered too. A screenshot
of the page is saved as a test artefact (its path is printed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flow import MS, Event, Graph, In, Node, Out, Policy, Ticker, VideoFrame
from flow.graph import EdgeDecl
from flow.server.testing import serving
from nodes.espeak import synthesize
from tests.browser.chromium import CHROMIUM, artefact, chromium_args, require_chromium, write_wav
from tests.server.test_listening import LISTENING_EDGES, LISTENING_NODES

SEEN: list[tuple[int, int]] = []


class Meter(Node):
    """The micro-turn heartbeat's lateness, as the front end reports it: a ``metrics``
    event every 200 ms tick."""

    out: Out[Event]

    async def run(self) -> None:
        ticker = Ticker(self.clock, 200 * MS)
        while True:
            tick = await ticker.next()
            await self.out.send(Event(pts=self.now(), kind="metrics", data={
                "tick_late_ms": tick.lateness / MS, "missed": ticker.missed}))


class Frames(Node):
    """Counts the camera frames that reach the graph (their sizes)."""

    video: In[VideoFrame]

    async def on_video(self, frame: VideoFrame) -> None:
        SEEN.append((frame.width, frame.height))


def browser_graph() -> Graph:
    """The listening graph of the server tests (microphone -> the embedded ears -> parrot ->
    espeak -> the speaker; typed text into the parrot too; heard/said as events), plus the
    parrot's actions and a metrics meter as events and the camera into a frame counter."""
    return Graph.build("browser", {
        **LISTENING_NODES,
        "cam": ("webrtc.video_in", {"fps": 5, "width": 160, "height": 120}),
        "frames": (Frames, {}),
        "meter": (Meter, {}),
    }, [*LISTENING_EDGES, "meter.out -> events.events", "parrot.actions -> events.events",
        EdgeDecl("cam", "video", "frames", "video", policy=Policy.LATEST)])

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_browser_talks_with_a_served_graph(tmp_path: Path) -> None:
    """Slow: a real browser in real time (about 10 s)."""
    from playwright.async_api import async_playwright

    require_chromium()
    phrase = "convert twenty dollars to euros"
    typed = "hello from the keyboard"
    speech = synthesize(phrase, sample_rate=48000)
    gap = np.zeros(48000, np.float32)
    wav = tmp_path / "mic.wav"
    write_wav(wav, np.concatenate([gap, speech, gap, gap]), 48000)
    shot = artefact("browser.png")

    async with serving(browser_graph()) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=chromium_args(wav))
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(srv.url + "/")
            await page.check("#cam")
            await page.click("#connect")
            await page.wait_for_function("window.microturn.state.startsWith('connected')",
                                         timeout=15_000)
            # The fake microphone plays the WAV: 1 s of silence, the phrase, 2 s of silence.
            await page.wait_for_function(f"microturn.heard.includes({phrase!r})",
                                         timeout=20_000)
            await page.wait_for_function(f"microturn.said.includes('you said: {phrase}.')",
                                         timeout=15_000)
            # Typed input reaches the same graph.
            await page.fill("#text", typed)
            await page.press("#text", "Enter")
            await page.wait_for_function(f"microturn.said.includes('you said: {typed}.')",
                                         timeout=15_000)
            await page.wait_for_function("window.microturn.replyAudio.energy > 0.01",
                                         timeout=15_000)
            # the two replies (about 2.5 s each) are heard out
            await page.wait_for_function("window.microturn.replyAudio.voiced > 3",
                                         timeout=15_000)
            await page.wait_for_function(
                "microturn.graph && microturn.graph.edges.some("
                "e => e.name.startsWith('cam.video') && e.carried > 2)", timeout=10_000)
            state = await page.evaluate(
                "({heard: microturn.heard, said: microturn.said, audio: microturn.replyAudio,"
                " errors: microturn.errors, edges: microturn.graph.edges.length,"
                " metrics: microturn.metrics})")
            meter = {k: await page.inner_text(f"#{k}") for k in ("late-ms", "react-ms",
                                                                 "audio-s")}
            transcript = await page.inner_text("#transcript")
            await page.screenshot(path=str(shot), full_page=True)
            print(f"browser screenshot: {shot.resolve()}")
            await page.click("#disconnect")
            await page.wait_for_function("window.microturn.state === 'disconnected'")
        finally:
            await browser.close()
        assert not errors and not state["errors"], (errors, state["errors"])
        # heard by the server's recogniser, from the mic (on a loaded machine the real-time
        # audio may also bring a stray hypothesis out of the silence before it)
        assert phrase in state["heard"] and typed in state["heard"]
        assert f"you said: {phrase}." in state["said"]
        assert f"you said: {phrase}." in transcript and f"you said: {typed}." in transcript
        assert state["audio"]["energy"] > 0.01 and state["edges"] == 11
        # the replies were heard, for less than the stream lasted (it carries silence too)
        assert 1.5 < state["audio"]["voiced"] < state["audio"]["seconds"] - 1
        assert meter["audio-s"].endswith(" s spoken")
        assert 0 <= state["metrics"]["tick_late_ms"] < 200 and state["metrics"]["missed"] >= 0
        assert 0 <= state["metrics"]["reaction_ms"] < 1000
        assert meter["late-ms"].endswith(" ms") and meter["react-ms"].endswith(" ms")
        assert SEEN and set(SEEN) == {(160, 120)}  # the camera reached the graph
    assert srv.manager.opened == 1 and not srv.manager.sessions
