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
import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any, ClassVar

from .errors import GraphError, SessionClosed
from .graph import EdgeDecl, Graph, NodeDecl
from .messages import Interrupt, Message
from .node import Node, NoParams
from .ports import In, Out, PortSpec

_END = object()


class _Waiters:
    """Futures to wake, one or all: the rooms and arrivals of a bounded queue."""

    def __init__(self) -> None:
        self._waiting: list[asyncio.Future[None]] = []

    async def wait(self) -> None:
        fut = asyncio.get_running_loop().create_future()
        self._waiting.append(fut)
        try:
            await fut
        finally:
            if fut in self._waiting:
                self._waiting.remove(fut)

    def wake_one(self) -> None:
        while self._waiting:
            fut = self._waiting.pop(0)
            if not fut.done():
                fut.set_result(None)
                return

    def wake_all(self) -> None:
        waiting, self._waiting = self._waiting, []
        for fut in waiting:
            if not fut.done():
                fut.set_result(None)


class AppInput:
    """One input port the application feeds; ``Session.send`` and ``Session.end``."""

    def __init__(self, port: str, msg_type: type[Message], capacity: int) -> None:
        self.port = port
        self.type = msg_type
        self.capacity = capacity
        self.queue: deque[Message] = deque()
        self.ended = False  # end(): what was queued is still delivered
        self.closed = ""  # the session is over: why, and nothing more is delivered
        self.failure: BaseException | None = None  # the session's, the refusal's cause
        self._epoch = 0  # interrupts so far: a send that waited across one is stale
        self.out: Out[Any] | None = None  # the node's output, for interrupts
        self.early: Interrupt | None = None  # sent before the node ran: sent when it does
        self._room = _Waiters()
        self._arrived = _Waiters()

    def _refuse(self, interrupt: bool = False) -> None:
        if self.closed:
            raise SessionClosed(f"input {self.port}: {self.closed}") from self.failure
        if self.ended and not interrupt:  # a stop button still works while it drains
            raise SessionClosed(f"input {self.port} has ended: nothing more can be sent")

    async def send(self, msg: Message) -> None:
        interrupt = isinstance(msg, Interrupt)
        self._refuse(interrupt)
        if not isinstance(msg, self.type) and not interrupt:
            raise TypeError(f"{self.port} takes {self.type.__name__}, not "
                            f"{type(msg).__name__}")
        if isinstance(msg, Interrupt):  # out of band: what waits here is stale now
            self._epoch += 1
            self.queue.clear()
            self._room.wake_all()
            if self.out is not None:
                self.out.send_nowait(msg)
            else:
                self.early = msg
            return
        epoch = self._epoch
        while len(self.queue) >= self.capacity:
            await self._room.wait()
            self._refuse()  # ended meanwhile: refused, never accepted and then lost
            if self._epoch != epoch:
                return  # an Interrupt came while it waited: stale, as what was queued
        self.queue.append(msg)
        self._arrived.wake_one()

    def end(self) -> None:
        self.ended = True
        self._room.wake_all()  # blocked senders are refused
        self._arrived.wake_all()

    def close(self, why: str, failure: BaseException | None = None) -> None:
        if not self.closed:
            self.closed, self.failure = why, failure
        self.queue.clear()
        self.end()

    async def next(self) -> Any:
        """The next message for the node, or ``_END`` once it has ended and is empty."""
        while not self.queue:
            if self.ended:
                return _END
            await self._arrived.wait()
        msg = self.queue.popleft()
        self._room.wake_one()
        return msg


class AppOutput:
    """One output port the application reads; ``Session.receive``."""

    def __init__(self, port: str, capacity: int, drop: bool = False) -> None:
        self.port = port
        self.capacity = capacity
        self.drop = drop  # when full, drop the oldest unread rather than hold the graph
        self.dropped = 0
        self.queue: deque[Any] = deque()
        self.ended = False
        self.failure: BaseException | None = None  # the session's, raised to the reader
        self._epoch = 0  # interrupts so far: a message that waited across one is stale
        self._room = _Waiters()
        self._arrived = _Waiters()

    async def put(self, msg: Message) -> None:
        if self.drop and len(self.queue) >= self.capacity and not self.ended:
            self.queue.popleft()  # a reader that went away never holds the graph back
            self.dropped += 1
        epoch = self._epoch
        while len(self.queue) >= self.capacity and not self.ended:
            await self._room.wait()
            if self._epoch != epoch:
                return  # an Interrupt came while it waited: stale, as on any edge
        if not self.ended:
            self.queue.append(msg)
            self._arrived.wake_one()

    def interrupt(self, msg: Interrupt) -> None:
        self._epoch += 1
        self.queue.clear()  # stale now, as on any edge it crosses
        self.queue.append(msg)
        self._room.wake_all()
        self._arrived.wake_one()

    def end(self, failure: BaseException | None = None) -> None:
        if not self.ended:
            self.ended = True
            self.failure = failure
            self.queue.append(_END)
        self._room.wake_all()
        self._arrived.wake_all()

    def messages(self) -> _Messages:
        return _Messages(self)


