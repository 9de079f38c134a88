"""The micro-turn ticker: no drift, lateness measured, missed deadlines, coalescing."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flow import MS, FakeClock, Ticker

PERIOD = 200 * MS


def test_ten_minutes_of_200ms_ticks_run_on_virtual_time_without_drift() -> None:
    clock = FakeClock()

    async def main() -> Ticker:
        ticker = Ticker(clock, PERIOD)
        for k in range(3000):
            tick = await ticker.next()
            assert tick.index == k and tick.due == k * PERIOD == tick.now
            await clock.sleep(7 * MS)  # the micro-turn's work
        return ticker

    start = time.perf_counter()
    ticker = clock.run(main())
    elapsed = time.perf_counter() - start
    assert clock.now() == 2999 * PERIOD + 7 * MS  # exactly: no drift over 10 minutes
    # Virtual, not real: far under the 10 minutes (a bound tight enough to time the fake
    # clock would flake on a loaded machine).
    assert elapsed < 60, f"10 minutes of ticks took {elapsed:.2f}s of real time"
    st_ = ticker.statistics()
    assert (st_.ticks, st_.missed, st_.late_max, st_.late_mean) == (3000, 0, 0, 0.0)


def test_a_late_consumer_coalesces_instead_of_building_lag() -> None:
    clock = FakeClock(start=5 * MS)

    async def main() -> list[tuple[int, int, int]]:
        ticker = Ticker(clock, PERIOD)
        got = []
        for _ in range(5):
            tick = await ticker.next()
            got.append((tick.index, tick.lateness // MS, tick.skipped))
            if tick.index == 2:
                await clock.sleep(450 * MS)  # this micro-turn overran by 2.25 periods
        return got

    # Tick 2 (due 400 ms) works until 850 ms: tick 3 (600) is skipped, tick 4 (800) fires
    # 50 ms late, tick 5 and 6 are on time again.
    got = clock.run(main())
    assert got == [(0, 0, 0), (1, 0, 0), (2, 0, 0), (4, 50, 1), (5, 0, 0)]


def test_missed_deadlines_and_lateness_statistics() -> None:
    ticker = Ticker(FakeClock(), PERIOD, t0=1000 * MS, deadline=20 * MS)
    assert ticker.next_due == 1000 * MS
    t = ticker.fire(1000 * MS)
    assert (t.index, t.lateness, t.skipped) == (0, 0, 0)
    t = ticker.fire(1230 * MS)  # 30 ms late: past the 20 ms deadline
    assert (t.index, t.lateness) == (1, 30 * MS)
    t = ticker.fire(1410 * MS)  # 10 ms late: within it
    assert (t.index, t.lateness) == (2, 10 * MS)
    t = ticker.fire(2050 * MS)  # tick 3 was due at 1600: skip 3 and 4, fire 5 (2000)
    assert (t.index, t.due, t.skipped, t.lateness) == (5, 2000 * MS, 2, 50 * MS)
    st_ = ticker.statistics()
    assert st_.ticks == 4 and st_.missed == 1 + 2 + 1
    assert st_.late_max == 50 * MS and st_.late_mean == (0 + 30 + 10 + 50) * MS / 4
    with pytest.raises(ValueError, match="not yet"):
        ticker.fire(2100 * MS)
    with pytest.raises(ValueError, match="positive"):
        Ticker(FakeClock(), 0)


@given(st.lists(st.integers(0, 5 * PERIOD), min_size=1, max_size=200),
       st.integers(0, 10**12))
def test_ticks_never_drift_whatever_the_consumer_does(delays: list[int], t0: int) -> None:
    ticker = Ticker(FakeClock(), PERIOD, t0=t0)
    last = -1
    skipped = 0
    for delay in delays:
        now = ticker.next_due + delay
        tick = ticker.fire(now)
        assert tick.due == t0 + tick.index * PERIOD  # computed, never accumulated
        assert 0 <= tick.lateness < PERIOD  # coalescing bounds the lag
        assert tick.index == last + 1 + tick.skipped
        skipped += tick.skipped
        last = tick.index
    assert ticker.ticks == len(delays) and ticker.ticks + skipped == last + 1
