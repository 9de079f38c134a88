"""The ``frontend`` node: a model stepped every micro-turn over a persistent session.

    nodes:
      front:
        use: frontend
        with:
          model: torch              # a name in nodes.frontend.models.MODELS
          options:                  # that model's own Options (checked at graph load)
            device: cpu
            config: {d_model: 128, window_tokens: 2048}

Each ``FusedTurn`` on ``turns`` is handed to the model's session. Every output the model
gives becomes an ``Action`` on ``actions``, with the model's words as
``TextDelta(role="model")`` on ``text`` when it speaks and a ``DelegateRequest`` when it
delegates. How often depends on the model: ``torch`` gives one at every step, ``silent``
included (turns coalesced into one step get one, for the latest); ``reflex`` only when it
has something to do (a reply, a delegation, yielding the floor or correcting itself), at
a micro-turn, a hypothesis on ``heard`` or a timer, and nothing while it stays silent.
When the model yields the floor it originates an ``Interrupt``, and when it corrects
itself (``retract``) it sends one on ``text`` alone, so that only what is being said
stops; an ``Interrupt`` arriving from upstream (barge-in) makes the model drop its
not-yet-spoken output, and outputs of steps that were in flight are not emitted.
``results`` (back-end answers) go to the model.
A model whose session lists its ``skills`` (the reflex) announces them once, at the
start: an ``Action`` of kind ``skills`` whose ``data["skills"]`` holds each skill's
``name`` and ``examples`` (phrases to try), for a browser to suggest.
A model with replies due at a time of its own (a timer: ``next_due``/``fire``) is woken at
that media time exactly, not at the next micro-turn, so a reminder is not up to 200 ms late.

The node imports no torch; the torch model imports it when a session opens.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import msgspec

from flow import In, Interrupt, Node, Out, TextDelta
from flow.errors import MissingDependency, missing

from ..asr import SetVocabulary
from ..types import Action, BackendResult, DelegateRequest, FusedTurn
from .models import ModelFailed, ModelSession, StepOutput, heard_text, model_class, model_names


class FrontEndParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    model: str = "torch"
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    history: int = 32  #: (role, text) pairs kept as the context of delegate requests
    max_inflight: int = 16  #: turns submitted but not yet answered (backpressure beyond)

    def __post_init__(self) -> None:
        try:
            cls = model_class(self.model)
        except KeyError as exc:
            raise ValueError(str(exc.args[0])) from None
        try:
            msgspec.convert(self.options, cls.Options)
        except msgspec.ValidationError as exc:
            # Re-root msgspec's path at ``with.options`` so the error names the field.
            msg, _, path = str(exc).partition(" - at `$")
            where = f" - at `$.options{path}" if path else " - at `$.options`"
            hint = _other_model(self.model, self.options)
            raise ValueError(f"options for model {self.model!r}: {msg}{hint}{where}") from None
        if self.history < 0 or self.max_inflight < 1:
            raise ValueError("history must be >= 0 and max_inflight >= 1")


#: What a model's step may decide (``StepOutput.action``).
ACTIONS = ("silent", "speak", "delegate")


def _check_output(out: object) -> None:
    """A model's step output, or ``TypeError`` / ``ValueError`` saying what is wrong (a
    model's mistake, which ends the session naming the node)."""
    if not isinstance(out, StepOutput):
        raise TypeError(f"a model's step returns a StepOutput, a list of them or None; got "
                        f"{type(out).__name__}")
    if out.action not in ACTIONS:
        raise ValueError(f"StepOutput.action is one of {', '.join(ACTIONS)}; got "
                         f"{out.action!r}")


def _other_model(model: str, options: dict[str, Any]) -> str:
    """A hint when the options are another model's (``skills`` under the default
    ``model: torch``): " (these are the options of model 'reflex': set model: reflex)"."""
    for name in model_names():
        if name == model:
            continue
        try:
            msgspec.convert(options, model_class(name).Options)
        except Exception:  # not its options, or it cannot load here
            continue
        return (f" (these are the options of model {name!r}: set model: {name}, or give "
                f"model {model!r} its own; in a graph that extends another, options: null "
                "drops the options it inherited)")
    return ""


