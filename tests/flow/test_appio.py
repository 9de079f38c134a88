"""The application's own ports into a session (``Session(inputs=, outputs=)``, flow.appio):
``send``, ``end``, ``receive``, bounded both ways, interrupts on both."""

from __future__ import annotations

import asyncio
import re

import msgspec
import pytest

from flow import (
    MS,
    FakeClock,
    Graph,
    GraphError,
    In,
    Interrupt,
    Node,
    NodeFailed,
    Out,
    Session,
    SessionClosed,
    TextDelta,
)


class Upper(Node):
    text: In[TextDelta]
    out: Out[TextDelta]

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        suffix: str = ""
        delay: int = 0

    async def on_text(self, msg: TextDelta) -> None:
        if self.params.delay:
            await self.clock.sleep(self.params.delay)
        await self.out.send(TextDelta(pts=msg.pts, text=msg.text.upper() + self.params.suffix))


def chain(delay: int = 0) -> Graph:
    return Graph.build("chain", {"first": (Upper, {"suffix": "?"}),
                                 "second": (Upper, {"suffix": "!", "delay": delay})},
                       ["first.out -> second.text"])


def text(t: str, pts: int = 0) -> TextDelta:
    return TextDelta(pts=pts, text=t)


def shown(msg: object) -> str:
    return msg.text if isinstance(msg, TextDelta) else f"<{type(msg).__name__}>"


async def interrupt_then_new(session: Session, clock: FakeClock,
                             task: asyncio.Future[None]) -> list[str]:
    """Interrupt, let it reach the output before anything is read, send "new", end, and
    read everything."""
    await session.send("first.text", Interrupt(pts=0, reason="barge-in"))
    await clock.sleep(MS)
    await session.send("first.text", text("new"))
    session.end("first.text")
    got = [shown(m) async for m in session.receive("second.out")]
    await task
    return got


def test_an_application_sends_into_a_graph_and_receives_its_output_as_it_comes() -> None:
    clock = FakeClock()

    async def main() -> tuple[list[tuple[int, str]], Session]:
        session = Session(chain(delay=100 * MS), clock=clock, inputs=["first.text"],
                          outputs=["second.out"])
        task = asyncio.create_task(session.run())
        got: list[tuple[int, str]] = []

        async def read() -> None:
            async for msg in session.receive("second.out"):
                assert isinstance(msg, TextDelta)
                got.append((clock.now(), msg.text))

        reader = asyncio.create_task(read())
        await session.send("first.text", text("hi"))
        await clock.sleep(150 * MS)
        assert got == [(100 * MS, "HI?!")]  # as it came, not at the end
        await session.send("first.text", text("yo"))
        session.end("first.text")
        await task
        await reader  # the output's stream ended with the graph
        return got, session

    got, session = clock.run(main())
    assert got == [(100 * MS, "HI?!"), (250 * MS, "YO?!")]
    assert not session.stopped


def test_the_applications_ports_are_bounded_both_ways() -> None:
    """An output nobody reads holds the graph back once ``capacity`` messages wait, and a
    send waits while the graph is behind: nothing grows without bound."""
    clock = FakeClock()

    async def main() -> tuple[int, list[str]]:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"], capacity=2)
        task = asyncio.create_task(session.run())
        sent = 0

        async def send_all() -> None:
            nonlocal sent
            for i in range(20):
                await session.send("first.text", text(str(i)))
                sent += 1
            session.end("first.text")

        sender = asyncio.create_task(send_all())
        await clock.sleep(1000 * MS)
        held = sent  # the sender waits: the output is full and nobody reads it
        got = [m.text async for m in session.receive("second.out")]  # type: ignore[attr-defined]
        await sender
        await task
        return held, got

    held, got = clock.run(main())
    assert held < 20
    assert got == [f"{i}?!" for i in range(20)]  # then every one, in order


def test_an_interrupt_reaching_an_output_drops_what_was_not_read_and_is_received() -> None:
    clock = FakeClock()

    async def main() -> list[str]:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"])
        task = asyncio.create_task(session.run())
        for word in ("stale", "old"):
            await session.send("first.text", text(word))
        await clock.sleep(10 * MS)  # both are waiting at the output, unread
        return await interrupt_then_new(session, clock, task)

    assert clock.run(main()) == ["<Interrupt>", "NEW?!"]


