"""The front end's model slot: a small interface and a registry of model names.

A model is a class with an ``Options`` Struct (its part of the node's parameters, under
``with.options``) and ``async open(options, context) -> ModelSession``. A ``ModelSession``
steps one conversation, one micro-turn at a time::

    class Echo:
        Options = flow.NoParams  # or a frozen Struct with forbid_unknown_fields=True

        @classmethod
        async def open(cls, options, context):
            return EchoSession()

    class EchoSession:
        async def step(self, turn: FusedTurn) -> StepOutput | None:
            heard = heard_text(turn)
            return StepOutput("speak", heard) if heard else StepOutput("silent")
        def interrupt(self) -> None: ...
        def add_result(self, result: BackendResult) -> None: ...
        async def close(self) -> None: ...
        def statistics(self) -> dict: return {}

    MODELS["echo"] = Echo  # or "package.module:Echo", imported when first used

A package makes a model known to every graph, the ``microturn`` command included, through
the ``microturn.models`` entry points (``echo = "my_package.echo:Echo"``), as nodes and
skills are; a built-in name cannot be taken over.

Steps of one session may overlap (up to the node's ``max_inflight``), so a model that
keeps state between steps serialises them itself, or coalesces as the torch model's
stepper does. ``step`` must not block the event loop: CPU work goes to
``context.clock.run_blocking`` (a thread), which a fake clock waits for.

A step that raises counts as one failed step (logged; the next turn is stepped as
usual). A model that cannot go on at all raises ``ModelFailed``: the node fails and its
session ends with that reason, rather than failing every turn from then on.

``step`` returns ``None`` when the turn was merged into a step that an earlier call is
still waiting for (a batched model stepping a late turn together with the next one).
This module imports no torch: a graph using ``model: torch`` validates without it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Protocol

import msgspec
import numpy as np

from flow import SessionContext
from nodes.types import BackendResult, FusedTurn, Modality


class ModelFailed(Exception):
    """Raised by ``ModelSession.step`` when the model cannot step again (its worker died,
    its device is gone): the front-end node fails and ends its session with this reason."""


class StepOutput(msgspec.Struct, frozen=True):
    """What the model decided in one micro-turn: ``action`` is ``silent``, ``speak`` or
    ``delegate``; ``text`` what it says (speak) or asks the back end (delegate); ``final``
    ends its utterance; ``interrupt`` asks the graph to stop what is being said (the
    model yields the floor: an ``Interrupt`` on every output, back-end requests included);
    ``retract`` stops only what is being said (the model corrects itself: an ``Interrupt``
    on the ``text`` output alone); ``turn`` is the latest turn the step took when it took
    more than the one passed to ``step`` (coalesced)."""

    action: str
    text: str = ""
    final: bool = False
    interrupt: bool = False
    retract: bool = False
    turn: FusedTurn | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class ModelSession(Protocol):
    async def step(self, turn: FusedTurn) -> StepOutput | list[StepOutput] | None: ...

    def interrupt(self) -> None:
        """Barge-in (synchronous, must not block): drop what was not spoken yet."""

    def add_result(self, result: BackendResult) -> None:
        """A back-end result, to weave into the conversation at a later step."""

    async def close(self) -> None: ...

    def statistics(self) -> dict[str, Any]: ...

    # Optional, for models with replies due at a time of their own (timers):
    # ``next_due() -> int | None`` (media time, ns) and ``fire(now) -> list[StepOutput]``.
    # The node sleeps until ``next_due()`` and calls ``fire`` then, between micro-turns.
    # And ``drain() -> list[StepOutput]``: at the end of input, what is still to be said.
    # And ``skills``: a list of objects with a ``name`` and ``examples() -> tuple[str, ...]``
    # (phrases a user can say to it), announced once at the start as an ``Action`` of kind
    # ``skills`` (the reflex session's skills are such).


class FrontEndModel(Protocol):
    Options: type[msgspec.Struct]

    @classmethod
    async def open(cls, options: Any, context: SessionContext) -> ModelSession: ...


#: Model names usable as ``with.model``: a class or a lazy ``"module:Class"`` path.
MODELS: dict[str, type[FrontEndModel] | str] = {
    "torch": "nodes.frontend.torch_model:TorchModel",
    "reflex": "nodes.reflex.model:ReflexModel",
}


MODEL_GROUP = "microturn.models"


def model_class(name: str) -> type[FrontEndModel]:
    """The model registered as ``name`` (``MODELS``, then the ``microturn.models`` entry
    points); ``KeyError`` naming the known ones."""
    entry = MODELS.get(name)
    if entry is None:
        declared = [ep for ep in entry_points(group=MODEL_GROUP) if ep.name == name]
        if not declared:
            known = sorted({*MODELS, *(ep.name for ep in entry_points(group=MODEL_GROUP))})
            raise KeyError(f"unknown front-end model {name!r}; known: {', '.join(known)}")
        entry = declared[0].value
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        try:
            loaded = getattr(importlib.import_module(module.strip()), attr.strip())
        except (ImportError, AttributeError) as exc:
            raise KeyError(f"front-end model {name!r} ({entry}) failed to import: "
                           f"{type(exc).__name__}: {exc}") from exc
        entry = MODELS[name] = loaded
    return entry


def model_names() -> list[str]:
    """Every model a graph may name: the built-in ones and the packages'."""
    return sorted({*MODELS, *(ep.name for ep in entry_points(group=MODEL_GROUP))})


def heard_text(turn: FusedTurn) -> str:
    """The user text of a turn (its TEXT positions), decoded from bytes."""
    n = turn.length - turn.output_slots
    mod = turn.modality[:n]
    has_id = (mod == Modality.TEXT) | (mod == Modality.MARKER)
    is_text = mod[has_id] == Modality.TEXT
    data = np.asarray(turn.tokens[: int(has_id.sum())])[is_text]
    return bytes(data.astype(np.uint8)).decode("utf-8", errors="replace")