class FrontEnd(Node):
    Params = FrontEndParams

    @classmethod
    def missing_dependencies(cls, params: FrontEndParams) -> list[MissingDependency]:
        """The chosen model's (``requires`` on its class, as a node's): torch for torch."""
        try:
            model = model_class(params.model)
        except KeyError:
            return []  # the parameters' own check says so
        return missing(getattr(model, "requires", ()), model.__module__)

    @classmethod
    def params_schema_cases(cls) -> list[tuple[dict[str, Any], str, type]]:
        """``options`` are the model's own (its ``options_schema()`` where it has one, to
        tell editors more than its ``Options`` does: the reflex skills and their
        settings); ``model`` left out is the default."""
        default = FrontEndParams().model
        cases = []
        for name in model_names():
            try:
                model = model_class(name)
            except Exception:  # a model that cannot load here says nothing to editors
                continue
            chosen: dict[str, Any] = {"properties": {"model": {"const": name}},
                                      "required": ["model"]}
            if name == default:
                chosen = {"anyOf": [chosen, {"not": {"required": ["model"]}}]}
            schema = getattr(model, "options_schema", None)
            cases.append((chosen, "options", schema() if schema else model.Options))
        return cases

    turns: In[FusedTurn] = In(doc="fused micro-turns, in order")
    heard: In[TextDelta] = In(fan_in=True, doc="what a recogniser heard (partial and final "
                               "hypotheses), for models that listen to words (reflex)")
    results: In[BackendResult] = In(doc="back-end answers to weave in")
    text: Out[TextDelta] = Out(doc="what the model says (role=model)")
    actions: Out[Action] = Out(doc="the model's decisions (the torch model's: every micro-turn)")
    delegate: Out[DelegateRequest] = Out(doc="questions for the back end")
    vocabulary: Out[SetVocabulary] = Out(doc="what the model listens for, for the "
                                         "recogniser's grammar (sent once, at start)")

    async def setup(self) -> None:
        p: FrontEndParams = self.params
        cls = model_class(p.model)
        self.session: ModelSession = await cls.open(msgspec.convert(p.options, cls.Options),
                                                    self.context)
        self._inflight: asyncio.Queue[tuple[int, FusedTurn, asyncio.Task[Any]]] = (
            asyncio.Queue(maxsize=p.max_inflight))
        self._history: deque[tuple[str, str]] = deque(maxlen=p.history)
        self._seq = 0
        self._stale_before = 0  # steps submitted before the last interrupt: not emitted
        self._delegate_ids = 0
        self._last_pts = 0
        self._last_index = 0
        self.errors = 0
        self._due_changed = asyncio.Event()
        self._sent_vocabulary: SetVocabulary | None = None
        await self._sync_vocabulary()

    async def _sync_vocabulary(self) -> None:
        """Send the model's vocabulary to the recogniser at start and whenever it changes
        (a skill's state decides what it can hear)."""
        vocab = getattr(self.session, "vocabulary", None)
        if vocab is None or not self.vocabulary.connected:
            return
        v = vocab()
        pronounce = getattr(self.session, "pronunciations", None)
        phones = dict(pronounce()) if pronounce is not None else {}
        msg = SetVocabulary(phrases=tuple(v["phrases"]),
                            number_contexts=tuple(v["number_contexts"]), words=tuple(v["words"]),
                            pronunciations=phones or None)
        if msg != self._sent_vocabulary:
            self._sent_vocabulary = msg
            await self.vocabulary.send(msg)

    async def on_turns(self, turn: FusedTurn) -> None:
        heard = heard_text(turn)
        if heard:
            self._history.append(("user", heard))
        task = asyncio.get_running_loop().create_task(self.session.step(turn))
        self._seq += 1
        await self._inflight.put((self._seq, turn, task))

    async def on_heard(self, msg: TextDelta) -> None:
        if msg.final and msg.text:
            self._history.append(("user", msg.text))
        hear = getattr(self.session, "hear", None)
        if hear is None:
            return  # a model that reads the text from its turns
        self._last_pts = max(self._last_pts, msg.pts)
        for out in hear(msg):
            await self._emit_output(self._last_pts, self._last_index, out)
        self._due_changed.set()
        await self._sync_vocabulary()

    async def on_results(self, result: BackendResult) -> None:
        self.session.add_result(result)

    async def run(self) -> None:
        await self._announce_skills()
        async with asyncio.TaskGroup() as tg:
            if hasattr(self.session, "next_due"):
                tg.create_task(self._fire_when_due())
            await self._drain_steps()

    async def _announce_skills(self) -> None:
        """Say once, at the start, what the model can do: an ``Action`` of kind ``skills``
        listing each of the session's ``skills`` (those of a model that has them, as the
        reflex does) by ``name`` with its ``examples()``, phrases a first-time user can
        say. A browser shows them as suggestions; which ones depends on the graph."""
        skills = getattr(self.session, "skills", None)
        if not skills:
            return
        listed = []
        for skill in skills:
            examples = getattr(skill, "examples", None)
            listed.append({"name": str(getattr(skill, "name", type(skill).__name__)),
                           "examples": [str(e) for e in examples()] if examples else []})
        await self.actions.send(Action(pts=0, kind="skills", data={"skills": listed}))

    async def _fire_when_due(self) -> None:
        """Sleep until the model's next reply of its own is due (media time), then fire it;
        re-plan whenever a hypothesis or a step may have set a new one."""
        while True:
            self._due_changed.clear()
            due = self.session.next_due()  # type: ignore[attr-defined]
            changed = asyncio.ensure_future(self._due_changed.wait())
            if due is None:
                await changed
                continue
            timer = asyncio.ensure_future(self.clock.sleep_until(self.context.t0 + due))
            try:
                await asyncio.wait({changed, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
                timer.cancel()
            if timer.done() and not timer.cancelled():
                for out in self.session.fire(due):  # type: ignore[attr-defined]
                    await self._emit_output(due, self._last_index, out)
                await self._sync_vocabulary()

    async def _drain_steps(self) -> None:
        while True:
            seq, turn, task = await self._inflight.get()
            try:
                out = await task
            except (asyncio.CancelledError, ModelFailed):
                raise
            except Exception as exc:  # the next step goes on (the torch model re-prefills)
                self.errors += 1
                self.log.warning("session %s node %s: step of turn %d failed: %r",
                                 self.context.id, self.id, turn.index, exc, exc_info=exc)
                out = None
            self._last_pts = max(self._last_pts, turn.pts)
            self._last_index = max(self._last_index, turn.index)
            if out is not None and seq > self._stale_before:
                await self._emit(turn, out)
                await self._sync_vocabulary()
            self._due_changed.set()
            self._inflight.task_done()

    async def on_end(self) -> None:
        await self._inflight.join()
        drain = getattr(self.session, "drain", None)
        if drain is not None:  # what the model still has to say, now that no one talks
            for out in drain():
                await self._emit_output(self._last_pts, self._last_index, out)

    def on_interrupt(self, msg: Interrupt) -> None:
        self._stale_before = self._seq
        self.session.interrupt()

    async def teardown(self) -> None:
        if hasattr(self, "_inflight"):
            while not self._inflight.empty():
                self._inflight.get_nowait()[2].cancel()
        if hasattr(self, "session"):
            await self.session.close()

    async def _emit(self, turn: FusedTurn, out: StepOutput | list[StepOutput]) -> None:
        for one in out if isinstance(out, list) else [out]:
            _check_output(one)
            t = one.turn or turn  # a coalesced step answers for the latest turn it took
            self._last_pts, self._last_index = max(self._last_pts, t.pts), t.index
            await self._emit_output(t.pts, t.index, one)

    async def _emit_output(self, pts: int, index: int, out: StepOutput) -> None:
        if out.interrupt:  # first: the interrupt flushes what is queued downstream
            await self.interrupt("frontend: the model yielded the floor", pts=pts)
        elif out.retract:  # only the speech path: the model goes on talking, corrected
            await self.text.send(Interrupt(pts=pts, reason="frontend: the model corrects "
                                                            "itself"))
        trigger = out.data.get("trigger")
        # In a graph run faster than real time (a file at pace: fast) the clock lags the
        # media: the decision's media time is then its micro-turn's, not the clock's.
        reaction = max(self.now(), pts) - (trigger if isinstance(trigger, int) else pts)
        await self.actions.send(Action(pts=pts, kind=out.action, text=out.text,
                                       turn=index, reaction=reaction, data=out.data))
        if out.action == "speak" and (out.text or out.final):
            await self.text.send(TextDelta(pts=pts, text=out.text, role="model",
                                           final=out.final))
            if out.text:
                self._history.append(("model", out.text))
        elif out.action == "delegate":
            rid = out.data.get("request_id")
            if not isinstance(rid, int):
                self._delegate_ids += 1
                rid = self._delegate_ids
            await self.delegate.send(DelegateRequest(
                pts=pts, id=rid, query=out.text, context=tuple(self._history)))

    def statistics_extra(self) -> dict[str, Any]:
        """Failed steps, and the model session's own counters (the torch stepper's misses
        and re-prefills, the reflex model's failed skills)."""
        session = getattr(self, "session", None)
        return {"errors": getattr(self, "errors", 0),
                **(session.statistics() if session is not None else {})}
