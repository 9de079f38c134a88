"""Tests of the gain.scale node, written with flow.testing: no event loop, no sleeping."""

import numpy as np
import pytest
from microturn_gain import Gain

from flow import AudioFrame, GraphError, Interrupt
from flow.testing import run_node


def frame(pts_ms: int, value: float, dtype: type = np.float32) -> AudioFrame:
    return AudioFrame(pts=pts_ms * 1_000_000, samples=np.full(320, value, dtype=dtype),
                      sample_rate=16000)


def test_six_db_doubles():
    result = run_node(Gain, {"gain_db": 6.0206}, inputs={"audio": [frame(0, 0.25)]})
    (out,) = result.outputs["out"]
    assert out.pts == 0 and out.samples.dtype == np.float32
    assert np.allclose(out.samples, 0.5, atol=1e-4)


def test_clips_instead_of_wrapping():
    result = run_node(Gain, {"gain_db": 20}, inputs={"audio": [frame(0, 20000, np.int16)]})
    assert result.outputs["out"][0].samples.max() == 32767


def test_interrupts_pass_through():
    # pace="pts" sends each input when the fake clock reaches its pts, as a live source
    # would; with the default pace="fast" the Interrupt would overtake (and flush) frames
    # still queued, which is what an interrupt is for.
    frames = [frame(0, 0.1), Interrupt(pts=10_000_000, reason="barge-in"), frame(20, 0.1)]
    result = run_node(Gain, {"gain_db": 0}, inputs={"audio": frames}, pace="pts")
    kinds = [type(m).__name__ for m in result.outputs["out"]]
    assert kinds == ["AudioFrame", "Interrupt", "AudioFrame"]
    assert result.times["out"] == [0, 10_000_000, 20_000_000]


def test_parameters_are_checked():
    with pytest.raises(GraphError, match=r"Expected float <= 40.0, got 100 - at with.gain_db"):
        run_node(Gain, {"gain_db": 100})
