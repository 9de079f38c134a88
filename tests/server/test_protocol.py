import msgspec
import pytest

from flow.server import protocol as p


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
