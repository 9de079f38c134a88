"""``sink.console``: a live, timestamped transcript of what was heard, said and done.

One line per thing, stamped with its media time::

    [00:03.2] heard: convert twenty dollars
    [00:03.9] said: That is about eighteen euros.
    [00:04.1] action: delegate "convert 20 USD to EUR"
    [00:05.0] event: result id=1
    [00:06.3] interrupt: barge-in

What each message becomes: ``Heard`` -> ``heard:`` (final hypotheses only; partial ones are
revised by the next and would only flicker); other ``TextDelta``s -> ``typed:`` (role
``user``), ``said:`` (role ``model``) or ``<role>:``, the deltas of one utterance gathered
into one line printed at its ``final`` delta (or when another line must be printed first,
or at the end); ``Action`` -> ``action:`` (``silent`` ones are skipped: there is one per
micro-turn; so is the front end's announcement of its ``skills``, suggestions for a
browser); ``Event`` -> ``event:``; ``Interrupt`` -> ``interrupt:``. Media (audio, video,
chunks) is not printed; any other message prints its type name.
"""

from __future__ import annotations

import sys
from typing import Literal, TextIO

import msgspec

from flow import AudioFrame, Event, In, Interrupt, Message, Node, TextDelta, VideoFrame

from .types import Action, Chunk, FusedTurn, Heard

_MEDIA = (AudioFrame, VideoFrame, Chunk, FusedTurn)


class ConsoleSinkParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    stream: Literal["stdout", "stderr"] = "stdout"

    def __post_init__(self) -> None:
        if self.stream not in ("stdout", "stderr"):
            raise ValueError(f"stream: expected 'stdout' or 'stderr', got {self.stream!r}")


def stamp(pts: int) -> str:
    """Media time as ``[mm:ss.d]`` (``[h:mm:ss.d]`` past an hour)."""
    tenths = max(pts, 0) // 100_000_000
    h, rest = divmod(tenths, 36_000)
    m, rest = divmod(rest, 600)
    s, d = divmod(rest, 10)
    return f"[{h}:{m:02d}:{s:02d}.{d}]" if h else f"[{m:02d}:{s:02d}.{d}]"


_LABELS = {"user": "typed", "model": "said"}


class ConsoleSink(Node):
    Params = ConsoleSinkParams
    events: In[Message] = In(fan_in=True, doc="any message")

    async def setup(self) -> None:
        self._stream: TextIO = sys.stdout if self.params.stream == "stdout" else sys.stderr
        #: role -> (pts of the first delta, text so far) of utterances not yet final
        self._open: dict[str, tuple[int, str]] = {}

    async def on_events(self, msg: Message) -> None:
        if isinstance(msg, Heard):
            if msg.final:
                self._line(msg.pts, "heard", msg.text)
        elif isinstance(msg, TextDelta):
            pts, text = self._open.pop(msg.role, (msg.pts, ""))
            text += msg.text
            if msg.final:
                self._line(pts, _LABELS.get(msg.role, msg.role), text)
            else:
                self._open[msg.role] = (pts, text)
        elif isinstance(msg, Action):
            if msg.kind not in ("silent", "skills"):  # skills: suggestions for a UI
                self._action(msg)
        elif isinstance(msg, Event):
            fields = " ".join(f"{k}={v}" for k, v in msg.data.items())
            self._line(msg.pts, "event", f"{msg.kind} {fields}".rstrip())
        elif not isinstance(msg, _MEDIA):
            self._line(msg.pts, type(msg).__name__, "")

    def _action(self, msg: Action) -> None:
        """``[00:05.2] speak "4 dollars is 3 euros 68." (currency, reaction 180 ms)``: the
        time shown is the trigger's (the end of the words that called for it) when known,
        and the reaction is from the trigger to the decision."""
        trigger = msg.data.get("trigger")
        at = trigger if isinstance(trigger, int) else msg.pts
        said = f' "{msg.text}"' if msg.text else ""
        notes = [str(msg.data["skill"])] if msg.data.get("skill") else []
        if msg.reaction is not None and isinstance(trigger, int):
            # an int: a reply decided a fraction of a millisecond early reads 0, not -0
            notes.append(f"reaction {round(msg.reaction / 1e6)} ms")
        extra = f" ({', '.join(notes)})" if notes else ""
        self._line(at, "action", f"{msg.kind}{said}{extra}")

    def on_interrupt(self, msg: Interrupt) -> None:
        self._line(msg.pts, "interrupt", msg.reason or "-")

    async def on_end(self) -> None:
        for role in list(self._open):
            pts, text = self._open.pop(role)
            self._line(pts, _LABELS.get(role, role), text)

    def _line(self, pts: int, label: str, text: str) -> None:
        # An utterance still open is printed, marked unfinished, before another line
        # interleaves it (or an interrupt cuts it off).
        for role in list(self._open):
            if label != _LABELS.get(role, role):
                start, partial = self._open.pop(role)
                self._write(start, _LABELS.get(role, role), partial.rstrip() + " …")
        self._write(pts, label, text)

    def _write(self, pts: int, label: str, text: str) -> None:
        self._stream.write(f"{stamp(pts)} {label}: {text}\n".replace(": \n", ":\n"))
        self._stream.flush()