class _Messages:
    """``async for msg in session.receive(port)``: until the stream ends (or the
    session's failure, raised)."""

    def __init__(self, out: AppOutput) -> None:
        self.out = out

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Message:
        out = self.out
        while not out.queue:
            await out._arrived.wait()
        msg = out.queue[0]
        if msg is _END:  # left there: every later reader ends too
            if out.failure is not None:
                raise out.failure
            raise StopAsyncIteration
        out.queue.popleft()
        out._room.wake_one()
        return msg  # type: ignore[no-any-return]


class AppInputNode(Node):
    """The node feeding one of the application's inputs (``Session.send``)."""

    io: ClassVar[AppInput]

    def statistics_extra(self) -> dict[str, Any]:
        return {"queued": len(self.io.queue), "ended": self.io.ended}


def _app_input(io: AppInput) -> type[Node]:
    async def run(self: Node) -> None:  # every node is set up: interrupts can travel
        io.out = self._out["out"]
        if io.early is not None:
            io.out.send_nowait(io.early)
        while (msg := await io.next()) is not _END:
            await self._out["out"].send(msg)

    return type("AppIn", (AppInputNode,), {"__annotations__": {"out": Out[io.type]},  # type: ignore[name-defined]
                                   "Params": NoParams, "run": run, "io": io,
                                   "type_name": "app.input", "inline_delivery": False,
                                   "__module__": __name__})


def _app_output(io: AppOutput) -> type[Node]:
    async def on_messages(self: Node, msg: Message) -> None:
        await io.put(msg)

    def on_interrupt(self: Node, msg: Interrupt) -> None:
        io.interrupt(msg)

    async def on_end(self: Node) -> None:
        io.end()

    def statistics_extra(self: Node) -> dict[str, Any]:
        return {"unread": sum(m is not _END for m in io.queue), "dropped": io.dropped}

    return type("AppOut", (Node,), {
        "__annotations__": {"messages": In[Message]}, "messages": In(fan_in=True),
        "on_messages": on_messages, "on_interrupt": on_interrupt, "on_end": on_end,
        "statistics_extra": statistics_extra,
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


def attach(graph: Graph, inputs: Iterable[str], outputs: Iterable[str], capacity: int,
           drop: bool = False) -> tuple[Graph, dict[str, AppInput], dict[str, AppOutput]]:
    """``graph`` with a node feeding each of ``inputs`` and one reading each of
    ``outputs`` (``"node.port"``). Raises ``GraphError`` for a port the graph lacks."""
    nodes = dict(graph.nodes)
    edges = list(graph.edges)
    ins: dict[str, AppInput] = {}
    outs: dict[str, AppOutput] = {}

    def free(prefix: str) -> str:  # an id no node of the graph has
        return next(f"{prefix}{k}" for k in itertools.count() if f"{prefix}{k}" not in nodes)

    for target in inputs:
        if target in ins:
            raise GraphError(f"inputs: {target!r} is listed twice")
        node_id, port, spec = input_port(graph, target)
        io = ins[target] = AppInput(target, spec.type, capacity)
        edges = fed_instead(edges, node_id, port, spec)
        nid = free("_app_in")
        nodes[nid] = NodeDecl(nid, "app.input", _app_input(io), NoParams())
        edges.append(EdgeDecl(nid, "out", node_id, port, capacity=capacity))
    for target in outputs:
        if target in outs:
            raise GraphError(f"outputs: {target!r} is listed twice")
        node_id, port = output_port(graph, target)
        out = outs[target] = AppOutput(target, capacity, drop)
        nid = free("_app_out")
        nodes[nid] = NodeDecl(nid, "app.output", _app_output(out), NoParams())
        edges.append(EdgeDecl(node_id, port, nid, "messages", capacity=capacity))
    return Graph(graph.name, nodes, edges, graph.path, graph.lines), ins, outs
