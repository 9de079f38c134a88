"""The batched stepper: one per model, shared by every session that uses that model.

At each tick (``flow.Ticker``: tick k at ``t0 + phase + k * period``) it gathers the
micro-turns that sessions submitted since the last tick and runs them through ONE batched
forward (each session at its own cache position, padded and masked), then hands each
session its outputs. A session whose input missed a tick is stepped at the next one with
everything it has pending, coalesced into one step, and the turns it missed are counted.

The work is split so that the model never runs on the event loop: ``gather()`` (loop),
``compute()`` (a worker thread, through ``clock.run_blocking``), ``deliver()`` (loop).
``tick()`` does all three synchronously (benchmarks, tests).

Steppers are shared through ``shared_stepper()``: a process-wide registry keyed by the
model's identity (config, checkpoint, device, dtype) and the running event loop; a session
context may also provide one as ``context.services["frontend.stepper"]``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

import msgspec
import torch

from flow import MS, Clock, Ticker
from nodes.models.tiny_duplex import TinyDuplexLM
from nodes.types import FusedTurn

from .models import ModelFailed
from .streaming_session import StepResult, StreamingSession, new_pool, step_batch

log = logging.getLogger("microturn.frontend.stepper")


class StepperStatistics(msgspec.Struct, frozen=True):
    sessions: int
    ticks: int
    deadline_misses: int  #: ticks whose step did not finish within the period
    batches: int
    steps: int  #: session steps (a batch of n sessions counts n)
    coalesced: int  #: turns that missed their tick and were stepped with a later one
    dropped: int  #: turns dropped because a session had too many pending
    errors: int
    step_ms_max: float  #: the longest tick's step (all its sessions)
    step_ms_mean: float
    cache_bytes: int


class Seat:
    """A session's place at the stepper: its streaming session and its pending turns."""

    def __init__(self, stepper: Stepper, session: StreamingSession) -> None:
        self.stepper = stepper
        self.session = session
        self.pending: list[FusedTurn] = []
        self.rewind_pending = False
        self.misses = 0  #: turns that missed their tick (coalesced into a later step)
        self.dropped = 0
        self._future: asyncio.Future[StepResult] | None = None

    def submit(self, turn: FusedTurn) -> asyncio.Future[StepResult]:
        """Queue a turn for the next tick. Returns the future of the step that will take
        it (turns coalesced into one step share it). Raises ``ModelFailed`` once the
        stepper has stopped."""
        if self.stepper.failure is not None:
            raise self.stepper.failure
        if len(self.pending) >= self.stepper.max_pending:
            self.pending.pop(0)
            self.dropped += 1
        self.pending.append(turn)
        if self._future is None:
            self._future = asyncio.get_running_loop().create_future()
        return self._future

    def rewind_unspoken(self) -> None:
        """Barge-in: before its next step, drop the model's own tokens of its last step
        (they were not spoken yet, or were cut off)."""
        self.rewind_pending = True

    def _take(self) -> tuple[list[FusedTurn], asyncio.Future[StepResult] | None]:
        turns, fut = self.pending, self._future
        self.pending, self._future = [], None
        return turns, fut


Batch = list[tuple[Seat, list[FusedTurn], "asyncio.Future[StepResult] | None"]]


