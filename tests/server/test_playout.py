import numpy as np
import pytest

from flow.server.playout import FRAME_SAMPLES, Pacer, PlayoutBuffer, TokenBucket
from flow.units import MS, S


def frame(v: int = 1) -> np.ndarray:
    return np.full(FRAME_SAMPLES, v, np.int16)


def test_playout_buffer_fifo_bounded_and_cleared() -> None:
    b = PlayoutBuffer(3)
    for v in (1, 2, 3):
        b.push(frame(v))
    assert b.full
    with pytest.raises(OverflowError):
        b.push(frame())
    assert b.pop()[0] == 1
    assert b.clear() == 2 and len(b) == 0 and b.cleared == 2
    assert b.pop() is None and b.underruns == 1


def test_playout_buffer_checks_frames() -> None:
    with pytest.raises(ValueError, match="int16"):
        PlayoutBuffer(2).push(np.zeros(FRAME_SAMPLES, np.float32))


def test_pacer_no_drift_and_no_burst_after_stall() -> None:
    p = Pacer(20 * MS)
    assert [p.next_due(0) for _ in range(3)] == [0, 20 * MS, 40 * MS]
    # called late but within max_late: deadlines stay on the grid
    assert p.next_due(90 * MS) == 60 * MS
    # stalled 1 s: restart from now instead of bursting 50 frames
    assert p.next_due(1 * S) == 1 * S and p.resets == 1
    assert p.next_due(1 * S) == 1 * S + 20 * MS


def test_token_bucket() -> None:
    tb = TokenBucket(rate=10, burst=3)
    assert [tb.allow(0) for _ in range(4)] == [True, True, True, False]
    assert not tb.allow(50 * MS)
    assert tb.allow(100 * MS)  # one token per 100 ms
    assert all(tb.allow(10 * S) for _ in range(3)) and not tb.allow(10 * S)
