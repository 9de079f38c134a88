"""Headless Chromium for the browser tests: Debian's ``chromium`` driven by playwright,
with fake media devices (a WAV file as the microphone) and loopback WebRTC."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = Path(os.environ.get("MICROTURN_ARTEFACTS", "out/test-artefacts"))


def chromium_args(wav: Path, *, fake_ui: bool = True) -> list[str]:
    """``fake_ui`` grants the microphone without asking; without it a headless Chromium
    denies it (NotAllowedError), as a user who clicks Block would."""
    args = ["--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--autoplay-policy=no-user-gesture-required"]
    if fake_ui:
        args.insert(0, "--use-fake-ui-for-media-stream")
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    return args


def require_chromium() -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make browser-deps` (apt-get install "
                    "chromium), as `make test` does")


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


class SlowOffers:
    """A route handler that holds each ``POST /offer`` for ``delay`` seconds, then lets it
    through (if the page still wants it); ``done()`` waits for the ones held."""

    def __init__(self, delay: float = 2.0) -> None:
        self.delay = delay
        self.held: list[asyncio.Task[None]] = []

    async def handle(self, route: Any) -> None:
        self.held.append(asyncio.current_task())  # type: ignore[arg-type]
        await asyncio.sleep(self.delay)
        with contextlib.suppress(Exception):  # the page gave up on the request meanwhile
            await route.continue_()

    async def done(self) -> None:
        await asyncio.gather(*self.held, return_exceptions=True)
