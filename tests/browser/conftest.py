"""Browser tests run in the same loopback-only network namespace as the server tests
(entered for this package, left again afterwards): Chromium can reach nothing but
127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flow.server.testing import Served, serving
from tests.browser.chromium import CHROMIUM, chromium_args, require_chromium, write_wav
from tests.browser.script import script_graph
from tests.server.conftest import loopback_only  # noqa: F401  (package-scoped, autouse)


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Any]:
    """Headless Chromium whose fake microphone plays 0.1 s of silence, then loops it."""
    from playwright.async_api import async_playwright

    require_chromium()
    wav = tmp_path / "quiet.wav"
    write_wav(wav, np.zeros(4800, np.float32), 48000)
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=chromium_args(wav))
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def srv() -> AsyncIterator[Served]:
    """The scripted graph (tests/browser/script.py), served."""
    async with serving(script_graph()) as served:
        yield served
