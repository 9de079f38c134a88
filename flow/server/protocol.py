"""The data-channel protocol between the browser and a served graph.

The client opens one ordered data channel named ``events``; both sides send JSON objects
on it, one per message, tagged by ``type`` and carrying the protocol version ``v``.
Client to server: ``text``, ``ping``. Server to client: ``hello``, ``heard``, ``said``, ``action``,
``metrics``, ``graph`` and ``error``. The full description is ``docs/protocol.md``.

Decoding a client's message is strict (unknown fields and unknown types are errors) and
size-limited before parsing, so a hostile client costs at most ``max_bytes`` of parsing
per message. Decoding a server's message is lenient, as the versioning rule asks of
clients: new types and fields may come within a version.
"""

from __future__ import annotations

import typing
from typing import Any

import msgspec

#: Bumped on any incompatible change; a message with another version is refused.
VERSION = 1
CHANNEL = "events"
#: Default limit on one client message (bytes of UTF-8 JSON).
MAX_MESSAGE_BYTES = 4096


class _Msg(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type",
           kw_only=True, omit_defaults=False):
    v: int = VERSION


# -- client -> server --------------------------------------------------------------------

class Text(_Msg, frozen=True, tag="text"):
    """Something the user typed."""

    text: str


class Ping(_Msg, frozen=True, tag="ping"):
    """Keep-alive: a client with nothing to send pings so the idle timeout spares it."""


ClientMessage = Text | Ping


# -- server -> client --------------------------------------------------------------------

class Hello(_Msg, frozen=True, tag="hello"):
    """First message on the channel: which session and graph this is."""

    session: str
    graph: str


class Heard(_Msg, frozen=True, tag="heard"):
    """What the graph heard (a recogniser's words, or text the user typed).
    ``final=False`` is a partial hypothesis the next ``heard`` may revise."""

    text: str
    final: bool = True
    start_ms: float | None = None
    end_ms: float | None = None


class Said(_Msg, frozen=True, tag="said"):
    """Text the model is saying; deltas until ``final``."""

    text: str
    final: bool = False


class Action(_Msg, frozen=True, tag="action"):
    """A decision or event of the graph (``speak``, ``delegate``, a tool result...)."""

    kind: str
    text: str = ""
    turn: int | None = None
    reaction_ms: float | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class Metrics(_Msg, frozen=True, tag="metrics"):
    """The micro-turn meter: tick lateness and the reaction time of the last reply."""

    tick_late_ms: float | None = None
    reaction_ms: float | None = None
    missed: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class EdgeView(msgspec.Struct, frozen=True):
    name: str
    policy: str
    depth: int
    capacity: int
    carried: int
    dropped: int
    flushed: int


class NodeView(msgspec.Struct, frozen=True):
    id: str
    type: str
    received: int
    sent: int


class GraphView(_Msg, frozen=True, tag="graph"):
    """The live graph, from the engine's statistics: each edge's depth and drops."""

    name: str
    media_time_ms: float
    nodes: list[NodeView]
    edges: list[EdgeView]


class Error(_Msg, frozen=True, tag="error"):
    """Something the server refused or could not do; ``code`` is stable, ``message`` human."""

    code: str
    message: str


ServerMessage = Hello | Heard | Said | Action | Metrics | GraphView | Error


class ProtocolError(ValueError):
    """A client message that cannot be accepted; ``code`` goes into the ``error`` reply."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


_client_decoder = msgspec.json.Decoder(ClientMessage)
_encoder = msgspec.json.Encoder()


def decode_client(data: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> ClientMessage:
    """Parse one client message, or raise ``ProtocolError`` (too big, bad JSON, unknown
    type or field, wrong version)."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ProtocolError("too_big", f"message of {len(raw)} bytes exceeds {max_bytes}")
    try:
        msg: ClientMessage = _client_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise ProtocolError("bad_message", str(exc)) from None
    if msg.v != VERSION:
        raise ProtocolError("bad_version",
                            f"protocol version {msg.v} is not supported (server speaks {VERSION})")
    return msg


_SERVER_TYPES: dict[str, type[Any]] = {
    m.__struct_config__.tag: m for m in typing.get_args(ServerMessage)}


def decode_server(data: str | bytes) -> ServerMessage | None:
    """Parse one server message (for Python clients and tests) as a client of this
    version should (docs/protocol.md, "Versioning"): a type it does not know is None (to
    be ignored), fields it does not know are dropped. ``msgspec.DecodeError`` for what
    is not a message at all (not a JSON object, no known ``type``'s fields)."""
    raw = msgspec.json.decode(data)
    if not isinstance(raw, dict):
        raise msgspec.ValidationError("a server message is a JSON object")
    cls = _SERVER_TYPES.get(raw.get("type"))  # type: ignore[arg-type]
    if cls is None:
        return None
    known = {*cls.__struct_fields__, "type"}
    msg: ServerMessage = msgspec.convert({k: v for k, v in raw.items() if k in known}, cls)
    return msg


def encode(msg: _Msg) -> str:
    return _encoder.encode(msg).decode()


def encode_client(msg: ClientMessage) -> str:
    return encode(msg)
