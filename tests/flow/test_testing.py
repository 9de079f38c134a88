"""flow.testing: run a node or a graph on lists of messages, on a fake clock."""

from __future__ import annotations

import msgspec
import pytest

from flow import MS, FakeClock, Graph, GraphError, In, Interrupt, Message, Node, Out, S, TextDelta
from flow.testing import run_graph, run_graph_async, run_node


class Upper(Node):
    text: In[TextDelta]
    out: Out[TextDelta]

    class Params(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        suffix: str = ""

    async def on_text(self, msg: TextDelta) -> None:
        await self.out.send(TextDelta(pts=msg.pts, text=msg.text.upper() + self.params.suffix))


class Delay(Node):
    text: In[TextDelta]
    out: Out[TextDelta]

    async def on_text(self, msg: TextDelta) -> None:
        await self.clock.sleep(300 * MS)
        await self.out.send(msg)


def words(*pairs: tuple[int, str]) -> list[TextDelta]:
    return [TextDelta(pts=pts, text=t) for pts, t in pairs]


def test_run_node_collects_outputs_by_port() -> None:
    result = run_node(Upper, {"suffix": "!"}, inputs={"text": words((0, "hi"), (5, "yo"))})
    assert [m.text for m in result.outputs["out"]] == ["HI!", "YO!"]
    assert [m.text for m in result.of("out", TextDelta)] == ["HI!", "YO!"]
    assert result.of("missing") == []
    assert result.end_time == 0  # fast pace: no time passes


def test_params_may_be_a_struct_and_bad_params_are_graph_errors() -> None:
    assert run_node(Upper, Upper.Params(suffix="?"),
                    inputs={"text": words((0, "a"))}).outputs["out"][0].text == "A?"
    with pytest.raises(GraphError, match=r"unknown parameter .sufix."):
        run_node(Upper, {"sufix": "!"}, inputs={})


def test_pts_pacing_feeds_each_message_at_its_media_time() -> None:
    inputs = words((0, "a"), (1 * S, "b"), (1500 * MS, "c"))
    result = run_node(Delay, {}, inputs={"text": inputs}, pace="pts")
    assert result.times["out"] == [300 * MS, 1300 * MS, 1800 * MS]
    assert result.end_time == 1800 * MS


def test_interrupts_in_an_input_list_travel_out_of_band() -> None:
    inputs: list[Message] = [*words((0, "a"), (0, "b"), (0, "c")),
                             Interrupt(pts=100 * MS, reason="x"), *words((100 * MS, "d"))]
    result = run_node(Delay, {}, inputs={"text": inputs}, pace="pts")
    got = result.outputs["out"]
    # "a" was being delayed when the interrupt came at 100 ms: b and c were queued and
    # are gone; the interrupt overtook "a" on its way out.
    assert [type(m).__name__ for m in got] == ["Interrupt", "TextDelta", "TextDelta"]
    assert [m.text for m in got[1:]] == ["a", "d"]  # type: ignore[attr-defined]
    assert result.times["out"] == [100 * MS, 300 * MS, 600 * MS]
    assert result.statistics.edges[0].flushed == 2


def test_without_pacing_an_interrupt_clears_everything_sent_before_it() -> None:
    inputs: list[Message] = [*words((0, "a"), (0, "b")), Interrupt(), *words((0, "c"))]
    result = run_node(Delay, {}, inputs={"text": inputs})
    assert [getattr(m, "text", "!") for m in result.outputs["out"]] == ["!", "c"]


def test_run_graph_feeds_node_ports_and_collects_unconnected_outputs() -> None:
    graph = Graph.build("g", {"up": (Upper, {}), "delay": (Delay, {})},
                        ["up.out -> delay.text"])
    result = run_graph(graph, {"up.text": words((0, "x"))})
    assert list(result.outputs) == ["delay.out"]
    assert result.outputs["delay.out"][0].text == "X"  # type: ignore[attr-defined]
    assert result.times["delay.out"] == [300 * MS]
    with pytest.raises(GraphError, match=r"no input port 'up.txt' \(inputs: up.text, delay"):
        run_graph(graph, {"up.txt": []})
    with pytest.raises(GraphError, match=r"no output port .nope\.out."):
        run_graph(graph, {}, ["nope.out"])


def test_run_graph_async_uses_the_fake_clock_driving_its_loop() -> None:
    clock = FakeClock()
    graph = Graph.build("g", {"delay": (Delay, {})}, [])

    async def main() -> int:
        result = await run_graph_async(graph, {"delay.text": words((0, "x"))})
        return result.times["delay.out"][0]

    assert clock.run(main()) == 300 * MS
    assert clock.now() == 300 * MS


def test_an_input_of_the_wrong_type_names_the_message_not_a_hidden_feeder() -> None:
    with pytest.raises(GraphError, match=r"inputs\['node.text'\]\[1\] is of type Message: "
                       r"node.text takes TextDelta"):
        run_node(Upper, inputs={"text": [TextDelta(pts=0, text="a"), Message(pts=1)]})


def test_inputs_drive_a_port_the_graph_already_feeds() -> None:
    """A test feeds the middle of a loaded graph: the graph's own edge into that port is
    left out (it is not two streams merged), the rest of the graph runs as it is."""
    graph = Graph.build("chain", {"first": (Upper, {"suffix": "?"}),
                                  "second": (Upper, {"suffix": "!"})},
                        ["first.out -> second.text"])
    result = run_graph(graph, {"second.text": words((0, "mine")),
                               "first.text": words((0, "theirs"))}, ["second.out"])
    assert [m.text for m in result.outputs["second.out"]] == ["MINE!"]


def test_until_ends_a_source_that_would_go_on_for_ever() -> None:
    from tests.flow.test_session import Count, Total

    graph = Graph.build("sum", {"count": (Count, {"n": 10**9}), "total": (Total, {})},
                        ["count.out -> total.inp"])
    result = run_graph(graph, outputs=["total.out"], services={"totals": [], "torn": []},
                       until=995 * MS)
    assert len(result.outputs["total.out"]) == 100  # frames at 0, 10, ... 990 ms
    assert result.session.context.services["totals"] == [sum(range(100))]  # it drained
