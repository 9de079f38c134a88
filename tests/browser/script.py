"""A scripted graph for the browser tests: typed commands make a node send exactly the
protocol messages a test needs, so that nothing depends on speech recognition or timing."""

from __future__ import annotations

from flow import MS, Event, Graph, In, Message, Node, Out, TextDelta
from nodes.types import Action


class Script(Node):
    """Typed ``command argument`` -> protocol messages: ``say``, ``open`` (a reply that is
    not final), ``partial`` (a partial hypothesis heard), ``interrupt``, ``delegate``,
    ``backend`` (a back end's answer), ``metrics``, ``crash`` (the node fails); anything
    else comes back as heard."""

    text: In[TextDelta]
    out: Out[Message]

    async def on_text(self, msg: TextDelta) -> None:
        cmd, _, arg = msg.text.partition(" ")
        now = self.now()
        if cmd == "crash":
            raise RuntimeError("boom: simulated model failure")
        if cmd == "say":
            await self.out.send(Action(pts=now, kind="speak", text=arg, reaction=250 * MS))
            await self.out.send(TextDelta(pts=now, text=arg, role="model", final=True))
        elif cmd == "open":
            await self.out.send(TextDelta(pts=now, text=arg, role="model", final=False))
        elif cmd == "partial":
            await self.out.send(TextDelta(pts=now, text=arg, role="user", final=False))
        elif cmd == "interrupt":
            await self.interrupt(arg or "barge-in")
        elif cmd == "delegate":
            await self.out.send(Action(pts=now, kind="delegate", text=arg, reaction=300 * MS,
                                       data={"skill": "delegate", "request_id": 1}))
        elif cmd == "backend":
            await self.out.send(Action(pts=now, kind="speak", text=arg, reaction=1960 * MS,
                                       data={"skill": "backend", "request": 1}))
            await self.out.send(TextDelta(pts=now, text=arg, role="model", final=True))
        elif cmd == "metrics":
            await self.out.send(Event(pts=now, kind="metrics",
                                      data={"tick_late_ms": 3.5, "missed": 2}))
        else:
            await self.out.send(TextDelta(pts=now, text=msg.text, role="user", final=True))


def script_graph() -> Graph:
    return Graph.build("script", {
        "typed": ("webrtc.text_in", {}),
        "script": (Script, {}),
        "speaker": ("webrtc.audio_out", {}),
        "events": ("webrtc.events_out", {}),
    }, ["typed.text -> script.text", "script.out -> events.events"])

