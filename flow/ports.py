"""Typed ports: ``In[T]`` and ``Out[T]``, declared as class annotations on a node.

    class Gain(Node):
        audio: In[AudioFrame]
        out: Out[AudioFrame]

An input is *push-style* when the node defines ``async def on_<port>(self, msg)``: the
engine calls it for every message, one at a time. Without a handler it is *pull-style*:
the node's ``run()`` reads it with ``await port.recv()`` or ``async for msg in port``.
An input accepts several edges only when declared ``In(fan_in=True)``.

A port has ended when every edge feeding it has delivered ``EndOfStream``; ``feedback``
edges are left out of that when the port has other edges (a cycle must not keep itself
alive: the back end's results cannot end before the front end that feeds it does).
"""

from __future__ import annotations

import asyncio
import typing
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from .errors import EndOfInput, NodeDefinitionError
from .messages import Interrupt, Message

if TYPE_CHECKING:
    from .edge import Edge
    from .node import Node

T = TypeVar("T", bound=Message)

#: How many hops one task runs inline before the next hop queues: a deep enough chain of
#: handlers calling handlers would reach Python's recursion limit (about 4 frames a hop).
MAX_INLINE_DEPTH = 48


class PortSpec(msgspec.Struct, frozen=True):
    name: str
    direction: str  # "in" | "out"
    type: type
    fan_in: bool = False
    doc: str = ""
    push: bool = False

    @property
    def type_name(self) -> str:
        return self.type.__name__


