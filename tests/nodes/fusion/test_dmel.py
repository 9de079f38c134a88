"""dMel: streaming equals offline bit for bit, the framing and the fixed quantisation range."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodes.fusion.dmel import (
    DB_MIN,
    DB_STEP,
    HOP,
    LEVELS,
    N_MELS,
    SAMPLE_RATE,
    THRESHOLDS,
    WINDOW,
    DMelStream,
    dmel,
    hann_window,
    level_of_db,
    mel_filterbank,
)


def signal(seed: int, n: int, loudness_db: float) -> np.ndarray:
    """Noise plus a few tones at a given loudness, so frames cover many levels."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SAMPLE_RATE
    x = rng.standard_normal(n) * 0.3
    for f in rng.uniform(50, 7900, 3):
        x += np.sin(2 * np.pi * f * t)
    return (x * 10 ** (loudness_db / 20) / 3).astype(np.float32)


def stream(x: np.ndarray, cuts: list[int]) -> np.ndarray:
    s = DMelStream()
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(x)), len(x)]
    parts = [s.push(x[a:b]) for a, b in itertools.pairwise(bounds)]
    return np.concatenate([np.zeros((0, N_MELS), np.uint8), *parts])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 12_000),
       loudness=st.floats(-100, 6), cuts=st.lists(st.integers(0, 12_000), max_size=12))
def test_streaming_equals_offline_exactly(seed: int, n: int, loudness: float,
                                          cuts: list[int]) -> None:
    x = signal(seed, n, loudness)
    offline = dmel(x)
    assert offline.shape == (n // HOP, N_MELS)
    np.testing.assert_array_equal(stream(x, cuts), offline)


def test_micro_turn_chunks_give_16_frames_each_and_match_offline() -> None:
    x = signal(7, 3200 * 50, -20)
    s = DMelStream()
    turns = [s.push(x[i:i + 3200]) for i in range(0, len(x), 3200)]
    assert all(t.shape == (16, N_MELS) for t in turns)
    assert s.frames == 800
    np.testing.assert_array_equal(np.concatenate(turns), dmel(x))


def test_levels_match_the_documented_formula() -> None:
    """An independent float implementation of the definition (frame i ends at sample
    200*(i+1), zero history, Hann, rfft, HTK mel, dB, floor) agrees wherever a value is not
    within a hair of a level boundary."""
    x = signal(3, 4000, -12).astype(np.float64)
    padded = np.concatenate([np.zeros(WINDOW - HOP), x])
    levels = dmel(x)
    fb, win = mel_filterbank(), hann_window()
    checked = 0
    for i in range(len(x) // HOP):
        frame = padded[i * HOP:i * HOP + WINDOW]  # ends at sample 200 * (i + 1) of x
        power = np.abs(np.fft.rfft(frame * win)) ** 2 * (2 / win.sum()) ** 2
        db = 10 * np.log10(np.maximum(fb @ power, 1e-300))
        position = (db - DB_MIN) / DB_STEP
        clear = np.abs(position - np.round(position)) > 1e-6
        expected = np.clip(np.floor(position), 0, LEVELS - 1)
        np.testing.assert_array_equal(levels[i][clear], expected[clear])
        checked += int(clear.sum())
    assert checked > 0.99 * levels.size


def test_frames_never_look_ahead() -> None:
    x = signal(5, 6400, -10)
    y = x.copy()
    y[3200:] = signal(6, 3200, 0)
    np.testing.assert_array_equal(dmel(x)[:16], dmel(y)[:16])
    assert (dmel(x)[16:] != dmel(y)[16:]).any()


def test_zero_history_at_start_and_after_reset() -> None:
    x = signal(11, 3200, -6)
    s = DMelStream()
    s.push(signal(12, 5000, 0))
    s.reset()
    np.testing.assert_array_equal(s.push(x), dmel(x))
    # The first frame sees 600 zeros then 200 samples: the same as explicit zeros.
    with_zeros = dmel(np.concatenate([np.zeros(WINDOW - HOP, np.float32), x]))
    np.testing.assert_array_equal(dmel(x), with_zeros[(WINDOW - HOP) // HOP:])


def test_silence_is_level_zero() -> None:
    assert not dmel(np.zeros(3200, np.float32)).any()


def test_fixed_range_thresholds() -> None:
    """Level k >= 1 starts at DB_MIN + 6k dB: -90 dB for level 1, -6 dB for level 15."""
    scale = (2 / hann_window().sum()) ** 2
    db = 10 * np.log10(THRESHOLDS * scale)
    np.testing.assert_allclose(db, DB_MIN + DB_STEP * np.arange(1, LEVELS))
    assert (DB_MIN + DB_STEP, DB_MIN + DB_STEP * (LEVELS - 1)) == (-90.0, -6.0)
    assert [level_of_db(d) for d in (-200, -90.1, -90, -6.1, -6, 0, 40)] == [
        0, 0, 1, 14, 15, 15, 15]


@pytest.mark.parametrize("amplitude_db", [0, -12, -24, -48, -72])
def test_a_tone_lands_at_its_level(amplitude_db: int) -> None:
    """A 1 kHz sine of amplitude A puts about 20*log10(A) - 1.1 dB in its mel channel (the
    Hann main lobe spread over the triangle), so its level follows the fixed range and
    does not depend on the rest of the signal."""
    t = np.arange(6400) / SAMPLE_RATE
    x = 10 ** (amplitude_db / 20) * np.sin(2 * np.pi * 1000 * t)
    levels = dmel(x)[8:]  # past the zero-history start
    peak = int(levels.max(axis=0).argmax())
    fb, win = mel_filterbank(), hann_window()
    power = np.abs(np.fft.rfft(x[:WINDOW] * win)) ** 2 * (2 / win.sum()) ** 2
    db = 10 * np.log10((fb @ power)[peak])
    assert abs(db - (amplitude_db - 1.1)) < 0.5
    assert (levels[:, peak] == level_of_db(db)).all()


def test_levels_are_4_bit_and_clip_above_full_scale() -> None:
    loud = signal(1, 3200, 40)  # far above full scale
    levels = dmel(loud)
    assert levels.dtype == np.uint8 and levels.max() == LEVELS - 1
    assert dmel(signal(2, 3200, -20)).max() <= LEVELS - 1


def test_int16_pcm_is_scaled_to_full_scale() -> None:
    x = signal(9, 3200, -6)
    pcm = np.round(x * 32768).clip(-32768, 32767).astype(np.int16)
    np.testing.assert_array_equal(dmel(pcm), dmel(pcm.astype(np.float64) / 32768))


def test_rejects_non_mono_shapes() -> None:
    with pytest.raises(ValueError, match="mono"):
        dmel(np.zeros((2, 3, 4)))


def test_one_frame_per_push_and_tiny_pushes_equal_one_batch() -> None:
    """The extremes of batching: every frame computed alone, and pushes smaller than a hop
    (most push no frame at all), against all 80 frames of one second computed together."""
    x = signal(21, SAMPLE_RATE, -30)
    offline = dmel(x)
    per_hop = DMelStream()
    alone = [per_hop.push(x[i:i + HOP]) for i in range(0, len(x), HOP)]
    assert all(a.shape == (1, N_MELS) for a in alone)
    np.testing.assert_array_equal(np.concatenate(alone), offline)
    steps = itertools.islice(itertools.cycle([1, 7, 3, 150, 41]), 600)
    cuts = [c for c in itertools.accumulate(steps) if c < len(x)]
    np.testing.assert_array_equal(stream(x, cuts), offline)
