"""source.tone: synthetic audio with exact phase, deterministic noise, paced frames."""

from __future__ import annotations

import numpy as np

from flow import MS
from flow.testing import run_node


def test_sine_is_exact_and_framed() -> None:
    r = run_node("source.tone", {"frequency": 1000, "amplitude": 0.25, "duration": "1010ms",
                                 "pace": "fast"})
    frames = r.outputs["audio"]
    assert [f.num_samples for f in frames] == [320] * 50 + [160]
    assert [f.pts for f in frames] == [k * 20 * MS for k in range(51)]
    x = np.concatenate([f.samples for f in frames])
    i = np.arange(len(x))
    np.testing.assert_allclose(x, 0.25 * np.sin(2 * np.pi * 1000 * i / 16_000), atol=1e-6)


def test_noise_is_bounded_and_deterministic() -> None:
    def noise() -> np.ndarray:
        r = run_node("source.tone", {"kind": "noise", "amplitude": 0.1, "pace": "fast",
                                     "seed": 7})
        return np.concatenate([f.samples for f in r.outputs["audio"]])

    a, b = noise(), noise()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= 0.1 and a.std() > 0.03


def test_silence() -> None:
    r = run_node("source.tone", {"kind": "silence", "duration": "100ms", "pace": "fast"})
    assert not np.concatenate([f.samples for f in r.outputs["audio"]]).any()


def test_realtime_paces_on_the_clock() -> None:
    r = run_node("source.tone", {"duration": "200ms", "sample_rate": 48_000})
    assert r.times["audio"] == [k * 20 * MS for k in range(10)]
    assert r.outputs["audio"][0].num_samples == 960