class In(Generic[T]):
    """An input port. As a class attribute it is a declaration (``In(fan_in=True)``);
    each node instance gets its own bound copy."""

    def __init__(self, *, fan_in: bool = False, doc: str = "") -> None:
        self.fan_in = fan_in
        self.doc = doc
        self.name = ""
        self.type: type[Message] = Message
        self.node: Node = None  # type: ignore[assignment]
        self.handler: Callable[[Any], Coroutine[Any, Any, None]] | None = None
        self._edges: list[Edge] = []
        self._waiter: asyncio.Future[None] | None = None
        self._rr = 0

    def _bind(self, node: Node, name: str, type_: type[Message],
              handler: Callable[[Any], Coroutine[Any, Any, None]] | None) -> In[T]:
        port: In[T] = In(fan_in=self.fan_in, doc=self.doc)
        port.name, port.type, port.node, port.handler = name, type_, node, handler
        return port

    @property
    def connected(self) -> bool:
        return bool(self._edges)

    @property
    def ended(self) -> bool:
        edges = self._edges
        live = [e for e in edges if not e.feedback] or edges
        return all(e._ended for e in live)

    def _wakeup(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def recv(self) -> T:
        """The next message (pull-style ports), taken round-robin across fan-in edges.
        Raises ``EndOfInput`` once the port has ended; an unconnected port ends at once.
        One task at a time may wait on a port."""
        edges = self._edges
        while True:
            n = len(edges)
            for i in range(n):
                edge = edges[(self._rr + i) % n]
                msg = edge._pop()
                if msg is None:
                    continue
                self._rr = (self._rr + i + 1) % n
                if msg.control:  # EndOfStream for that edge
                    break
                self.node.received += 1
                return msg  # type: ignore[return-value]
            else:
                if self.ended:
                    raise EndOfInput(self.name)
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None

    def recv_nowait(self) -> T | None:
        """A queued message, or None if nothing is waiting (pull-style ports)."""
        for edge in self._edges:
            while edge._q:
                msg = edge._pop()
                if msg is not None and not msg.control:
                    self.node.received += 1
                    return msg  # type: ignore[return-value]
        return None

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[T]:
        while True:
            try:
                msg = await self.recv()
            except EndOfInput:
                return
            yield msg

    def __repr__(self) -> str:
        return f"In[{self.type.__name__}]({self.name!r})"


CHECKED = 64  #: messages of each output checked against its type


class Out(Generic[T]):
    """An output port. ``await out.send(msg)`` delivers to every connected edge (fan-out);
    on a full ``block`` edge it waits. Unconnected outputs discard what they are sent."""

    def __init__(self, *, doc: str = "") -> None:
        self.doc = doc
        self.name = ""
        self.type: type[Message] = Message
        self.node: Node = None  # type: ignore[assignment]
        self._edges: list[Edge] = []
        self._epoch = 0  # Interrupts that crossed this output
        self.sent = 0

    def _bind(self, node: Node, name: str, type_: type[Message]) -> Out[T]:
        port: Out[T] = Out(doc=self.doc)
        port.name, port.type, port.node = name, type_, node
        return port

    @property
    def connected(self) -> bool:
        return bool(self._edges)

    async def send(self, msg: T) -> None:
        """Deliver ``msg``. The first messages of a port are checked against its type (a
        node that sends the wrong type fails, named); after ``CHECKED`` of them the port
        sends unchecked, so the check costs the engine nothing in a steady stream."""
        if type(msg) is not self.type and not isinstance(msg, self.type) \
                and not getattr(msg, "control", False):
            raise self._wrong_type(msg)
        if self.sent >= CHECKED:
            self.send = self._send  # type: ignore[method-assign]
        await self._send(msg)

    async def _send(self, msg: T) -> None:
        self.sent += 1
        edges = self._edges
        if len(edges) == 1:
            edge = edges[0]
            node = edge._node
            # Edge.put's inline hand-off, one coroutine frame shorter: the hot path.
            if edge._inline and not edge._q and not node._busy and not msg.control \
                    and not edge._closed and self.node._depth < MAX_INLINE_DEPTH:
                node._depth = self.node._depth + 1
                edge.carried += 1
                edge._last = msg
                await node._call(edge.dst, msg)
            else:
                await edge.put(msg)
        else:
            # Fan-out: if an Interrupt crosses this output while we wait on one edge,
            # the message is stale: the edges not reached yet do not get it either.
            epoch = self._epoch
            for edge in edges:
                if self._epoch != epoch and not msg.control:
                    break
                await edge.put(msg)

    def send_nowait(self, msg: T) -> None:
        """Send without waiting: drop-policy edges apply their policy, a full ``block``
        edge raises ``asyncio.QueueFull``. For callbacks that cannot await."""
        if type(msg) is not self.type and not isinstance(msg, self.type) \
                and not getattr(msg, "control", False):
            raise self._wrong_type(msg)
        self.sent += 1
        for edge in self._edges:
            if msg.control:
                if isinstance(msg, Interrupt):
                    edge.interrupt(msg)
                else:
                    edge.close()
            else:
                edge.put_nowait(msg)

    def _wrong_type(self, msg: object) -> TypeError:
        return TypeError(f"output {self.name!r} of node {self.node.id!r} carries "
                         f"{self.type.__name__}, not {type(msg).__name__}: the node sent "
                         f"the wrong message type")

    def close(self) -> None:
        """End this output's stream (``EndOfStream`` to every edge). Idempotent."""
        for edge in self._edges:
            edge.close()

    def __repr__(self) -> str:
        return f"Out[{self.type.__name__}]({self.name!r})"


def declared_ports(cls: type) -> tuple[dict[str, PortSpec], dict[str, PortSpec]]:
    """A node class's inputs and outputs, from its annotations (``audio: In[AudioFrame] =
    In(doc=...)``); ``NodeDefinitionError`` for a port half declared: no message type, a
    type that is no ``Message``, an ``In`` annotated ``Out`` or the other way round, an
    ``In(...)`` with no annotation at all (each would silently be no port)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception as exc:  # unresolvable forward reference in a plugin
        raise NodeDefinitionError(
            f"node {cls.__qualname__}: cannot resolve its annotations ({exc})") from exc
    inputs: dict[str, PortSpec] = {}
    outputs: dict[str, PortSpec] = {}
    for name, hint in hints.items():
        origin = typing.get_origin(hint)
        if hint in (In, Out):  # a bare ``In``: the port would silently not exist
            raise NodeDefinitionError(
                f"node {cls.__qualname__}: port {name!r} needs the type of its messages: "
                f"{name}: {hint.__name__}[TextDelta] (or another Message subclass)")
        if origin not in (In, Out):
            continue
        args = typing.get_args(hint)
        msg_type = args[0] if args else Message
        if not (isinstance(msg_type, type) and issubclass(msg_type, Message)):
            raise NodeDefinitionError(
                f"node {cls.__qualname__}: port {name!r} carries {msg_type!r}, "
                "which is not a Message subclass")
        decl = getattr(cls, name, None)
        if isinstance(decl, (In, Out)) and not isinstance(decl, origin):
            raise NodeDefinitionError(
                f"node {cls.__qualname__}: port {name!r} is annotated {origin.__name__}"
                f"[...] but declared = {type(decl).__name__}(...): make them agree")
        doc = getattr(decl, "doc", "")
        if origin is In:
            fan_in = bool(getattr(decl, "fan_in", False))
            push = callable(getattr(cls, f"on_{name}", None))
            inputs[name] = PortSpec(name, "in", msg_type, fan_in, doc, push)
        else:
            outputs[name] = PortSpec(name, "out", msg_type, False, doc)
    for name, value in cls.__dict__.items():  # In(...) with no annotation: no port
        if isinstance(value, (In, Out)) and name not in hints:
            kind = type(value).__name__
            raise NodeDefinitionError(
                f"node {cls.__qualname__}: {name} = {kind}(...) has no annotation, so it "
                f"is no port: write {name}: {kind}[TextDelta] = {kind}(...) (with the "
                "type of its messages)")
    return inputs, outputs
