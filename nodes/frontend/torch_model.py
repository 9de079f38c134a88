"""``model: torch``: TinyDuplexLM (or a checkpoint of it) behind the front-end model slot.

Each conversation is a seat at the model's shared batched stepper (see ``stepper``): its
turns are stepped at the stepper's ticks, together with every other session's. torch is
imported when a session opens, not when this module is imported.
"""

from __future__ import annotations

import codecs
import os
from collections import deque
from typing import Any, Literal

import msgspec

from flow import ParamError, SessionContext
from nodes.models.tiny_duplex_config import ACTIONS, TinyDuplexConfig
from nodes.types import TEXT_BYTES, TOK_EOS, BackendResult, FusedTurn

from .models import StepOutput


class TorchOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    config: TinyDuplexConfig = TinyDuplexConfig()
    checkpoint: str | None = None  #: a state_dict file; None: seeded random init
    device: str = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    #: torch intra-op threads for the process (0: leave torch's setting). 1 by default: on
    #: a 2-core machine the event loop, tokenizer and speech need the other core, and
    #: intra-op threads that must share a core spin (measured 5-10x slower under load).
    threads: int = 1
    period_ms: int = 200  #: the stepper's tick (the micro-turn)
    phase_ms: int = 0  #: ticks at t0 + phase + k * period
    batched: bool = True  #: one forward for all sessions per tick (False: one each)
    max_pending: int = 8  #: turns a session may have waiting; older ones are dropped


class TorchModel:
    Options = TorchOptions
    #: what the front end node's check asks for (flow.Node.requires)
    requires = (("torch", "torch", "torch"),)

    @classmethod
    async def open(cls, options: TorchOptions, context: SessionContext) -> TorchSession:
        from .stepper import Stepper, shared_stepper, torch_threads

        _check_checkpoint(options.checkpoint)
        torch_threads(options.threads)
        stepper = context.services.get("frontend.stepper")
        if not isinstance(stepper, Stepper):
            key = (msgspec.json.encode(options.config), options.checkpoint, options.device,
                   options.dtype)
            stepper = shared_stepper(
                key, lambda: _load(options), context.clock,
                period=options.period_ms * 1_000_000, phase=options.phase_ms * 1_000_000,
                batched=options.batched, max_pending=options.max_pending)
        return TorchSession(stepper)


def _check_checkpoint(path: str | None) -> None:
    if path is not None and not os.path.isfile(path):
        raise ParamError(f"with.options.checkpoint: no such file: {path}")


def _load(options: TorchOptions) -> Any:
    import torch

    from nodes.models.tiny_duplex import TinyDuplexLM

    model = TinyDuplexLM.load(options.config, options.checkpoint, options.device)
    return model.to(getattr(torch, options.dtype))


class TorchSession:
    def __init__(self, stepper: Any) -> None:
        self.stepper = stepper
        self.seat = stepper.attach()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._last_future: Any = None
        self._speaking = False
        self.results: deque[BackendResult] = deque(maxlen=8)

    async def step(self, turn: FusedTurn) -> StepOutput | None:
        fut = self.seat.submit(turn)
        if fut is self._last_future:
            return None  # coalesced into the step an earlier call awaits
        self._last_future = fut
        res = await fut
        action = ACTIONS[res.action]
        text = self._decoder.decode(bytes(t for t in res.tokens if t < TEXT_BYTES))
        final = TOK_EOS in res.tokens
        yielded = self._speaking and action == "silent"
        self._speaking = action == "speak" and not final
        return StepOutput(action, text, final=final, interrupt=yielded, turn=res.turn,
                          data={"probs": [round(p, 4) for p in res.action_probs],
                                "coalesced": res.coalesced})

    def interrupt(self) -> None:
        self.seat.rewind_unspoken()
        self._speaking = False
        self._decoder.reset()

    def add_result(self, result: BackendResult) -> None:
        # The reference model has no learned use for results yet; kept for statistics and
        # for a real model's adapter to weave in as text tokens.
        self.results.append(result)

    async def close(self) -> None:
        self.stepper.detach(self.seat)

    def statistics(self) -> dict[str, Any]:
        return {"misses": self.seat.misses, "dropped": self.seat.dropped,
                "reprefills": self.seat.session.reprefills,
                "stepper": msgspec.to_builtins(self.stepper.statistics())}