def test_an_input_the_graph_feeds_is_fed_by_the_application_instead() -> None:
    clock = FakeClock()

    async def main() -> list[str]:
        session = Session(chain(), clock=clock, inputs=["second.text"],
                          outputs=["second.out", "first.out"])
        task = asyncio.create_task(session.run())
        await session.send("second.text", text("mine"))
        session.end_input()  # the app's input after what was sent, and first's source
        got = [m.text async for m in session.receive("second.out")]  # type: ignore[attr-defined]
        await task
        return got

    assert clock.run(main()) == ["MINE!"]


def test_mistakes_are_named() -> None:
    with pytest.raises(GraphError, match=r"inputs: no input port 'first.txt' \(inputs: "
                       r"first.text, second.text\)"):
        Session(chain(), inputs=["first.txt"])
    with pytest.raises(GraphError, match=r"outputs: no output port 'second.text'"):
        Session(chain(), outputs=["second.text"])
    clock = FakeClock()

    async def main() -> None:
        session = Session(chain(), clock=clock, inputs=["first.text"])
        with pytest.raises(TypeError, match=re.escape("first.text takes TextDelta, not int")):
            await session.send("first.text", 3)  # type: ignore[arg-type]
        with pytest.raises(KeyError, match=re.escape(
                "'second.text' is not one of this session's inputs (first.text)")):
            await session.send("second.text", text("x"))
        with pytest.raises(KeyError, match=re.escape("none: Session(outputs=[...])")):
            session.receive("second.out")
        session.end("first.text")
        with pytest.raises(RuntimeError, match=re.escape("input first.text has ended")):
            await session.send("first.text", text("late"))
        await session.run()

    clock.run(main())


