"""bench/session.py: clips of one voice as one session, scored clip by clip."""

from __future__ import annotations

import numpy as np
import pytest

from bench import session
from bench.scenarios import RATE, Clip, generate
from nodes.asr import espeak_model
from nodes.types import Heard

from .usage import assert_refused

S = 1_000_000_000


def clip(text: str, seconds: float) -> Clip:
    return Clip("c", "count", "en-us", 160, False, np.zeros(int(seconds * RATE), np.float32),
                text, {}, [])


def heard(text: str, start: float) -> Heard:
    return Heard(pts=0, text=text, role="user", final=True, start=int(start * S),
                 end=int(start * S) + S)


def test_clips_follow_each_other_and_each_keeps_its_span() -> None:
    audio, spans = session.session_audio([clip("a", 1.0), clip("b", 0.5)])
    assert spans == [(0, S), (S, 3 * S // 2)]
    assert audio.size == 25600  # 1.5 s, padded to whole micro-turns (8 x 3200 samples)


def test_a_clip_is_right_when_the_finals_within_it_say_its_words() -> None:
    clips = [clip("we saw a dog", 2.0), clip("start the stopwatch", 2.0)]
    spans = [(0, 2 * S), (2 * S, 4 * S)]
    rows = session.score(clips, spans, [heard("we saw", 0.1), heard("a dog", 1.0),
                                        heard("start a stopwatch", 2.5)])
    assert [r["right"] for r in rows] == [True, False]
    assert [r["errors"] for r in rows] == [0, 1]
    assert session.tally(rows) == {"right": 1, "clips": 2, "wer": round(1 / 7, 4)}


def test_a_session_adapts_to_its_voice_and_is_heard() -> None:
    clips = generate("count", 2, 11, voices=["en-us"])
    audio, spans = session.session_audio(clips)
    finals, took, waited = session.hear(audio, espeak_model.ensure(), True, "3s")
    assert [r["right"] for r in session.score(clips, spans, finals)] == [True, True]
    assert len(took) >= 1 and all(t > 0 for t in took)
    assert waited and all(w == 0 for w in waited)  # on the virtual clock nothing waits


@pytest.mark.parametrize("argv, message", [
    (["--clips", "4", "--warm", "4"], "--clips must be more than --warm"),
    (["--scenarios", "weather"], "unknown scenario(s) weather"),
    (["--clock", "wall"], "invalid choice: 'wall'"),
])
def test_bad_arguments_are_named(argv: list[str], message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(session.main, argv, message, capsys)
