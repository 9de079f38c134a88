"""``sink.events``: one JSON object per line for every message received, for replay and
analysis.

Each line is the message's fields (msgspec's JSON of the Struct) plus ``"type"`` (the
message class name) and ``"at"`` (media time, ns, when the sink received it: ``at - pts``
is the latency through the graph). Arrays are summarised, not dumped: ``{"shape": [3200],
"dtype": "float32"}``; nested messages (a chunk's video frames) likewise. Interrupts are
written when they arrive (out of band). ``path: "-"`` writes to stdout. Lines are written as
messages come, so memory stays flat and a crashed session still leaves its log.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO

import msgspec
import numpy as np

from flow import In, Interrupt, Message, Node, ParamError


class EventsSinkParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    path: str = "-"  #: a .jsonl file, or "-" for stdout


def _summarise(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return {"shape": list(obj.shape), "dtype": str(obj.dtype)}
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):  # a torch tensor, without torch
        return {"shape": list(obj.shape), "dtype": str(obj.dtype)}
    raise NotImplementedError(f"cannot write {type(obj).__name__} as JSON")


_encoder = msgspec.json.Encoder(enc_hook=_summarise)


def to_record(msg: Message, at: int) -> dict[str, Any]:
    """The JSON-ready dict written for ``msg``."""
    fields = msgspec.to_builtins(msg, enc_hook=_summarise)
    return {"type": type(msg).__name__, "at": at, **fields}


def encode(msg: Message, at: int) -> bytes:
    return _encoder.encode(to_record(msg, at)) + b"\n"


def _unwritable(path: str) -> str:
    """Why ``path`` cannot be written, or ""."""
    if os.path.isdir(path):
        return "a folder"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        return "no such folder"
    return "" if os.access(path if os.path.exists(path) else folder, os.W_OK) else \
        "not writable here"


def _open_text(path: str) -> TextIO:
    """Open the log (closed in teardown): a local open at setup does not stall cadence."""
    return open(path, "w", encoding="utf-8")


class EventsSink(Node):
    Params = EventsSinkParams
    events: In[Message] = In(fan_in=True, doc="any message")

    async def setup(self) -> None:
        path = self.params.path
        self.written = 0
        self._stream: TextIO | None = None
        self._close = path != "-"
        if path == "-":
            self._stream = sys.stdout
            return
        # Opened (and so emptied) only once the session is under way: a run that fails to
        # start leaves the last run's log as it was. Whether it can be written is said now.
        why = _unwritable(path)
        if why:
            raise ParamError(f"sink.events: {path}: cannot write it ({why})")

    def _open(self) -> TextIO:
        if self._stream is None:
            self._stream = _open_text(self.params.path)
        return self._stream

    async def on_events(self, msg: Message) -> None:
        self._write(msg)

    def on_interrupt(self, msg: Interrupt) -> None:
        self._write(msg)

    def _write(self, msg: Message) -> None:
        self._open().write(encode(msg, self.now()).decode())
        self.written += 1

    async def teardown(self) -> None:
        if getattr(self, "_close", False) and self.media_started:
            self._open()  # a run that said nothing leaves an empty log, not the last one's
        out = getattr(self, "_stream", None)
        if out is None:
            return
        if self._close:
            out.close()
        else:
            out.flush()