class Boom(Node):
    text: In[TextDelta]
    out: Out[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        if msg.text == "boom":
            raise ValueError("boom")
        await self.out.send(msg)


def test_when_the_session_ends_readers_end_and_senders_are_refused() -> None:
    """A websocket handler reading a session that stops, or fails, is never left waiting."""
    clock = FakeClock()

    async def main(how: str) -> tuple[list[str], str]:
        session = Session(Graph.build("g", {"b": Boom}, []), clock=clock, inputs=["b.text"],
                          outputs=["b.out"], capacity=1)
        task = asyncio.create_task(session.run())
        got: list[str] = []

        async def read() -> str:
            try:
                async for m in session.receive("b.out"):
                    got.append(m.text)  # type: ignore[attr-defined]
            except NodeFailed as exc:
                return f"failed: {exc.exc}"
            return "ended"

        reader = asyncio.create_task(read())
        await session.send("b.text", text("a"))
        await clock.sleep(MS)
        if how == "stop":
            session.stop()
            await task
        else:
            await session.send("b.text", text("boom"))
            with pytest.raises(NodeFailed):
                await task
        with pytest.raises(RuntimeError, match=re.escape("input b.text: the session has ended")):
            await session.send("b.text", text("late"))
        return got, await reader

    assert clock.run(main("stop")) == (["a"], "ended")
    assert clock.run(main("fail")) == (["a"], "failed: boom")


def test_a_send_waiting_when_its_input_ends_is_refused_not_lost() -> None:
    clock = FakeClock()

    async def main() -> tuple[str, list[str]]:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"], capacity=1)
        await session.send("first.text", text("one"))  # before the run: the queue is full
        waiting = asyncio.create_task(session.send("first.text", text("two")))
        await asyncio.sleep(0)
        session.end("first.text")
        task = asyncio.create_task(session.run())
        with pytest.raises(RuntimeError, match="has ended") as err:
            await waiting
        got = [m.text async for m in session.receive("second.out")]  # type: ignore[attr-defined]
        await task
        return str(err.value), got

    why, got = clock.run(main())
    assert why == "input first.text has ended: nothing more can be sent"
    assert got == ["ONE?!"]  # 'two' was refused, never accepted and then dropped


def test_an_interrupt_the_application_sends_overtakes_what_waits() -> None:
    """A "stop" button while the graph is behind: the interrupt does not queue behind data
    (what waited is dropped as stale), and reaches the graph at once."""
    clock = FakeClock()

    async def main() -> tuple[int, list[str]]:
        session = Session(chain(delay=50 * MS), clock=clock, inputs=["first.text"],
                          outputs=["second.out"], capacity=4)
        task = asyncio.create_task(session.run())
        got: list[str] = []

        async def read() -> None:
            async for m in session.receive("second.out"):
                got.append(m.text if isinstance(m, TextDelta) else "<Interrupt>")

        reader = asyncio.create_task(read())
        await clock.sleep(MS)  # running
        for i in range(4):
            await session.send("first.text", text(str(i)))
        await clock.sleep(10 * MS)  # '0' is being said, the rest wait
        before = clock.now()
        await session.send("first.text", Interrupt(pts=0, reason="stop button"))
        took = clock.now() - before
        await session.send("first.text", text("after"))
        session.end("first.text")
        await task
        await reader
        return took, got

    took, got = clock.run(main())
    assert took == 0
    assert "<Interrupt>" in got and got[-1] == "AFTER?!"
    assert len([g for g in got if g != "<Interrupt>"]) < 5  # what waited was dropped


def test_a_message_waiting_for_room_when_an_interrupt_comes_is_dropped() -> None:
    clock = FakeClock()

    async def main() -> list[str]:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"], capacity=1)
        task = asyncio.create_task(session.run())
        for word in ("stale1", "stale2"):  # one at the output, one waiting for room
            await session.send("first.text", text(word))
        await clock.sleep(MS)
        return await interrupt_then_new(session, clock, task)

    assert clock.run(main()) == ["<Interrupt>", "NEW?!"]


def test_an_output_may_be_read_in_several_loops() -> None:
    clock = FakeClock()

    async def main() -> list[str]:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"])
        task = asyncio.create_task(session.run())
        for word in "abc":
            await session.send("first.text", text(word))
        session.end("first.text")
        got = []
        async for m in session.receive("second.out"):
            got.append(m.text)  # type: ignore[attr-defined]
            break
        got += [m.text async for m in session.receive("second.out")]  # type: ignore[attr-defined]
        await task
        return got

    assert clock.run(main()) == ["A?!", "B?!", "C?!"]


def test_a_session_started_and_cancelled_before_its_first_step_frees_its_ports() -> None:
    """A client that leaves at once: ``start()``'s task cancelled before it ran a step."""
    clock = FakeClock()

    async def main() -> str:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"])
        task = session.start()
        got = asyncio.ensure_future(anext(session.receive("second.out"), "ended"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(SessionClosed, match="the session has ended"):
            await session.send("first.text", text("late"))
        return await got  # type: ignore[return-value]

    assert clock.run(main()) == "ended"


def test_async_with_runs_the_session_for_the_block_and_stops_it_after() -> None:
    clock = FakeClock()

    async def main() -> tuple[list[str], Session]:
        async with Session(chain(), clock=clock, inputs=["first.text"],
                           outputs=["second.out"]) as session:
            await session.send("first.text", text("hi"))
            reply = await anext(session.receive("second.out"))
        return [reply.text], session  # type: ignore[attr-defined]

    got, session = clock.run(main())
    assert got == ["HI?!"] and session.stopped and session.finished


def test_a_stop_button_still_works_while_an_ended_input_drains() -> None:
    clock = FakeClock()

    async def main() -> list[str]:
        session = Session(chain(delay=50 * MS), clock=clock, inputs=["first.text"],
                          outputs=["second.out"])
        task = session.start()
        for word in ("a", "b", "c"):
            await session.send("first.text", text(word))
        session.end("first.text")
        await clock.sleep(60 * MS)
        await session.send("first.text", Interrupt(pts=0, reason="stop"))
        got = [m.text if isinstance(m, TextDelta) else "<Interrupt>"
               async for m in session.receive("second.out")]
        await task
        return got

    got = clock.run(main())
    # 'a' said but unread, and 'c' still queued, are stale; 'b' was being said (a handler
    # in flight finishes, as on any edge)
    assert got[0] == "<Interrupt>" and "A?!" not in got and "C?!" not in got


def test_a_send_waiting_for_room_when_an_interrupt_comes_is_dropped_as_stale() -> None:
    clock = FakeClock()

    async def main() -> list[str]:
        session = Session(chain(delay=50 * MS), clock=clock, inputs=["first.text"],
                          outputs=["second.out"], capacity=1)
        task = session.start()
        await clock.sleep(MS)
        await session.send("first.text", text("old0"))  # being said
        await clock.sleep(MS)
        await session.send("first.text", text("old1"))  # queued
        waiting = asyncio.ensure_future(session.send("first.text", text("old2")))
        await clock.sleep(MS)
        await session.send("first.text", Interrupt(pts=0, reason="stop"))
        await waiting  # returns: dropped, as what was queued
        await session.send("first.text", text("new"))
        session.end("first.text")
        got = [m.text if isinstance(m, TextDelta) else "<Interrupt>"
               async for m in session.receive("second.out")]
        await task
        return got

    got = clock.run(main())
    assert "OLD1?!" not in got and "OLD2?!" not in got and got[-1] == "NEW?!"


def test_media_time_before_the_session_opens_is_about_zero() -> None:
    """The docs stamp a message with media_time() right after starting the session."""
    clock = FakeClock(start=11_950 * 1_000_000_000)  # a machine up for hours
    session = Session(chain(), clock=clock)
    assert session.context.media_time() == 0


def test_ports_listed_twice_and_clashing_ids_are_handled() -> None:
    with pytest.raises(GraphError, match=re.escape("inputs: 'first.text' is listed twice")):
        Session(chain(), inputs=["first.text", "first.text"])
    with pytest.raises(GraphError, match=re.escape("outputs: 'second.out' is listed twice")):
        Session(chain(), outputs=["second.out", "second.out"])
    graph = Graph.build("g", {"_app_in0": (Upper, {}), "b": (Upper, {})},
                        ["_app_in0.out -> b.text"])
    session = Session(graph, inputs=["_app_in0.text"])
    assert "_app_in1" in session.nodes and session.nodes["_app_in0"].params.suffix == ""


def test_a_session_on_a_fake_clocks_loop_must_be_given_that_clock() -> None:
    clock = FakeClock()

    async def main() -> None:
        await Session(chain()).run()  # clock= forgotten: it would mix real and fake time

    with pytest.raises(RuntimeError, match="this event loop runs on a FakeClock"):
        clock.run(main())


def test_another_thread_sends_as_an_audio_callback_would() -> None:
    """Real threads, on the real clock: the only way to see a thread hand messages over."""
    import threading

    async def main() -> list[str]:
        async with Session(chain(), inputs=["first.text"], outputs=["second.out"]) as session:
            await session.opened.wait()

            def callback_thread() -> None:
                for word in ("one", "two", "three"):
                    session.send_threadsafe("first.text", text(word)).result(timeout=10)

            thread = threading.Thread(target=callback_thread)
            thread.start()
            got = []
            async for m in session.receive("second.out"):
                got.append(shown(m))
                if len(got) == 3:
                    break
            await asyncio.to_thread(thread.join)
        with pytest.raises(SessionClosed, match="is not running"):
            session.send_threadsafe("first.text", text("late"))
        return got

    assert asyncio.run(main()) == ["ONE?!", "TWO?!", "THREE?!"]


def test_drop_unread_lets_a_graph_finish_when_its_reader_went_away() -> None:
    """A websocket closed: nobody reads the replies any more, and the session still
    drains to its end; --stats says how many were dropped."""
    clock = FakeClock()

    async def main() -> Session:
        session = Session(chain(), clock=clock, inputs=["first.text"],
                          outputs=["second.out"], capacity=2, drop_unread=True)
        task = session.start()
        for i in range(10):
            await session.send("first.text", text(str(i)))
        session.end_input()
        await task  # would wait for ever without drop_unread: nobody reads
        return session

    session = clock.run(main())
    extra = {n.id: n.extra for n in session.statistics().nodes}
    assert extra["_app_out0"] == {"unread": 2, "dropped": 8}
    assert extra["_app_in0"] == {"queued": 0, "ended": True}
    assert "_app_out0: unread 2, dropped 8" in session.format_statistics()


class SlowToRelease(Node):
    """Holds something that takes two seconds to release."""

    text: In[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        pass

    async def teardown(self) -> None:
        await self.clock.sleep(2000 * MS)


def test_a_reader_hears_of_a_failure_at_once_not_after_every_teardown() -> None:
    clock = FakeClock()
    graph = Graph.build("g", {"b": Boom, "slow": SlowToRelease}, [])

    async def main() -> tuple[int, int]:
        session = Session(graph, clock=clock, inputs=["b.text", "slow.text"],
                          outputs=["b.out"])
        task = session.start()
        await clock.sleep(MS)
        await session.send("b.text", text("boom"))
        with pytest.raises(NodeFailed):
            async for _ in session.receive("b.out"):
                pass
        heard = clock.now()
        with pytest.raises(NodeFailed):
            await task
        return heard, clock.now()

    heard, ended = clock.run(main())
    assert heard == MS and ended == MS + 2000 * MS
