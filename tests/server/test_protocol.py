from pathlib import Path

import msgspec
import pytest

from flow.clock import Clock
from flow.server import protocol as p
from flow.server.peer import Peer
from flow.units import MS, S


def test_client_text_round_trip() -> None:
    data = p.encode_client(p.Text(text="hello"))
    assert msgspec.json.decode(data) == {"type": "text", "v": p.VERSION, "text": "hello"}
    assert p.decode_client(data) == p.Text(text="hello")


def test_ping_and_version_default() -> None:
    assert p.decode_client('{"type": "ping"}') == p.Ping()


@pytest.mark.parametrize(("data", "code"), [
    ('{"type": "text"}', "bad_message"),  # missing field
    ('{"type": "shout", "text": "x"}', "bad_message"),  # unknown type
    ('{"type": "text", "text": "x", "extra": 1}', "bad_message"),  # unknown field
    ('{"type": "text", "text": 5}', "bad_message"),
    ("not json", "bad_message"),
    ('{"type": "text", "text": "x", "v": 99}', "bad_version"),
    ('{"type": "heard", "text": "x"}', "bad_message"),  # a server message from a client
])
def test_bad_client_messages(data: str, code: str) -> None:
    with pytest.raises(p.ProtocolError) as err:
        p.decode_client(data)
    assert err.value.code == code


def test_size_checked_before_parsing() -> None:
    big = '{"type": "text", "text": "' + "x" * 5000 + '"}'
    with pytest.raises(p.ProtocolError) as err:
        p.decode_client(big, max_bytes=4096)
    assert err.value.code == "too_big"
    assert p.decode_client(big, max_bytes=8192).text == "x" * 5000


def test_server_messages_are_tagged_and_decodable() -> None:
    msgs = [p.Hello(session="s", graph="g"), p.Heard(text="hi", final=False, start_ms=1.0),
            p.Said(text="yes"), p.Action(kind="speak", reaction_ms=310.0),
            p.Metrics(tick_late_ms=1.5), p.Error(code="x", message="y"),
            p.GraphView(name="g", media_time_ms=5.0, nodes=[], edges=[
                p.EdgeView(name="a.out -> b.in", policy="block", depth=1, capacity=16,
                           carried=3, dropped=0, flushed=0)])]
    for m in msgs:
        text = p.encode(m)
        assert msgspec.json.decode(text)["v"] == p.VERSION
        assert p.decode_server(text) == m


def test_a_client_ignores_what_a_newer_server_adds_within_the_version() -> None:
    """docs/protocol.md, Versioning: new types and optional fields come within v1, and a
    client ignores what it does not know; the Python decoder must too."""
    assert p.decode_server('{"type": "said", "v": 1, "text": "hi", "final": true, '
                           '"voice": "en-us"}') == p.Said(text="hi", final=True)
    assert p.decode_server('{"type": "newthing", "v": 1, "x": 2}') is None
    with pytest.raises(msgspec.DecodeError):
        p.decode_server('[1, 2]')
    with pytest.raises(msgspec.DecodeError):
        p.decode_server('{"type": "said", "v": 1}')  # a known type without its fields


DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_the_documented_example_is_what_the_server_sends() -> None:
    """docs/protocol.md's example had fields in an order no server sends, and a reply the
    assistant never gives; each line must be a message exactly as the encoders write it
    (captured from the assistant graph)."""
    text = DOCS.read_text()
    example = text[text.index("## Example"):text.index("## Versioning")]
    lines = example.split("```")[1].strip().splitlines()
    assert [ln[:3] for ln in lines] == ["-> ", "<- ", "<- ", "<- ", "<- "]
    sent = p.decode_client(lines[0][3:])
    assert p.encode_client(sent) == lines[0][3:]
    replies = [p.decode_server(ln[3:]) for ln in lines[1:]]
    assert [p.encode(m) for m in replies] == [ln[3:] for ln in lines[1:]]
    assert [type(m) for m in replies] == [p.Heard, p.Action, p.Metrics, p.Said]
    heard, action, metrics, said = replies
    assert heard.text == sent.text and said.text == action.text and said.final
    assert metrics.reaction_ms == action.reaction_ms


class Channel:
    readyState = "open"
    bufferedAmount = 0

    def __init__(self) -> None:
        self.sent: list[str] = []

    def on(self, event: str, handler: object) -> None:
        pass

    def send(self, data: str) -> None:
        self.sent.append(data)


class Now(Clock):
    def __init__(self) -> None:
        self.t = 10 * S

    def now(self) -> int:
        return self.t


def test_error_replies_are_spaced_250_ms_apart() -> None:
    """What docs/protocol.md says of refused messages: two back to back get one reply (it
    said "at most four a second", as if four could come at once)."""
    clock = Now()
    peer = Peer(None, clock=clock)
    ch = Channel()
    peer.attach_channel(ch)
    peer.on_message("not json")
    peer.on_message("not json either")
    clock.t += 249 * MS
    peer.on_message("still not json")
    assert len(ch.sent) == 1 and peer.refused == 3
    clock.t += 1 * MS
    peer.on_message("and again")
    assert [p.decode_server(m).code for m in ch.sent] == ["bad_message", "bad_message"]


def test_what_the_graph_says_before_the_hello_waits_for_it() -> None:
    """The graph starts when the offer is answered; the channel opens later, and the
    session may still be setting up then. What a node sends meanwhile (the skills the
    front end announces) reaches the client after its hello, in order; at most
    ``EARLY_CAPACITY`` messages wait."""
    from flow.server.peer import EARLY_CAPACITY

    peer = Peer(None, clock=Now())
    peer.send(p.Action(kind="skills", data={"skills": []}))
    ch = Channel()
    peer.attach_channel(ch, p.Hello(session="s", graph="g"))
    peer.send(p.Said(text="hi", final=True))
    assert ch.sent == []
    peer.session_open()
    assert [p.decode_server(m) for m in ch.sent] == [
        p.Hello(session="s", graph="g"), p.Action(kind="skills", data={"skills": []}),
        p.Said(text="hi", final=True)]
    peer.send(p.Said(text="now", final=True))
    assert len(ch.sent) == 4

    flood = Peer(None, clock=Now())
    for i in range(EARLY_CAPACITY + 3):
        flood.send(p.Said(text=str(i)))
    ch = Channel()
    flood.attach_channel(ch, p.Hello(session="s", graph="g"))
    flood.session_open()
    texts = [m.text for m in map(p.decode_server, ch.sent[1:])]
    assert texts[0] == "3" and len(texts) == EARLY_CAPACITY and flood.send_dropped == 3
