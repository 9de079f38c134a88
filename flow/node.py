"""The node contract: typed ports, a parameter Struct, and an async body.

A pass-through node::

    class PassThrough(Node):
        audio: In[AudioFrame]
        out: Out[AudioFrame]

        async def on_audio(self, frame: AudioFrame) -> None:
            await self.out.send(frame)

Lifecycle: ``setup()``, then the engine calls ``on_<port>`` for each message on
push-style inputs, one at a time, while ``run()`` (if the node defines it) runs beside
them. A node ends when every push-style input has ended (then ``on_end()`` runs, and a
``run()`` still going is cancelled: it is the node's background activity) or, for a node
whose inputs are all pull-style or that has none, when ``run()`` returns. Edges marked
``feedback`` do not keep a node alive when it has other inputs. Its outputs are then
closed with ``EndOfStream``, its inputs detached (anything still sent to it is discarded
and counted), and ``teardown()`` runs, also after an error or cancellation; once begun, it
runs to its end (a cancellation meanwhile waits for it), for up to ``TEARDOWN_GRACE``.

``on_interrupt(msg)`` is called synchronously when an ``Interrupt`` reaches the node (drop
what the interruption makes stale there; one that arrives before ``setup()`` has finished
is given to it right after); the engine forwards it on every output at once. A handler that
is running when the interrupt arrives keeps running: check state that ``on_interrupt``
set if it produces over a long time.

A ``run()`` that lets ``EndOfInput`` escape (``recv()`` after its port ended) has simply
finished.

Errors: whatever a handler, ``run()``, ``setup()``, ``on_end()`` or ``on_interrupt()``
raises ends the session with ``NodeFailed`` naming this node, even when the handler ran
inline in another node's task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from .context import SessionContext
from .delivery import IDLE, Deliverer, deliverer
from .errors import (
    EndOfInput,
    MissingDependency,
    NodeFailed,
    first_error,
    missing,
)
from .handoff import HELD, ended_send, finish_held
from .messages import Interrupt, Message
from .nodedef import define
from .ports import In, Out, PortSpec
from .spread import forward
from .teardown import finish

if TYPE_CHECKING:
    from .edge import Edge
    from .gate import StartGate


_FAILURES = itertools.count()  #: orders node failures in time

class NoParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Parameters of a node that takes none."""


