"""Shared test setup, kept small.

Hypothesis runs without per-example deadlines: the CI and development machines are shared
and noisy, and a deadline would fail a test on timing rather than behaviour. Tests never
sleep in real time; the engine's FakeClock makes time-based tests instant.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

from flow import FakeClock

settings.register_profile("microturn", deadline=None, print_blob=True)
settings.load_profile("microturn")


@pytest.fixture
def fake_clock() -> FakeClock:
    """A fresh virtual clock; run a coroutine on it with ``fake_clock.run(main())``."""
    return FakeClock()
