"""A session: one running instance of a graph, with its own state, clock anchor and
statistics. Nodes run under structured concurrency: if one fails, the session cancels
every other task, runs every teardown, and raises ``NodeFailed`` naming the node.

In an application of one's own (docs/embedding.md)::

    session = Session(load_graph("graphs/assistant_webrtc.yaml"), services={...})
    task = asyncio.create_task(session.run())
    ...
    session.end_input()   # the sources end: the graph drains, replies in flight are said
    session.stop()        # or now: every node cancelled, every teardown run
    await task            # returns once every node has finished
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgspec

from .appio import AppInput, AppInputNode, AppOutput, attach
from .clock import Clock, FakeClock, RealClock, loop_clock
from .context import SessionContext
from .edge import Edge, EdgeStatistics, media_end
from .errors import GraphError, NodeFailed, SessionClosed, first_error
from .gate import StartGate
from .graph import Graph, validate
from .messages import Message
from .node import Node, NodeStatistics
from .params import show


class SessionStatistics(msgspec.Struct, frozen=True):
    session: str
    graph: str
    media_time: int
    nodes: list[NodeStatistics]
    edges: list[EdgeStatistics]


class Session:
    """One running instance of ``graph``. ``clock``: the real clock unless given (a
    ``FakeClock`` only on the loop it drives: ``flow.testing``). ``id``: for logs and task
    names (a fresh one unless given). ``services``: what nodes share with the application
    (``self.context.services``: a back end's provider, a model's stepper); the mapping is
    copied, the objects in it are not. ``inputs``, ``outputs``: ports (``"node.port"``)
    the application feeds with ``send`` and reads with ``receive`` (``flow.appio``), each
    bounded at ``capacity`` messages (``drop_unread``: an output its reader leaves full drops
    its oldest message instead of holding the graph back, as appsink's ``drop`` does; the
    drops are counted in ``--stats``). Raises ``GraphError`` for a graph that does not
    validate (one changed by hand after it was loaded) or a port it lacks."""

    def __init__(self, graph: Graph, *, clock: Clock | None = None, id: str | None = None,
                 services: dict[str, Any] | None = None, inputs: Iterable[str] = (),
                 outputs: Iterable[str] = (), capacity: int = 64,
                 drop_unread: bool = False) -> None:
        problems = validate(graph)
        if problems:
            raise GraphError(problems)
        self._inputs: dict[str, AppInput] = {}
        self._outputs: dict[str, AppOutput] = {}
        for name, ports in (("inputs", inputs), ("outputs", outputs)):
            if isinstance(ports, str):
                raise TypeError(f"{name} is a list of ports: {name}=[{ports!r}]")
        if inputs or outputs:
            graph, self._inputs, self._outputs = attach(graph, inputs, outputs, capacity,
                                                        drop_unread)
        self.graph = graph
        ctx = SessionContext(clock=clock or RealClock(), services=dict(services or {}))
        if id is not None:
            ctx.id = id
        ctx.t0 = ctx.clock.now()  # media time is about 0 until the session opens
        ctx.on_failure = self._on_failure
        self.context = ctx
        self.id = ctx.id
        self.nodes: dict[str, Node] = {
            d.id: d.cls(d.params, id=d.id, context=ctx) for d in graph.nodes.values()}
        self.edges: list[Edge] = []
        for e in graph.edges:
            src = self.nodes[e.src]._out[e.src_port]
            dst = self.nodes[e.dst]._in[e.dst_port]
            self.edges.append(Edge(src, dst, ctx.clock, policy=e.policy, capacity=e.limit,
                                   max_time=e.max_time, feedback=e.feedback))
        self._nodes_task: asyncio.Task[None] | None = None
        self._block: asyncio.Task[None] | None = None  # async with: the run's task
        self._loop: asyncio.AbstractEventLoop | None = None  # where it runs
        self._stop_requested = False
        self.started = False
        self.finished = False
        #: ended by ``stop()`` (not by its input ending, nor by a failure)
        self.stopped = False
        #: set once every node is set up and media time has started (the start gate)
        self.opened = asyncio.Event()

    async def run(self) -> None:
        """Run until every node has finished: the end of input drains the graph, as does
        ``end_input()``; ``stop()`` ends it sooner. Raises ``NodeFailed`` if a node raised.
        Cancelling the task that awaits it stops every node too, and raises
        ``CancelledError`` once every teardown has run."""
        if self.started:
            raise RuntimeError(f"session {self.id} already ran")
        self._loop = asyncio.get_running_loop()
        driving = loop_clock(self._loop)
        if isinstance(driving, FakeClock) and driving is not self.context.clock:
            raise RuntimeError(f"session {self.id}: this event loop runs on a FakeClock, but "
                               "the session was given another clock: Session(graph, "
                               "clock=clock) with the FakeClock that runs the loop")
        self.started = True
        if self._stop_requested:  # stop() came before run() began: start no node
            self.finished = self.stopped = True
            self._close_ports()
            return
        self._nodes_task = asyncio.create_task(self._run_nodes(), name=self.id)
        try:
            await self._nodes_task  # cancelling the caller cancels the nodes too
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if self._nodes_task.cancelled() and self._stop_requested and me is not None \
                    and not me.cancelling():
                self.stopped = True  # stop() ended it: the caller is not cancelled
                return
            raise
        finally:
            self.finished = True
            self._close_ports()

    def _on_failure(self, err: NodeFailed) -> None:
        """A node failed: the application's readers hear it now, not once every teardown
        has run (up to ``TEARDOWN_GRACE``)."""
        if self._outputs or self._inputs:
            self._close_ports(err)

    def _close_ports(self, failure: NodeFailed | None = None) -> None:
        """The application's ports, once no node runs: a blocked or later ``send`` is
        refused, and a reader's ``async for`` ends (or raises the session's failure)."""
        failure = failure or self.failure
        for io in self._inputs.values():
            io.close("the session has ended", failure)
        for out in self._outputs.values():
            out.end(failure)

    async def _run_nodes(self) -> None:
        self.context.t0 = self.context.clock.now()

        def anchor() -> None:  # media time starts once every node is set up
            self.context.t0 = self.context.clock.now()
            self.opened.set()

        gate = StartGate(len(self.nodes), anchor)
        try:
            async with asyncio.TaskGroup() as tg:
                for node in self.nodes.values():
                    tg.create_task(node._main(gate), name=f"{self.id}/{node.id}")
        except BaseExceptionGroup as group:
            # the node that failed first in time: a knock-on failure must not hide it; its
            # cause stays the node's own exception, so a traceback shows where it raised
            err = self.failure or first_error(group)
            raise err from err.__cause__

    @property
    def failure(self) -> NodeFailed | None:
        """The first node failure in time, from the moment the node raised: ``run`` raises it only
        once every node has torn down, which may take seconds (a server tells its client
        sooner)."""
        failed = [n for n in self.nodes.values() if n._failure is not None]
        return min(failed, key=lambda n: n._failed_at)._failure if failed else None

    def start(self) -> asyncio.Task[None]:
        """``run()`` in a task of its own, returned; however that task ends (cancelled
        before its first step included), the application's ports are closed."""
        task = asyncio.ensure_future(self.run())
        task.add_done_callback(lambda _: self._close_ports())
        return task

    async def __aenter__(self) -> Session:
        """``async with Session(...) as session:`` runs it (``start``) for the block;
        leaving the block stops what still runs (``stop``) and waits for every teardown."""
        self._block = self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        if self._block is not None:
            await self._block

    def stop(self) -> None:
        """End the session now (server shutdown, client gone): every node is cancelled and
        every teardown runs (a WAV being written is finished); ``run()`` then returns, with
        ``stopped`` set. Called before ``run()`` begins, ``run()`` starts no node. What is
        in flight is lost: ``end_input()`` lets it finish."""
        self._stop_requested = True
        if not self.started:
            self._close_ports()  # nothing of the application's waits for a run to come
        if self._nodes_task is not None and not self._nodes_task.done():
            self._nodes_task.cancel()

    def end_input(self) -> None:
        """End every source (a node no edge feeds) as if its input had ended, as at the end
        of a file (GStreamer's end-of-stream): each closes its outputs and the graph
        drains, so a reply in flight is still said and written; ``run()`` returns once
        every node has finished. Nodes fed by edges end when their inputs do; the
        application's inputs end after what was sent."""
        for io in self._inputs.values():
            io.end()
        for node in self.nodes.values():
            if isinstance(node, AppInputNode):
                continue  # ended above, after what is queued
            if not any(e.dst == node.id for e in self.graph.edges):
                node._end_input()

    def send_threadsafe(self, port: str, msg: Message) -> concurrent.futures.Future[None]:
        """``send`` from another thread (an audio device's callback, as GStreamer's
        appsrc takes buffers from any thread): the returned future completes once the
        message is accepted (or holds why it was refused). Only while the session runs."""
        loop = self._loop
        if loop is None or self.finished:
            raise SessionClosed(f"session {self.id} is not running: nothing can be sent")
        return asyncio.run_coroutine_threadsafe(self.send(port, msg), loop)

    async def send(self, port: str, msg: Message) -> None:
        """Send ``msg`` into ``port``, one of the ``inputs`` the session was made with;
        waits while ``capacity`` messages are queued there (the graph is behind)."""
        await self._app_input(port).send(msg)

    def end(self, port: str) -> None:
        """End the application's input ``port``, as the end of a file would (after what
        was sent)."""
        self._app_input(port).end()

    def receive(self, port: str) -> AsyncIterator[Message]:
        """The messages of ``port``, one of the ``outputs`` the session was made with, as
        they come, until its stream ends or the session does (``async for``; a failed
        session's ``NodeFailed`` is raised to it). An ``Interrupt`` that reaches it drops
        what was not read yet and is received itself. One reader per output."""
        out = self._outputs.get(port)
        if out is None:
            raise KeyError(f"{port!r} is not one of this session's outputs "
                           f"({', '.join(self._outputs) or 'none: Session(outputs=[...])'})")
        return out.messages()

    def _app_input(self, port: str) -> AppInput:
        io = self._inputs.get(port)
        if io is None:
            raise KeyError(f"{port!r} is not one of this session's inputs "
                           f"({', '.join(self._inputs) or 'none: Session(inputs=[...])'})")
        return io

    def statistics(self) -> SessionStatistics:
        return SessionStatistics(
            session=self.id, graph=self.graph.name,
            # the clock says how much media went through only when the graph runs in real
            # time; a fast one carries more than that (graphs/echo.yaml: 5.6 s in 20 ms)
            media_time=max(self.context.media_time(), media_end(self.edges))
            if self.started else 0,
            nodes=[n.statistics() for n in self.nodes.values()],
            edges=[e.statistics() for e in self.edges])

    def format_statistics(self) -> str:
        """A table of every edge and node, for ``microturn run --stats`` and logs."""
        st = self.statistics()
        rows = [f"session {st.session} ({st.graph}), media time {st.media_time / 1e9:.3f}s",
                f"  {'edge':<44} {'policy':<11} {'carried':>8} {'dropped':>7} {'flushed':>7}"
                f" {'depth':>5} {'peak':>5} {'wait max':>9} {'blocked':>9}"]
        for e in st.edges:
            rows.append(f"  {e.name:<44} {e.policy:<11} {e.carried:>8} {e.dropped:>7} "
                        f"{e.flushed:>7} {e.depth:>5} {e.peak_depth:>5} "
                        f"{e.wait_max / 1e6:>7.2f}ms {e.blocked_total / 1e6:>7.1f}ms")
        rows.append(f"  {'node':<20} {'type':<20} {'received':>8} {'sent':>8} {'interrupts':>10}"
                    f" {'queued':>6} {'dropped':>7} {'wait max':>9}")
        for n in st.nodes:
            rows.append(f"  {n.id:<20} {n.type:<20} {n.received:>8} {n.sent:>8} "
                        f"{n.interrupts:>10} {n.queued:>6} {n.dropped:>7} "
                        f"{n.wait_max / 1e6:>7.2f}ms")
        for n in st.nodes:  # each type's own counters
            if n.extra:
                own = ", ".join(f"{k} {show(v)}" for k, v in _flat(n.extra))
                rows.append(f"  {n.id}: {own}")
        return "\n".join(rows)


def _flat(extra: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A node's own counters with nested tables spelled out: ``stepper.ticks 16``."""
    out: list[tuple[str, Any]] = []
    for key, value in extra.items():
        if isinstance(value, dict) and value:
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out
