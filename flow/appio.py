"""An application's own ports into a session: what GStreamer's ``appsrc``/``appsink`` are.

``Session(graph, inputs=[...], outputs=[...])`` adds a node for each: the application
sends into an input port with ``await session.send(port, msg)`` and reads an output port
with ``async for msg in session.receive(port)``::

    session = Session(load_graph("graphs/assistant_webrtc.yaml"),
                      inputs=["front.heard"], outputs=["front.text"])
    task = asyncio.create_task(session.run())
    await session.send("front.heard", TextDelta(pts=session.context.media_time(),
                                                text="twenty dollars", final=True))
    async for reply in session.receive("front.text"): ...

Both are bounded, as every edge is: ``send`` waits while the graph is behind (``capacity``
messages queued), and an output the application does not read holds the graph back once
``capacity`` messages wait. An ``Interrupt`` sent goes out of band; one that reaches an
output drops what the application has not read yet (it is stale, as on any edge) and is
then received itself, so that a player stops. ``end(port)`` ends an input as the end of a
file would; ``receive`` ends when its port's stream does.

An input the graph already feeds is fed by the application instead (that edge is left
out), unless the port merges streams (``fan_in``), where both feed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .errors import GraphError
from .graph import EdgeDecl, Graph, NodeDecl
from .messages import Interrupt, Message
from .node import Node, NoParams
from .ports import In, Out, PortSpec

_END = object()


class AppInput:
    """One input port the application feeds; ``Session.send`` and ``Session.end``."""

    def __init__(self, port: str, msg_type: type[Message], capacity: int) -> None:
        self.port = port
        self.type = msg_type
        self.queue: asyncio.Queue[Any] = asyncio.Queue(capacity)
        self.ended = False
        self._end_after = False  # the queue was full when it ended: after what is queued

    async def send(self, msg: Message) -> None:
        if self.ended:
            raise RuntimeError(f"input {self.port} has ended: nothing more can be sent")
        if not isinstance(msg, (self.type, Interrupt)):
            raise TypeError(f"{self.port} takes {self.type.__name__}, not "
                            f"{type(msg).__name__}")
        await self.queue.put(msg)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            try:
                self.queue.put_nowait(_END)
            except asyncio.QueueFull:  # the node ends once it has taken what is queued
                self._end_after = True

    async def next(self) -> Any:
        """The next message for the node, or ``_END``."""
        if self._end_after and self.queue.empty():
            return _END
        return await self.queue.get()


class AppOutput:
    """One output port the application reads; ``Session.receive``."""

    def __init__(self, port: str, capacity: int) -> None:
        self.port = port
        self.queue: asyncio.Queue[Any] = asyncio.Queue(capacity)
        self.ended = False
        self.reading = False

    def interrupt(self, msg: Interrupt) -> None:
        while not self.queue.empty():  # stale now, as on any edge it crosses
            if self.queue.get_nowait() is _END:  # pragma: no cover - nothing follows the end
                self.queue.put_nowait(_END)
                return
        self.queue.put_nowait(msg)

    async def messages(self) -> Any:
        if self.reading:
            raise RuntimeError(f"output {self.port} is already being received")
        self.reading = True
        try:
            while not self.ended:
                msg = await self.queue.get()
                if msg is _END:
                    self.ended = True
                    return
                yield msg
        finally:
            self.reading = False


def _app_input(io: AppInput) -> type[Node]:
    async def run(self: Node) -> None:
        while (msg := await io.next()) is not _END:
            await self._out["out"].send(msg)

    return type("AppIn", (Node,), {"__annotations__": {"out": Out[io.type]},  # type: ignore[name-defined]
                                   "Params": NoParams, "run": run, "type_name": "app.input",
                                   "inline_delivery": False, "__module__": __name__})


def _app_output(io: AppOutput) -> type[Node]:
    async def on_messages(self: Node, msg: Message) -> None:
        await io.queue.put(msg)

    def on_interrupt(self: Node, msg: Interrupt) -> None:
        io.interrupt(msg)

    async def on_end(self: Node) -> None:
        await io.queue.put(_END)

    return type("AppOut", (Node,), {
        "__annotations__": {"messages": In[Message]}, "messages": In(fan_in=True),
        "on_messages": on_messages, "on_interrupt": on_interrupt, "on_end": on_end,
        "Params": NoParams, "type_name": "app.output", "__module__": __name__})


def input_port(graph: Graph, target: str) -> tuple[str, str, PortSpec]:
    """``"node.port"`` -> (node, port, its spec); ``GraphError`` naming every input port if
    the graph has no such input."""
    node_id, _, port = target.partition(".")
    decl = graph.nodes.get(node_id)
    spec = decl.cls.inputs.get(port) if decl is not None else None
    if spec is None:
        known = [f"{d.id}.{p}" for d in graph.nodes.values() for p in d.cls.inputs]
        raise GraphError(f"inputs: no input port {target!r} (inputs: {', '.join(known)})")
    return node_id, port, spec


def output_port(graph: Graph, target: str) -> tuple[str, str]:
    """``"node.port"`` -> (node, port); ``GraphError`` naming every output port if the
    graph has no such output."""
    node_id, _, port = target.partition(".")
    decl = graph.nodes.get(node_id)
    if decl is None or port not in decl.cls.outputs:
        known = [f"{d.id}.{p}" for d in graph.nodes.values() for p in d.cls.outputs]
        raise GraphError(f"outputs: no output port {target!r} (outputs: {', '.join(known)})")
    return node_id, port


def fed_instead(edges: list[EdgeDecl], node_id: str, port: str, spec: PortSpec
                ) -> list[EdgeDecl]:
    """``edges`` without those into ``node_id.port``, which something else feeds now,
    unless the port merges streams (``fan_in``)."""
    if spec.fan_in:
        return edges
    return [e for e in edges if (e.dst, e.dst_port) != (node_id, port)]


def attach(graph: Graph, inputs: Iterable[str], outputs: Iterable[str], capacity: int
           ) -> tuple[Graph, dict[str, AppInput], dict[str, AppOutput]]:
    """``graph`` with a node feeding each of ``inputs`` and one reading each of
    ``outputs`` (``"node.port"``). Raises ``GraphError`` for a port the graph lacks."""
    nodes = dict(graph.nodes)
    edges = list(graph.edges)
    ins: dict[str, AppInput] = {}
    outs: dict[str, AppOutput] = {}
    for i, target in enumerate(inputs):
        node_id, port, spec = input_port(graph, target)
        io = ins[target] = AppInput(target, spec.type, capacity)
        edges = fed_instead(edges, node_id, port, spec)
        nid = f"_app_in{i}"
        nodes[nid] = NodeDecl(nid, "app.input", _app_input(io), NoParams())
        edges.append(EdgeDecl(nid, "out", node_id, port, capacity=capacity))
    for i, target in enumerate(outputs):
        node_id, port = output_port(graph, target)
        out = outs[target] = AppOutput(target, capacity)
        nid = f"_app_out{i}"
        nodes[nid] = NodeDecl(nid, "app.output", _app_output(out), NoParams())
        edges.append(EdgeDecl(node_id, port, nid, "messages", capacity=capacity))
    return Graph(graph.name, nodes, edges, graph.path, graph.lines), ins, outs
