from __future__ import annotations

import asyncio

import pytest

from flow import MS, FakeClock
from nodes.frontend.stepper import Stepper
from nodes.frontend.streaming_session import StreamingSession, step_batch
from nodes.frontend.synthetic import synthetic_turn
from nodes.models.tiny_duplex import TinyDuplexLM
from nodes.types import FusedTurn

from .conftest import make_pool

PERIOD = 200 * MS


def stream(seed: int, n: int) -> list[FusedTurn]:
    return [synthetic_turn(i, seed=seed, text="ok" if i % 2 else "") for i in range(n)]


def test_one_batched_forward_per_tick_gives_each_session_its_solo_outputs(
        model: TinyDuplexLM) -> None:
    stepper = Stepper(model, rows=2)
    seats = [stepper.attach() for _ in range(3)]  # the pool grows to 4 rows
    solo = [StreamingSession(model, make_pool(model)) for _ in range(3)]
    streams = [stream(k, 4) for k in range(3)]

    async def main() -> None:
        for i in range(4):
            futs = [seat.submit(streams[k][i]) for k, seat in enumerate(seats)]
            stepper.tick()
            for k, fut in enumerate(futs):
                alone = solo[k].step(streams[k][i])
                assert fut.result().tokens == alone.tokens
                assert fut.result().action_probs == pytest.approx(alone.action_probs,
                                                                  abs=1e-5)

    asyncio.run(main())
    st = stepper.statistics()
    assert (st.batches, st.steps, st.coalesced, st.sessions) == (4, 12, 0, 3)
    assert stepper.pool.rows == 4


def test_a_late_session_is_coalesced_into_the_next_tick_and_counted(
        model: TinyDuplexLM) -> None:
    clock = FakeClock()
    a_turns, b_turns = stream(1, 3), stream(2, 3)

    async def main() -> list:
        stepper = Stepper(model, clock=clock, period=PERIOD, phase=PERIOD // 2)
        a, b = stepper.attach(), stepper.attach()
        out = []
        for i in range(3):  # turn i is ready at i * period; ticks at i * period + 100 ms
            await clock.sleep_until(i * PERIOD)
            fa = a.submit(a_turns[i])
            if i != 1:  # b's turn 1 is late: it lands after tick 1
                fb = b.submit(b_turns[i])
            else:
                await clock.sleep_until(i * PERIOD + PERIOD * 3 // 4)
                fb1 = b.submit(b_turns[i])
            out.append(await fa)
            if i != 1:
                out.append(await fb)
        assert fb1 is fb  # turns 1 and 2 of b were stepped together
        assert b.misses == 1 and a.misses == 0
        assert stepper.statistics().coalesced == 1
        assert stepper.statistics().batches == 3  # one forward per tick
        stepper.detach(a)
        stepper.detach(b)
        return out

    out = clock.run(main())
    assert out[-1].coalesced == 1
    # The coalesced step equals stepping b's two turns together by hand.
    ref = StreamingSession(model, make_pool(model))
    step_batch(model, ref.pool, [ref], [[b_turns[0]]])
    (expect,) = step_batch(model, ref.pool, [ref], [b_turns[1:3]])
    assert out[-1].tokens == expect.tokens
    assert out[-1].action_probs == pytest.approx(expect.action_probs, abs=1e-5)


def test_serial_mode_steps_sessions_one_forward_each(model: TinyDuplexLM) -> None:
    stepper = Stepper(model, batched=False)
    seats = [stepper.attach() for _ in range(3)]

    async def main() -> None:
        for seat in seats:
            seat.submit(synthetic_turn(0))
        stepper.tick()

    asyncio.run(main())
    assert stepper.statistics().batches == 3


def test_a_failed_step_reaches_the_session_and_the_next_recovers(
        model: TinyDuplexLM, monkeypatch: pytest.MonkeyPatch) -> None:
    stepper = Stepper(model)
    seat = stepper.attach()
    ts = stream(4, 3)

    async def main() -> None:
        seat.submit(ts[0])
        stepper.tick()
        with monkeypatch.context() as mp:
            mp.setattr(model, "forward_cached", lambda *a: 1 / 0)
            fut = seat.submit(ts[1])
            stepper.tick()
            with pytest.raises(ZeroDivisionError):
                fut.result()
        fut = seat.submit(ts[2])
        stepper.tick()
        assert fut.result().tokens

    asyncio.run(main())
    assert seat.session.reprefills == 1 and stepper.statistics().errors == 1