class Stepper:
    def __init__(self, model: TinyDuplexLM, *, clock: Clock | None = None,
                 period: int = 200 * MS, phase: int = 0, rows: int = 4,
                 batched: bool = True, max_pending: int = 8) -> None:
        self.model = model
        self.clock = clock
        self.period, self.phase = period, phase
        self.batched = batched
        self.max_pending = max_pending
        self.pool = new_pool(model, rows)
        self.seats: list[Seat] = []
        self.ticker: Ticker | None = None
        self._task: asyncio.Task[None] | None = None
        self.failure: ModelFailed | None = None  #: why the stepper stopped, if it did
        self._batch: Batch = []  #: the tick's batch, while it is being stepped
        self.on_empty: Callable[[], None] | None = None
        self._computing = False  # a worker thread is stepping: rows must stay put
        self._closing: list[StreamingSession] = []
        self.ticks = self.batches = self.steps = self.errors = self.overruns = 0
        self.computes = 0  # ticks that stepped something
        self._step_ns_sum = self._step_ns_max = 0

    # -- sessions ------------------------------------------------------------------------------

    def attach(self) -> Seat:
        seat = Seat(self, StreamingSession(self.model, self.pool))
        self.seats.append(seat)
        if self.clock is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="frontend-stepper")
        return seat

    def detach(self, seat: Seat) -> None:
        if seat not in self.seats:
            return
        self.seats.remove(seat)
        _, fut = seat._take()
        if fut is not None and not fut.done():
            fut.cancel()
        if self._computing:
            self._closing.append(seat.session)
        else:
            seat.session.close()
        if not self.seats:
            if self._task is not None:
                self._task.cancel()
                self._task = None
            if self.on_empty is not None:
                self.on_empty()

    # -- one tick ------------------------------------------------------------------------------

    def gather(self) -> Batch:
        """Take every seat's pending turns (on the loop thread)."""
        batch: Batch = []
        for seat in self.seats:
            if seat.pending:
                turns, fut = seat._take()
                seat.misses += len(turns) - 1
                batch.append((seat, turns, fut))
        return batch

    def compute(self, batch: Batch) -> list[StepResult | BaseException]:
        """Step the batch (any thread): one batched forward, or one per session when
        ``batched`` is off (the baseline the benchmark compares against)."""
        t = time.perf_counter_ns()
        for seat, _, _ in batch:
            if seat.rewind_pending:
                seat.rewind_pending = False
                seat.session.rewind(seat.session.own_tail)
        groups = [batch] if self.batched else [[b] for b in batch]
        results: list[StepResult | BaseException] = []
        for group in groups:
            try:
                results += step_batch(self.model, self.pool, [s.session for s, _, _ in group],
                                      [turns for _, turns, _ in group])
            except Exception as exc:  # the sessions are stale now and will re-prefill
                self.errors += 1
                log.warning("step of %d session(s) failed: %r", len(group), exc)
                results += [exc] * len(group)
        dt = time.perf_counter_ns() - t
        self.batches += len(groups)
        self.computes += 1
        self.steps += len(batch)
        self._step_ns_sum += dt
        self._step_ns_max = max(self._step_ns_max, dt)
        if dt > self.period:
            self.overruns += 1
        return results

    @staticmethod
    def deliver(batch: Batch, results: list[StepResult | BaseException]) -> None:
        for (_, _, fut), res in zip(batch, results, strict=True):
            if fut is None or fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)

    def tick(self) -> list[StepResult | BaseException]:
        """Gather, compute and deliver synchronously; returns the results in seat order."""
        self.ticks += 1
        batch = self.gather()
        results = self.compute(batch) if batch else []
        self.deliver(batch, results)
        return results

    async def _run(self) -> None:
        try:
            await self._tick_forever()
        except Exception as exc:  # a bug: every seat fails now, none waits forever
            log.error("the front end's stepper stopped", exc_info=exc)
            self.failure = ModelFailed(f"the front end's stepper stopped: {exc!r}")
            self.failure.__cause__ = exc
            waiting = [fut for _, _, fut in self._batch]  # taken, being stepped
            waiting += [seat._take()[1] for seat in self.seats]
            for fut in waiting:
                if fut is not None and not fut.done():
                    fut.set_exception(self.failure)
            if self.on_empty is not None:
                self.on_empty()  # sessions that start from now on get a new stepper

    async def _tick_forever(self) -> None:
        assert self.clock is not None
        self.ticker = Ticker(self.clock, self.period, t0=self.clock.now() + self.phase)
        while True:
            await self.ticker.next()
            self.ticks += 1
            batch = self._batch = self.gather()
            if batch:
                self._computing = True
                try:
                    results = await self.clock.run_blocking(self.compute, batch)
                finally:
                    self._computing = False
                    for session in self._closing:
                        session.close()
                    self._closing.clear()
                self.deliver(batch, results)
            self._batch = []

    def statistics(self) -> StepperStatistics:
        missed = self.ticker.statistics().missed if self.ticker else self.overruns
        return StepperStatistics(
            sessions=len(self.seats), ticks=self.ticks, deadline_misses=missed,
            batches=self.batches, steps=self.steps,
            coalesced=sum(s.misses for s in self.seats),
            dropped=sum(s.dropped for s in self.seats), errors=self.errors,
            step_ms_max=self._step_ns_max / 1e6,
            step_ms_mean=self._step_ns_sum / 1e6 / max(1, self.computes),
            cache_bytes=self.pool.nbytes())


# -- sharing -----------------------------------------------------------------------------------

_models: dict[Hashable, TinyDuplexLM] = {}
_steppers: dict[tuple[Hashable, int], Stepper] = {}


def shared_model(key: Hashable, load: Callable[[], TinyDuplexLM]) -> TinyDuplexLM:
    """One copy of the weights per process and model identity."""
    model = _models.get(key)
    if model is None:
        model = _models[key] = load()
    return model


def shared_stepper(key: Hashable, load: Callable[[], TinyDuplexLM], clock: Clock,
                   **options: Any) -> Stepper:
    """The stepper of this model on the running loop, made on first use and forgotten when
    its last session detaches. ``options`` (period, phase, batched...) are taken from the
    session that makes it."""
    loop_key = (key, id(asyncio.get_running_loop()))
    stepper = _steppers.get(loop_key)
    if stepper is None:
        stepper = Stepper(shared_model(key, load), clock=clock, **options)

        def forget() -> None:
            if _steppers.get(loop_key) is stepper:
                del _steppers[loop_key]

        stepper.on_empty = forget
        _steppers[loop_key] = stepper
    return stepper


def torch_threads(threads: int) -> None:
    """Set torch's intra-op threads once per process (0: leave torch's default)."""
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