class NodeStatistics(msgspec.Struct, frozen=True):
    """What one node did. The input figures add up the edges that feed it."""

    id: str
    type: str
    received: int  #: messages handed to its handlers or taken with recv()
    sent: int
    interrupts: int
    running: bool
    queued: int = 0  #: waiting on its inputs now
    dropped: int = 0  #: lost on its inputs (drop policies, after it finished)
    wait_total: int = 0  #: ns its input messages spent queued
    wait_max: int = 0
    #: the node type's own counters (``Node.statistics_extra``: a front end's failed
    #: steps and skills, ...)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class Node:
    """Base class of every node. Subclasses declare ports as annotations and may set
    ``Params`` to a frozen ``msgspec.Struct`` (use ``forbid_unknown_fields=True``)."""

    Params: ClassVar[type[msgspec.Struct]] = NoParams
    #: The registered type name (``speech.espeak``); set by the registry.
    type_name: ClassVar[str] = ""
    #: Forward interrupts to every output after ``on_interrupt`` (GStreamer's flush does).
    forward_interrupts: ClassVar[bool] = True

    inputs: ClassVar[dict[str, PortSpec]] = {}
    outputs: ClassVar[dict[str, PortSpec]] = {}
    #: Let idle consumers handle this node's messages inline, in the task that sends them
    #: (see flow.edge). Set False in a source that models live input and must never be
    #: held by a consumer, not even once. Always off for a node with push-style inputs
    #: and a run(), since that run() is cancelled when the inputs end.
    inline_delivery: ClassVar[bool] = True
    _inline_out: ClassVar[bool] = True
    #: Optional dependencies the node imports when it runs, as (module, distribution,
    #: extra): ``("espeakng_loader", "espeakng-loader", "speech")``. A graph that uses the
    #: node where one is missing is refused when it loads (``check`` too), at its line. The
    #: extra is one of the distribution that ships the node (found from its module), so a
    #: plugin's hint names the plugin's extra, not microturn's.
    requires: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @classmethod
    def missing_dependencies(cls, params: Any) -> list[MissingDependency]:
        """What the node, with these parameters, needs and this environment lacks (by
        default ``requires``; override where the parameters decide, as a model or a
        provider does). Looked up without importing anything."""
        return missing(cls.requires, cls.__module__)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        define(cls, Node)  # its ports, and every rule a node class must keep (flow.nodedef)

    def __init__(self, params: msgspec.Struct | None = None, *, id: str = "node",
                 context: SessionContext | None = None) -> None:
        cls = type(self)
        self.id = id
        self.params: Any = params if params is not None else cls.Params()
        self.context = context if context is not None else SessionContext()
        self.clock = self.context.clock
        self.log = logging.getLogger(f"microturn.node.{cls.type_name or cls.__name__}")
        self._in: dict[str, In[Any]] = {}
        self._out: dict[str, Out[Any]] = {}
        for name, spec in cls.inputs.items():
            decl = cls.__dict__.get(name)
            handler = getattr(self, f"on_{name}") if spec.push else None
            port = (decl if isinstance(decl, In) else In(fan_in=spec.fan_in))._bind(
                self, name, spec.type, handler)
            self._in[name] = port
            setattr(self, name, port)
        for name, spec in cls.outputs.items():
            decl = cls.__dict__.get(name)
            oport = (decl if isinstance(decl, Out) else Out())._bind(self, name, spec.type)
            self._out[name] = oport
            setattr(self, name, oport)
        # Runtime state. _busy is True until setup() is done so that nothing is
        # delivered before the node is ready.
        self._busy = True
        self._ready: deque[Edge] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._push_edges = 0
        self._feedback_ends = True  # does EndOfStream on a feedback edge count?
        self._deliverer: Deliverer | None = None  # runs the handlers (flow.delivery)
        self._depth = 0  # inline hand-offs above the running handler (ports.MAX_INLINE_DEPTH)
        self._direct = True  # inline delivery allowed (see _set_direct)
        self._calm = 0
        self._failure: NodeFailed | None = None
        self._failed_at = 0
        self._set_up = False
        self._early_interrupts: list[Interrupt] = []  # arrived before setup() finished
        self._interrupt_ids: deque[int] = deque(maxlen=8)
        self._running = False
        self._input_ended = False  # end_input(): a source ends as if its input had
        self._source_run: asyncio.Task[None] | None = None
        self.received = 0
        self.interrupts = 0

    # -- what a node author overrides -------------------------------------------------------

    async def setup(self) -> None:
        """Acquire resources (open files, load models). Raise ``ParamError`` for bad ones."""

    async def run(self) -> None:
        """The node's own activity: produce (sources), read pull-style inputs, or tick."""

    async def on_end(self) -> None:
        """Every input has ended: flush what is buffered. Outputs close after it."""

    def on_interrupt(self, msg: Interrupt) -> None:
        """An ``Interrupt`` arrived: drop what it makes stale. Must not block."""

    async def teardown(self) -> None:
        """Release resources. Runs after success, errors and cancellation alike, also when
        ``setup()`` failed or was cancelled part-way: release only what was acquired. It
        runs to its end (cancelling the node meanwhile waits for it), but for at most
        ``TEARDOWN_GRACE``, 10 s, however the node ended: keep it bounded (close with a
        timeout), since past that it is abandoned."""

    @classmethod
    def params_schema_cases(cls) -> list[tuple[dict[str, Any], str, type]]:
        """For editors (``microturn schema``): a parameter whose type depends on another's
        value, as ``(a JSON Schema condition on with, the parameter, its type then)``. The
        front end's ``options`` are a model's own (``model: reflex``)."""
        return []

    # -- helpers for node bodies -------------------------------------------------------------

    def now(self) -> int:
        """Current media time (ns since the session started)."""
        return self.context.media_time()

    @property
    def media_started(self) -> bool:
        """Whether the session got past start-up: every node was set up and media time
        began. Still false in ``teardown()`` when a node's ``setup()`` failed or the session
        was stopped before that: nothing ran, so a sink leaves what an earlier run wrote as
        it was (``sink.wav``)."""
        return self._set_up

    async def interrupt(self, reason: str = "", pts: int | None = None) -> Interrupt:
        """Originate an ``Interrupt`` on every output (barge-in)."""
        msg = Interrupt(pts=self.now() if pts is None else pts, reason=reason)
        self._interrupt_ids.append(msg.id)
        forward([e for out in self._out.values() for e in out._edges], msg)
        return msg

    def statistics_extra(self) -> dict[str, Any]:
        """The node type's own counters, beside the engine's (``--stats`` prints them).
        Called at any time, before ``setup()`` too; keep it cheap and JSON-ready."""
        return {}

    def statistics(self) -> NodeStatistics:
        edges = [e for p in self._in.values() for e in p._edges]
        try:
            extra = self.statistics_extra()
        except Exception as exc:  # statistics must never fail the caller (a server's view)
            extra = {"statistics_error": repr(exc)}
        return NodeStatistics(
            id=self.id, type=type(self).type_name or type(self).__name__,
            received=self.received, sent=sum(o.sent for o in self._out.values()),
            interrupts=self.interrupts, running=self._running,
            queued=sum(e.depth for e in edges), dropped=sum(e.dropped for e in edges),
            wait_total=sum(e.wait_total for e in edges),
            wait_max=max((e.wait_max for e in edges), default=0), extra=extra)

    # -- engine internals ---------------------------------------------------------------------

    async def _call(self, port: In[Any], msg: Message) -> None:
        """Run a handler; never concurrently with another of this node's handlers.

        May run in a producer's task (inline delivery). A failure is then also recorded
        here, so that this node's own task fails with it even if the producer swallows
        the exception."""
        self._busy = True
        self.received += 1
        d = self._deliverer
        try:
            if d is None:
                d = self._deliverer = deliverer()
            step = d.send((port.handler, msg))
            if step is IDLE:
                if not self._direct:
                    self._calm += 1
                    if self._calm >= _CALM_CALLS:
                        self._set_direct(True)
            else:  # the handler waits: finish it here, and stop holding producers
                if self._direct:
                    self._set_direct(False)
                self._calm = 0
                await finish_held(d, step)
        except (NodeFailed, asyncio.CancelledError):
            self._deliverer = None
            raise
        except Exception as exc:
            self._deliverer = None
            raise self._fail(exc) from exc
        finally:
            self._busy = False
            if self._ready or self._push_edges <= 0 or self._failure is not None:
                self._wakeup()

    async def _run(self) -> None:
        try:
            await self.run()
        except EndOfInput:
            pass  # a recv() after the end: the normal way for a reading loop to stop

    async def _run_source(self) -> None:
        """A source's ``run()`` (a node with no input edge), which ``_end_input`` may end
        as if its input had ended: its outputs are then closed and the graph drains."""
        if self._input_ended:
            return
        task = asyncio.create_task(self._run(), name=f"{self.context.id}/{self.id}/run")
        self._source_run = task
        try:
            await task  # cancelling this node's task cancels the run too
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if not (self._input_ended and task.cancelled() and me is not None
                    and not me.cancelling()):
                raise
        finally:
            self._source_run = None

    def _end_input(self) -> None:
        """End a source's ``run()`` as if its input had ended (``Session.end_input``):
        GStreamer's end-of-stream. Nodes with input edges end when their inputs do.

        Its next ``send`` raises ``EndOfInput`` (which ends a ``run()``), and a source
        waiting on anything else (a sleep, a socket) is cancelled there; but never while
        its task is finishing a downstream handler it delivered to inline: that handler
        completes first, then the source is cancelled."""
        self._input_ended = True
        for out in self._out.values():
            out.send = ended_send  # type: ignore[method-assign]
        task = self._source_run
        if task is None or task.done():
            return
        if task in HELD.counts:
            HELD.end[task] = self  # cancelled once the handler is finished
        else:
            task.cancel()

    def _set_direct(self, direct: bool) -> None:
        """Allow or stop inline delivery into this node. A handler that suspends (sleeps,
        waits for a thread, for a full edge downstream) would hold its producer for that
        long, so after one does, messages queue and this node's own task takes them:
        the edge's capacity decouples the two again. After ``_CALM_CALLS`` handlers in a
        row that return without suspending, inline delivery resumes."""
        self._direct = direct
        self._calm = 0
        for port in self._in.values():
            for edge in port._edges:
                edge._inline = direct and edge._can_inline

    def _fail(self, exc: Exception) -> NodeFailed:
        err = NodeFailed(self.id, exc, self.context.id)
        if self._failure is None:
            self._failure = err
            self._failed_at = next(_FAILURES)  # which node of a session failed first
            if self.context.on_failure is not None:
                self.context.on_failure(err)
        return err

    def _schedule(self, edge: Edge) -> None:
        self._ready.append(edge)
        if not self._busy:
            self._wakeup()

    def _wakeup(self) -> None:
        w = self._wake
        if w is not None and not w.done():
            w.set_result(None)

    def _interrupted(self, msg: Interrupt) -> None:
        if msg.id in self._interrupt_ids:
            return  # already seen through another path (fan-in, feedback)
        self._interrupt_ids.append(msg.id)
        self.interrupts += 1
        if self._set_up:
            if self._running:
                self._on_interrupt(msg)
        else:
            self._early_interrupts.append(msg)
        if type(self).forward_interrupts:
            forward([e for out in self._out.values() for e in out._edges], msg)

    def _on_interrupt(self, msg: Interrupt) -> None:
        try:
            self.on_interrupt(msg)
        except Exception as exc:
            # Runs in whichever task sent the interrupt: blame this node, not that one.
            err = self._fail(exc)
            self._wakeup()
            raise err from exc

    async def _drain(self) -> None:
        """Deliver queued messages of push-style inputs until all of them have ended and
        no handler is running (one may run inline in a producer's task). Returns with
        ``_busy`` set, so nothing is delivered any more."""
        ready = self._ready
        loop = asyncio.get_running_loop()
        while True:
            if self._failure is not None:
                raise self._failure
            if not ready or self._busy:
                if self._push_edges <= 0 and not self._busy:
                    self._busy = True
                    return
                self._wake = loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
                continue
            edge = ready.popleft()
            msg = edge._pop()
            if edge._q:
                ready.append(edge)
            else:
                edge._scheduled = False
            if msg is None:
                continue
            if msg.control:  # EndOfStream
                if self._feedback_ends or not edge.feedback:
                    self._push_edges -= 1
                continue
            self._depth = 0  # a chain of inline hand-offs starts here
            await self._call(edge.dst, msg)

    async def _main(self, gate: StartGate | None = None) -> None:
        """The node's task: setup, (wait at ``gate`` until every node of the session is set
        up), deliver/run, close outputs, teardown."""
        cls = type(self)
        push = [e for p in self._in.values() if p.handler for e in p._edges]
        live = [e for e in push if not e.feedback] or push
        self._feedback_ends = len(live) == len(push)
        self._push_edges = len(live)
        has_push = self._push_edges > 0
        has_run = cls.run is not Node.run
        self._running = True
        failed = False
        why = "it ended"  # for the warning if its teardown hangs
        try:
            await self.setup()
            if gate is not None:
                await gate.arrive()
            self._set_up = True
            early, self._early_interrupts = self._early_interrupts, []
            for msg in early:
                self._on_interrupt(msg)
            self._busy = False
            if has_push and has_run:
                try:
                    async with asyncio.TaskGroup() as tg:
                        run_task = tg.create_task(self._run(),
                                                  name=f"{self.context.id}/{self.id}/run")
                        await self._drain()
                        await self.on_end()
                        run_task.cancel()
                except BaseExceptionGroup as group:
                    raise first_error(group) from None
            elif has_run and not any(p._edges for p in self._in.values()):
                await self._run_source()
            elif has_run:
                await self._run()
            else:
                await self._drain()
                await self.on_end()
            for out in self._out.values():
                out.close()
        except asyncio.CancelledError:
            failed, why = True, "the session was cancelled"
            raise
        except NodeFailed:
            failed, why = True, "it failed"
            raise
        except Exception as exc:
            failed, why = True, "it failed"
            raise self._fail(exc) from exc
        finally:
            self._running = False
            self._busy = True
            for port in self._in.values():
                for edge in port._edges:
                    edge.detach()
            try:
                await self._teardown_to_the_end(why)
            except Exception as exc:
                if not failed:
                    raise NodeFailed(self.id, exc, self.context.id) from exc
                self.log.warning("session %s node %s: teardown failed too: %r",
                                 self.context.id, self.id, exc)

    async def _teardown_to_the_end(self, why: str) -> None:
        """``teardown()`` run to its end through cancellations, but for at most
        ``TEARDOWN_GRACE`` from its start however the node ended (``why``), then abandoned
        with a warning naming the node (``flow.teardown``). Raises the teardown's own
        error, or once it is over the cancellation."""
        ended = await finish(self.teardown(), self.clock, TEARDOWN_GRACE,
                             name=f"{self.context.id}/{self.id}/teardown")
        if ended.abandoned:
            if ended.cancelled and why == "it ended":
                why = "the session was cancelled"
            self.log.warning("session %s node %s: teardown still running %g s after %s; "
                             "abandoned", self.context.id, self.id, TEARDOWN_GRACE / 1e9, why)
        if ended.cancelled:
            raise asyncio.CancelledError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


#: Handlers in a row that must return without suspending before inline delivery resumes.
_CALM_CALLS = 32
#: How long a node's teardown may go on (ns, on the session's clock, from its start) before
#: it is abandoned, whatever ended the node: its input, a failure, a cancellation.
TEARDOWN_GRACE = 10_000_000_000
