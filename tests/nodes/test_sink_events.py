"""sink.events: one JSON line per message, arrays summarised."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from flow import (
    MS,
    Graph,
    Interrupt,
    Node,
    NodeFailed,
    Out,
    ParamError,
    TextDelta,
    VideoFrame,
)
from flow.testing import run_graph, run_node
from nodes.types import Chunk


def test_every_message_is_a_json_line(tmp_path: Path) -> None:
    video = VideoFrame(pts=20 * MS, image=np.zeros((48, 64, 3), np.uint8))
    chunk = Chunk(pts=200 * MS, index=1, period=200 * MS, audio=np.zeros(3200, np.float32),
                  sample_rate=16_000, video=(video,), text=(TextDelta(pts=250 * MS, text="x"),))
    msgs = [TextDelta(pts=100 * MS, text="hi", role="user", final=True), chunk]
    path = tmp_path / "events.jsonl"
    run_node("sink.events", {"path": str(path)}, inputs={"events": msgs}, pace="pts")
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"type": "TextDelta", "at": 100 * MS, "pts": 100 * MS, "text": "hi",
                        "role": "user", "final": True}
    c = lines[1]
    assert (c["type"], c["at"], c["index"]) == ("Chunk", 200 * MS, 1)
    assert c["audio"] == {"shape": [3200], "dtype": "float32"}
    assert c["video"][0]["image"] == {"shape": [48, 64, 3], "dtype": "uint8"}
    assert c["text"][0]["text"] == "x"


def test_interrupts_are_logged_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    run_node("sink.events", {}, inputs={"events": [Interrupt(pts=5, reason="barge-in")]})
    (line,) = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert (record["type"], record["reason"], record["pts"]) == ("Interrupt", "barge-in", 5)


class FailsToStart(Node):
    """A node whose setup fails: the session never gets under way."""

    out: Out[TextDelta]

    async def setup(self) -> None:
        raise ParamError("no microphone")


def test_a_run_that_never_started_leaves_the_last_log_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "TextDelta"}\n')
    graph = Graph.build("g", {"log": ("sink.events", {"path": str(path)}),  # set up first
                              "src": FailsToStart},
                        ["src.out -> log.events"])
    with pytest.raises(NodeFailed):
        run_graph(graph, {})
    assert path.read_text() == '{"type": "TextDelta"}\n'
    run_node("sink.events", {"path": str(path)}, inputs={"events": []})
    assert path.read_text() == ""  # a run that said nothing: an empty log, not the last one


@pytest.mark.parametrize(("where", "why"), [("", "a folder"), ("nowhere/e.jsonl",
                                                                "no such folder")])
def test_a_log_that_cannot_be_written_is_a_start_up_mistake(tmp_path: Path, where: str,
                                                            why: str) -> None:
    with pytest.raises(NodeFailed, match=f"cannot write it \\({why}\\)"):
        run_node("sink.events", {"path": str(tmp_path / where)}, inputs={"events": []})
