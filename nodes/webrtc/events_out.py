"""``webrtc.events_out``: what the graph heard, said and decided, to the browser.

Accepts any message (fan-in) and sends the protocol message it maps to on the ``events``
data channel (``docs/protocol.md``):

- ``Heard`` (a recogniser's words) and user ``TextDelta``s -> ``heard``
- model/system ``TextDelta``s -> ``said``
- ``Action`` -> ``action`` (and a ``metrics`` update when it carries a reaction time)
- ``Event(kind="metrics", data={tick_late_ms, reaction_ms, missed, ...})`` -> ``metrics``
- any other ``Event`` -> ``action`` with the event's kind and data
- an ``Interrupt`` reaching the node -> ``action`` of kind ``interrupt``

Messages that map to nothing are ignored. Sending never blocks the graph: a browser that
stops reading loses events (counted by the peer), never cadence.
"""

from __future__ import annotations

from typing import Any

from flow import Event, In, Interrupt, Message, Node, TextDelta
from flow.server import protocol as p
from flow.units import MS

from ._common import peer_of


def _ms(ns: int | None) -> float | None:
    return None if ns is None else ns / MS


def to_protocol(msg: Message) -> list[Any]:
    """The protocol messages that ``msg`` becomes (often one, sometimes none)."""
    from nodes.types import Action, Heard

    if isinstance(msg, Heard):
        return [p.Heard(text=msg.text, final=msg.final, start_ms=_ms(msg.start),
                        end_ms=_ms(msg.end))]
    if isinstance(msg, TextDelta):
        if msg.role == "user":
            return [p.Heard(text=msg.text, final=msg.final, start_ms=_ms(msg.pts))]
        return [p.Said(text=msg.text, final=msg.final)]
    if isinstance(msg, Action):
        out: list[Any] = [p.Action(kind=msg.kind, text=msg.text, turn=msg.turn,
                                   reaction_ms=_ms(msg.reaction), data=msg.data)]
        if msg.reaction is not None:
            out.append(p.Metrics(reaction_ms=msg.reaction / MS))
        return out
    if isinstance(msg, Event):
        if msg.kind == "metrics":
            d = dict(msg.data)
            return [p.Metrics(tick_late_ms=d.pop("tick_late_ms", None),
                              reaction_ms=d.pop("reaction_ms", None),
                              missed=d.pop("missed", None), data=d)]
        return [p.Action(kind=msg.kind, data=msg.data)]
    return []


class WebRTCEventsOut(Node):
    events: In[Message] = In(fan_in=True)

    async def setup(self) -> None:
        self.peer = peer_of(self)

    async def on_events(self, msg: Message) -> None:
        for out in to_protocol(msg):
            self.peer.send(out)

    def on_interrupt(self, msg: Interrupt) -> None:
        self.peer.send(p.Action(kind="interrupt", text=msg.reason))
