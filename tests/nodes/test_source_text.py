"""source.text: typed lines, optionally timed, sent at their media times."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from flow import MS, NodeFailed, ParamError, S, TextDelta
from flow.testing import run_node
from nodes.source_text import parse_line, parse_script

SCRIPT = """\
# a comment, then an untimed line at 0
hello
1.2s: convert twenty dollars
next line, one interval later

2500ms:   what about euros?
"""


def test_parse_line() -> None:
    assert parse_line("1.2s: convert twenty dollars") == (1_200 * MS, "convert twenty dollars")
    assert parse_line("800ms:hi") == (800 * MS, "hi")
    assert parse_line("no time: here") == (None, "no time: here")


def test_untimed_lines_follow_one_interval_apart() -> None:
    assert parse_script(SCRIPT, S) == [
        (0, "hello"), (1_200 * MS, "convert twenty dollars"),
        (2_200 * MS, "next line, one interval later"), (2_500 * MS, "what about euros?")]


def test_time_going_backwards_names_the_line() -> None:
    with pytest.raises(ParamError, match=r"t\.txt:2: time 1s is before the line above"):
        parse_script("2s: a\n1s: b\n", S, "t.txt")


def test_lines_are_sent_at_their_times(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(SCRIPT)
    r = run_node("source.text", {"path": str(path), "role": "user"})
    out: list[TextDelta] = r.outputs["text"]
    assert [(d.pts, d.text) for d in out] == parse_script(SCRIPT, S)
    assert all(d.final and d.role == "user" for d in out)
    assert r.times["text"] == [d.pts for d in out]


def test_fast_sends_at_once(tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text(SCRIPT)
    r = run_node("source.text", {"path": str(path), "pace": "fast", "interval": "200ms"})
    assert [d.pts for d in r.outputs["text"]] == [0, 1_200 * MS, 1_400 * MS, 2_500 * MS]
    assert r.times["text"] == [0, 0, 0, 0]


def test_stdin_lines_are_stamped_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("hi\n3s: later\n\nagain\n"))
    r = run_node("source.text", {"path": "-"})
    assert [(d.pts, d.text) for d in r.outputs["text"]] == [
        (0, "hi"), (3 * S, "later"), (3 * S, "again")]


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NodeFailed) as info:
        run_node("source.text", {"path": str(tmp_path / "none.txt")})
    assert str(info.value.exc) == f"source.text: {tmp_path / 'none.txt'}: no such file"
