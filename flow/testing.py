"""Run a node or a graph against lists of messages on a fake clock, and collect outputs.

    from flow.testing import run_node

    result = run_node(Gain, {"gain": 2.0}, inputs={"audio": frames})
    assert result.outputs["out"][0].samples[0] == 2 * frames[0].samples[0]

Inputs are sent in order; with ``pace="pts"`` each is sent when the clock reaches its
``pts`` (media time), as a live source would. Everything runs on ``FakeClock``: a test of
ten minutes of media runs in a fraction of a second and never sleeps. Interrupts in an
input list are sent as interrupts (out of band) at their place in the list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .appio import fed_instead, input_port, output_port
from .clock import Clock, FakeClock, loop_clock
from .edge import Policy
from .errors import GraphError
from .graph import EdgeDecl, Graph, NodeDecl, validate
from .messages import Interrupt, Message
from .node import Node, NoParams
from .ports import In, Out
from .session import Session, SessionStatistics


@dataclass
class Result:
    """What a test run produced: each output's messages and the media time each arrived."""

    # Not in repr: asyncio.Runner formats the main task (and so its result) when it
    # restores SIGINT, and printing every array of a long run takes seconds.
    outputs: dict[str, list[Message]] = field(repr=False)
    times: dict[str, list[int]] = field(repr=False)
    statistics: SessionStatistics
    end_time: int
    session: Session = field(repr=False)

    def of(self, port: str, kind: type[Message] = Message) -> list[Any]:
        """The messages of one output, optionally only those of a type."""
        return [m for m in self.outputs.get(port, []) if isinstance(m, kind)]


class _FeedParams(msgspec.Struct, frozen=True):
    pace: str = "fast"


def _feeder(msg_type: type[Message], messages: list[Message]) -> type[Node]:
    async def run(self: Node) -> None:
        for msg in messages:
            if self.params.pace == "pts" and msg.pts > self.now():
                await self.clock.sleep_until(self.context.t0 + msg.pts)
            await self._out["out"].send(msg)

    # A feeder stands for live input: it queues, and is never held by the node under test.
    return type("Feed", (Node,), {"__annotations__": {"out": Out[msg_type]},  # type: ignore[valid-type]
                                  "Params": _FeedParams, "run": run, "type_name": "test.feed",
                                  "inline_delivery": False})


def _collector(store: list[Message], times: list[int]) -> type[Node]:
    async def on_messages(self: Node, msg: Message) -> None:
        store.append(msg)
        times.append(self.now())

    def on_interrupt(self: Node, msg: Message) -> None:
        store.append(msg)
        times.append(self.now())

    return type("Collect", (Node,), {
        "__annotations__": {"messages": In[Message]}, "messages": In(fan_in=True),
        "on_messages": on_messages, "on_interrupt": on_interrupt, "Params": NoParams,
        "type_name": "test.collect"})


def harness(graph: Graph, inputs: Mapping[str, Iterable[Message]] | None = None,
            outputs: Iterable[str] | None = None, *, pace: str = "fast",
            capacity: int = 1024) -> tuple[Graph, dict[str, list[Message]], dict[str, list[int]]]:
    """Wrap ``graph`` with feeders for ``inputs`` (``"node.port"`` -> messages) and
    collectors on ``outputs`` (``"node.port"``; default: every unconnected output).

    An input the graph already feeds is fed the test's messages instead (its edges are
    left out, unless the port merges streams, ``fan_in``): a test drives any node of a
    loaded graph, ``inputs={"voice.text": [...]}`` on graphs/say.yaml. Each message must
    be of the port's type (or an ``Interrupt``); a ``GraphError`` names the one that is
    not."""
    if pace not in ("fast", "pts"):
        raise ValueError(f"pace is 'fast' or 'pts', not {pace!r}")
    nodes = dict(graph.nodes)
    edges = list(graph.edges)
    for i, (target, msgs) in enumerate((inputs or {}).items()):
        node_id, port, spec = input_port(graph, target)
        messages = list(msgs)
        for k, msg in enumerate(messages):
            if not isinstance(msg, (spec.type, Interrupt)):
                raise GraphError(f"inputs[{target!r}][{k}] is of type {type(msg).__name__}: "
                                 f"{target} takes {spec.type_name}")
        edges = fed_instead(edges, node_id, port, spec)
        fid = f"_feed{i}"
        cls = _feeder(spec.type, messages)
        nodes[fid] = NodeDecl(fid, "test.feed", cls, _FeedParams(pace=pace))
        edges.append(EdgeDecl(fid, "out", node_id, port, capacity=capacity))
    if outputs is None:
        used = {(e.src, e.src_port) for e in graph.edges}
        outputs = [f"{d.id}.{p}" for d in graph.nodes.values() for p in d.cls.outputs
                   if (d.id, p) not in used]
    stores: dict[str, list[Message]] = {}
    times: dict[str, list[int]] = {}
    for i, target in enumerate(outputs):
        node_id, port = output_port(graph, target)
        stores[target], times[target] = [], []
        cid = f"_collect{i}"
        nodes[cid] = NodeDecl(cid, "test.collect", _collector(stores[target], times[target]),
                              NoParams())
        edges.append(EdgeDecl(node_id, port, cid, "messages", capacity=capacity))
    wrapped = Graph(graph.name, nodes, edges, graph.path)
    issues = validate(wrapped)
    if issues:
        raise GraphError(issues)
    return wrapped, stores, times


