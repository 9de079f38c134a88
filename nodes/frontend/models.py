"""The front end's model slot: a small interface and a registry of model names.

A model is a class with an ``Options`` Struct (its part of the node's parameters, under
``with.options``) and ``async open(options, context) -> ModelSession``. A ``ModelSession``
steps one conversation, one micro-turn at a time::

    class Echo:
        Options = NoOptions

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

    MODELS["echo"] = Echo  # or "package.module:Echo", imported when first used

``step`` returns ``None`` when the turn was merged into a step that an earlier call is
still waiting for (a batched model stepping a late turn together with the next one).
This module imports no torch: a graph using ``model: torch`` validates without it.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

import msgspec
import numpy as np

from flow import SessionContext
from nodes.types import BackendResult, FusedTurn, Modality


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


class FrontEndModel(Protocol):
    Options: type[msgspec.Struct]

    @classmethod
    async def open(cls, options: Any, context: SessionContext) -> ModelSession: ...


#: Model names usable as ``with.model``: a class or a lazy ``"module:Class"`` path.
MODELS: dict[str, type[FrontEndModel] | str] = {
    "torch": "nodes.frontend.torch_model:TorchModel",
    "reflex": "nodes.reflex.model:ReflexModel",
}


def model_class(name: str) -> type[FrontEndModel]:
    """The model registered as ``name``; ``KeyError`` naming the known ones."""
    try:
        entry = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown front-end model {name!r}; known: "
                       f"{', '.join(sorted(MODELS))}") from None
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = MODELS[name] = getattr(importlib.import_module(module), attr)
    return entry


def heard_text(turn: FusedTurn) -> str:
    """The user text of a turn (its TEXT positions), decoded from bytes."""
    n = turn.length - turn.output_slots
    mod = turn.modality[:n]
    has_id = (mod == Modality.TEXT) | (mod == Modality.MARKER)
    is_text = mod[has_id] == Modality.TEXT
    data = np.asarray(turn.tokens[: int(has_id.sum())])[is_text]
    return bytes(data.astype(np.uint8)).decode("utf-8", errors="replace")
