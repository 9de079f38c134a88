"""The micro-turn heartbeat.

Tick k is due at ``t0 + k * period``: deadlines are computed, never accumulated, so there is
no drift however long a session runs. A consumer that falls behind does not get a burst of
stale ticks: the ticker coalesces to the newest due tick and counts the ones it skipped.
"""

from __future__ import annotations

import msgspec

from .clock import Clock


class Tick(msgspec.Struct, frozen=True):
    index: int  #: k: which micro-turn this is
    due: int  #: t0 + k * period (clock ns)
    now: int  #: when the consumer got it
    skipped: int  #: ticks coalesced into this one because the consumer was late

    @property
    def lateness(self) -> int:
        return self.now - self.due


class TickerStatistics(msgspec.Struct, frozen=True):
    period: int
    ticks: int
    missed: int
    late_max: int
    late_mean: float


class Ticker:
    """``await ticker.next()`` returns the next due ``Tick``.

    ``deadline`` (default: one period) is how late a tick may be before it counts as a
    missed deadline; ticks later than a whole period are coalesced (each one skipped
    counts as missed too).

    The arithmetic is sans-IO: ``next_due`` and ``fire(now)`` take no clock, so a test
    can drive them with any sequence of times; ``next()`` only adds the wait.
    """

    def __init__(self, clock: Clock, period: int, *, t0: int | None = None,
                 deadline: int | None = None) -> None:
        if period <= 0:
            raise ValueError(f"ticker period must be positive, got {period}")
        self.clock = clock
        self.period = period
        self.t0 = clock.now() if t0 is None else t0
        self.deadline = period if deadline is None else deadline
        self._k = 0
        self.ticks = 0
        self.missed = 0
        self._late_sum = 0
        self.late_max = 0

    @property
    def next_due(self) -> int:
        """When the next tick is due: ``t0 + k * period``."""
        return self.t0 + self._k * self.period

    async def next(self) -> Tick:
        await self.clock.sleep_until(self.next_due)
        return self.fire(self.clock.now())

    def fire(self, now: int) -> Tick:
        """Take the next tick at ``now`` (not before it is due), coalescing ticks that
        are a whole period or more overdue."""
        due = self.next_due
        if now < due:
            raise ValueError(f"tick {self._k} is due at {due}, not yet at {now}")
        skipped = 0
        behind = (now - due) // self.period
        if behind > 0:  # coalesce: jump to the newest due tick
            skipped = behind
            self._k += behind
            due += behind * self.period
            self.missed += behind
        index = self._k
        self._k += 1
        late = now - due
        if late > self.deadline:
            self.missed += 1
        self.ticks += 1
        self._late_sum += late
        self.late_max = max(self.late_max, late)
        return Tick(index=index, due=due, now=now, skipped=skipped)

    def statistics(self) -> TickerStatistics:
        return TickerStatistics(
            period=self.period, ticks=self.ticks, missed=self.missed, late_max=self.late_max,
            late_mean=self._late_sum / self.ticks if self.ticks else 0.0)