async def run_graph_async(graph: Graph, inputs: Mapping[str, Iterable[Message]] | None = None,
                          outputs: Iterable[str] | None = None, *, pace: str = "fast",
                          clock: Clock | None = None,
                          services: dict[str, Any] | None = None,
                          until: int | None = None) -> Result:
    """Like ``run_graph`` but on the running loop. Without ``clock`` it uses the loop's
    own ``FakeClock`` when the loop is one (``FakeClock.run``), else ``RealClock``: a fake
    clock is only meaningful on the loop it drives."""
    wrapped, stores, times = harness(graph, inputs, outputs, pace=pace)
    if clock is None:
        clock = loop_clock(asyncio.get_running_loop())
    session = Session(wrapped, clock=clock, services=services)
    ender: asyncio.Future[None] | None = None
    if until is not None:
        async def end_at(at: int, clock: Clock) -> None:
            await session.opened.wait()
            await clock.sleep_until(session.context.t0 + at)
            session.end_input()

        ender = asyncio.ensure_future(end_at(until, clock))
    try:
        await session.run()
    finally:
        if ender is not None:
            ender.cancel()
    return Result(stores, times, session.statistics(), session.context.media_time(), session)


def run_graph(graph: Graph, inputs: Mapping[str, Iterable[Message]] | None = None,
              outputs: Iterable[str] | None = None, *, pace: str = "fast",
              clock: FakeClock | None = None, services: dict[str, Any] | None = None,
              until: int | None = None) -> Result:
    """Run ``graph`` to the end on a fake clock with ``inputs`` fed to ``node.port``s.
    Outputs are keyed ``node.port``. ``until`` (media ns): end every source then
    (``Session.end_input``), for a graph whose source would go on for ever (a live
    microphone, an hour of silence); the graph drains as at the end of its input."""
    clock = clock or FakeClock()
    return clock.run(run_graph_async(graph, inputs, outputs, pace=pace, clock=clock,
                                     services=services, until=until))


def run_node(node: type[Node] | str, params: Mapping[str, Any] | msgspec.Struct | None = None,
             inputs: Mapping[str, Iterable[Message]] | None = None, *, pace: str = "fast",
             clock: FakeClock | None = None, services: dict[str, Any] | None = None) -> Result:
    """Run one node with ``inputs`` per input port; outputs are keyed by port name."""
    raw: dict[str, Any] = (msgspec.to_builtins(params) if isinstance(params, msgspec.Struct)
                           else dict(params or {}))
    graph = Graph.build("test", {"node": (node, raw)}, [])
    cls = graph.nodes["node"].cls
    result = run_graph(graph, {f"node.{k}": v for k, v in (inputs or {}).items()},
                       [f"node.{p}" for p in cls.outputs], pace=pace, clock=clock,
                       services=services)
    result.outputs = {k.split(".", 1)[1]: v for k, v in result.outputs.items()}
    result.times = {k.split(".", 1)[1]: v for k, v in result.times.items()}
    return result


__all__ = ["Policy", "Result", "harness", "run_graph", "run_graph_async", "run_node"]
