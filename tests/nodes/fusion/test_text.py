"""Byte-level text: which deltas count, the per-turn cap, carry-over and the bound."""

from __future__ import annotations

import pytest

from flow import TextDelta
from nodes.fusion.text import TextQueue, turn_text
from nodes.types import Heard


def test_text_is_its_utf8_bytes_and_finals_end_with_newline() -> None:
    deltas = [TextDelta(text="hé"), TextDelta(text="llo", final=True), TextDelta(text="ok")]
    assert turn_text(deltas) == "héllo\nok".encode()
    assert list(turn_text([TextDelta(text="A")])) == [65]


def test_partial_hypotheses_of_a_recogniser_are_left_out() -> None:
    heard = [Heard(text="hel"), Heard(text="hello wor"), Heard(text="hello world", final=True)]
    assert turn_text(heard) == b"hello world\n"


def test_queue_caps_each_turn_and_carries_the_rest() -> None:
    q = TextQueue(max_bytes=4, max_pending=100)
    q.add(b"abcdefghij")
    assert [q.take(), q.take(), q.take(), q.take()] == [b"abcd", b"efgh", b"ij", b""]
    assert q.dropped == 0


def test_a_cut_falls_on_a_character_boundary() -> None:
    q = TextQueue(max_bytes=4, max_pending=100)
    q.add("ab€c".encode())  # € is 3 bytes: 'ab' + 3 > 4
    assert q.take() == b"ab"
    assert q.take() == "€c".encode()
    q = TextQueue(max_bytes=2, max_pending=100)
    q.add("€".encode())  # a character longer than a turn is still carried whole, in parts
    assert q.take() + q.take() == "€".encode()


def test_the_queue_is_bounded_and_drops_the_oldest_whole_characters() -> None:
    q = TextQueue(max_bytes=8, max_pending=10)
    q.add(b"0123456789")
    q.add(b"abc")  # 3 more bytes: the 3 oldest go
    assert q.dropped == 3 and len(q) == 10
    q = TextQueue(max_bytes=8, max_pending=10)
    q.add("€abcdefg".encode())  # 10 bytes, the euro sign (3 bytes) first
    q.add(b"z")  # dropping 1 byte would split the euro sign: the whole sign goes
    assert q.dropped == 3
    assert q.take() == b"abcdefgz"


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        TextQueue(max_bytes=10, max_pending=5)
