"""sink.console: a live, timestamped transcript."""

from __future__ import annotations

import numpy as np
import pytest

from flow import MS, AudioFrame, Event, Interrupt, S, TextDelta
from flow.testing import run_node
from nodes.sink_console import stamp
from nodes.types import Action, Heard


def test_stamp() -> None:
    assert stamp(3_200 * MS) == "[00:03.2]"
    assert stamp(61 * S + 950 * MS) == "[01:01.9]"
    assert stamp(3_725 * S) == "[1:02:05.0]"


def test_transcript_lines(capsys: pytest.CaptureFixture[str]) -> None:
    msgs = [
        TextDelta(pts=1_000 * MS, text="hello there", role="user", final=True),
        Heard(pts=3_200 * MS, text="convert twe", final=False),
        Heard(pts=3_300 * MS, text="convert twenty dollars", final=True),
        AudioFrame(pts=3_400 * MS, samples=np.zeros(320, np.float32), sample_rate=16_000),
        TextDelta(pts=3_900 * MS, text="That is ", role="model"),
        TextDelta(pts=4_000 * MS, text="about 18 euros.", role="model", final=True),
        Action(pts=4_100 * MS, kind="delegate", text="convert 20 USD to EUR"),
        Action(pts=4_300 * MS, kind="silent"),
        Event(pts=5_000 * MS, kind="result", data={"id": 1}),
        TextDelta(pts=6_000 * MS, text="Well, ", role="model"),
        Interrupt(pts=6_300 * MS, reason="barge-in"),
    ]
    run_node("sink.console", {}, inputs={"events": msgs}, pace="pts")
    assert capsys.readouterr().out.splitlines() == [
        "[00:01.0] typed: hello there",
        "[00:03.3] heard: convert twenty dollars",
        "[00:03.9] said: That is about 18 euros.",
        '[00:04.1] action: delegate "convert 20 USD to EUR"',
        "[00:05.0] event: result id=1",
        "[00:06.0] said: Well, …",
        "[00:06.3] interrupt: barge-in",
    ]


def test_open_utterance_is_printed_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    run_node("sink.console", {"stream": "stderr"},
             inputs={"events": [TextDelta(pts=0, text="unfinished", role="model")]})
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "[00:00.0] said: unfinished\n"


def test_action_lines_show_the_trigger_time_skill_and_reaction(
        capsys: pytest.CaptureFixture[str]) -> None:
    act = Action(pts=5_000 * MS, kind="speak", text="4 dollars is 3 euros 68.",
                 reaction=180 * MS, data={"trigger": 5_250 * MS, "skill": "currency"})
    run_node("sink.console", {}, inputs={"events": [act]})
    assert capsys.readouterr().out.splitlines() == [
        '[00:05.2] action: speak "4 dollars is 3 euros 68." (currency, reaction 180 ms)']


@pytest.mark.parametrize(("reaction", "shown"), [(-300_000, "0"), (-12 * MS, "-12"),
                                                 (1_600_000, "2")])
def test_a_reaction_is_whole_milliseconds_and_never_minus_zero(
        capsys: pytest.CaptureFixture[str], reaction: int, shown: str) -> None:
    """A reply decided a fraction of a millisecond before its trigger (the demo's timer
    printed "reaction -0 ms") reads 0 ms; earlier than that keeps its sign."""
    act = Action(pts=41_000 * MS, kind="speak", text="Twelve seconds are up.",
                 reaction=reaction, data={"trigger": 41_000 * MS, "skill": "timer"})
    run_node("sink.console", {}, inputs={"events": [act]})
    assert capsys.readouterr().out.splitlines() == [
        f'[00:41.0] action: speak "Twelve seconds are up." (timer, reaction {shown} ms)']
