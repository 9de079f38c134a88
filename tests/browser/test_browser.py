"""A real browser talks to a served graph: headless Chromium (Debian's ``chromium``,
installed by ``make test``), driven by playwright, with a WAV file as its microphone.

It loads the page, connects, speaks, and we assert that the server heard the phrase, the
page showed the transcript, and the page received the spoken reply's audio. A screenshot
of the page is saved as a test artefact (its path is printed)."""

from __future__ import annotations

import os
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from flow.server.testing import serving
from nodes.espeak import synthesize
from tests.server.test_roundtrip import speaking_graph

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = Path(os.environ.get("MICROTURN_ARTEFACTS", "out/test-artefacts"))


def chromium_args(wav: Path) -> list[str]:
    args = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--autoplay-policy=no-user-gesture-required"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def artefact(name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS / name


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = np.clip(samples * 32767, -32768, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


async def test_browser_talks_with_a_served_graph(tmp_path: Path) -> None:
    """Slow: a real browser in real time (about 10 s)."""
    from playwright.async_api import async_playwright

    phrase = "convert twenty dollars to euros"
    speech = synthesize(phrase, sample_rate=48000)
    gap = np.zeros(48000, np.float32)
    wav = tmp_path / "mic.wav"
    write_wav(wav, np.concatenate([gap, speech, gap, gap]), 48000)
    shot = artefact("browser.png")

    async with serving(speaking_graph()) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=chromium_args(wav))
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(srv.url + "/")
            await page.click("#connect")
            await page.wait_for_function("window.microturn.state.startsWith('connected')",
                                         timeout=15_000)
            await page.fill("#text", phrase)
            await page.press("#text", "Enter")
            await page.wait_for_function("window.microturn.said.length > 0", timeout=15_000)
            await page.wait_for_function("window.microturn.replyAudio.energy > 0.01",
                                         timeout=15_000)
            await page.wait_for_function("window.microturn.graph !== null", timeout=5_000)
            state = await page.evaluate(
                "({heard: microturn.heard, said: microturn.said, audio: microturn.replyAudio,"
                " errors: microturn.errors, edges: microturn.graph.edges.length})")
            transcript = await page.inner_text("#transcript")
            await page.screenshot(path=str(shot), full_page=True)
            print(f"browser screenshot: {shot.resolve()}")
            await page.click("#disconnect")
            await page.wait_for_function("window.microturn.state === 'disconnected'")
        finally:
            await browser.close()
        assert not errors and not state["errors"], (errors, state["errors"])
        assert phrase in state["heard"]
        assert state["said"] == [f"you said: {phrase}."]
        assert f"you said: {phrase}." in transcript
        assert state["audio"]["energy"] > 0.01 and state["edges"] == 5
    assert srv.manager.opened == 1 and not srv.manager.sessions
