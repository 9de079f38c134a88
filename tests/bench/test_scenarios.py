"""Scenario clips (bench/scenarios.py) and their scoring (bench/interaction_score.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench.interaction_score import PERIOD, score, segments
from bench.scenarios import HELD_OUT, KNOWN, SCENARIOS, Clip, Pause, S, Say, compose, make_clip
from nodes.asr.grammar import DEFAULT_FILLERS, DEFAULT_WORDS, vocabulary_words
from nodes.reflex.skills import BUILTIN

MS = 1_000_000
ROOT = Path(__file__).resolve().parents[2]


def fake_synth(text: str, **_: object) -> np.ndarray:
    """0.1 s of tone per word, with 20 ms of near-silence at each edge (as espeak has)."""
    tone = np.where(np.arange(1600 * len(text.split())) % 2, 0.3, -0.3).astype(np.float32)
    edge = np.full(320, 0.001, np.float32)
    return np.concatenate((edge, tone, edge))


def test_compose_knows_where_each_piece_is() -> None:
    c = compose([Say("it cost"), Say("twenty dollars", mark="amount", gap=0.1), Pause(0.5),
                 Say("stop", mark="stop")], voice="en-us", rate=160, noise_seed=1, lead=0.5,
                tail=1.0, synth=fake_synth)
    start, end = c.marks["amount"]
    assert start == (8000 + 3200 + 1600) * S // 16000  # lead, "it cost", the gap
    assert end - start == 3200 * S // 16000  # the edges below the speech level are cut
    assert c.marks["stop"][0] == end + S // 2 + 80 * MS  # the pause, then the default gap
    lead = c.audio[:8000]
    assert 0 < float(np.sqrt(np.mean(lead ** 2))) < 0.001  # a noise floor, not zeros
    assert c.audio.size == 8000 + 3200 + 1600 + 3200 + 8000 + 1280 + 1600 + 16000


@pytest.fixture(scope="module")
def clips() -> list[Clip]:
    return [make_clip(sc, i, seed=3) for sc in KNOWN for i in range(2)]


def test_clip_and_demo_texts_are_in_the_scenario_language(clips: list[Clip]) -> None:
    """Every word the clips (but chatter's) and the demo say is one the skills' grammar
    can recognise."""
    skills = [cls() for cls in BUILTIN.values()]
    known = vocabulary_words([p for s in skills for p in s.phrases],
                             [c for s in skills for c in s.number_contexts] + ["dollars"],
                             list(DEFAULT_WORDS), list(DEFAULT_FILLERS))
    for clip in clips:
        if clip.scenario == "chatter":
            continue  # talk outside the scenario language, on purpose (tested below)
        assert set(clip.text.split()) <= known, (clip.name, set(clip.text.split()) - known)
    demo = json.loads((ROOT / "examples" / "media" / "demo.json").read_text())
    for piece in demo["transcript"]:
        assert set(piece["text"].split()) <= known, piece


def test_ground_truth_is_consistent(clips: list[Clip]) -> None:
    for clip in clips:
        t = clip.truth
        assert 0 < t["trigger"] < clip.duration
        assert clip.held_out == (clip.voice in HELD_OUT)
        if clip.scenario == "stopwatch":
            assert t["elapsed"] == t["stopped"] - t["started"] > S
        if clip.scenario == "timer":
            assert t["due"] == t["trigger"] + t["seconds"] * S
            assert clip.duration >= t["due"] + 2 * S
        if clip.scenario == "bargein":
            assert t["onset"] > t["trigger"] + S
        if clip.scenario in ("count", "tally"):
            assert _counted(clip.text) == t["count"], clip.text
    again = make_clip(clips[0].scenario, 0, seed=3)
    assert (again.text, again.voice, again.rate) == (clips[0].text, clips[0].voice,
                                                     clips[0].rate)


def _counted(text: str) -> int:
    """What the count skill answers to ``text`` heard whole, one word every 300 ms."""
    from nodes.reflex.policy import ReflexPolicy, TurnInput
    from nodes.reflex.skills import Count
    from nodes.types import Heard

    words = tuple((w, i * 300 * MS, (i + 1) * 300 * MS) for i, w in enumerate(text.split()))
    heard = Heard(pts=0, text=text, final=True, start=0, end=words[-1][2], words=words)
    count = Count()
    count.confirm.enabled = False
    (reply,) = ReflexPolicy([count]).step(TurnInput(0, 0, 200 * MS, [heard]))
    return int(reply.text.split()[0])


def test_a_tally_says_numbers_and_is_not_in_the_full_run() -> None:
    tally = [make_clip("tally", i, seed=3) for i in range(6)]
    assert any(w in clip.text.split() for clip in tally for w in ("two", "three", "four",
                                                                   "five", "six", "seven"))
    assert "tally" not in SCENARIOS and "tally" in KNOWN
    with pytest.raises(ValueError, match=r"unknown scenario 'tallies'.*tally"):
        make_clip("tallies", 0)


def test_chatter_is_talk_for_no_skill_and_is_not_in_the_full_run() -> None:
    from nodes.asr.numbers import ONES, TEENS, TENS

    clips = [make_clip("chatter", i, seed=3) for i in range(8)]
    said = {w for clip in clips for w in clip.text.split()}
    for_a_skill = (set(DEFAULT_WORDS) | set(ONES + TEENS + TENS) |
                   {"dollars", "dollar", "stopwatch", "remind", "timer", "hundred", "thousand"})
    assert not said & for_a_skill
    assert not any(clip.text.startswith(("what", "how", "who", "when", "where", "why"))
                   for clip in clips)
    # most of it is words the ears' grammar lacks: what the ears must not turn into skills'
    assert len(said - vocabulary_words(fillers=DEFAULT_FILLERS)) > len(said) // 2
    assert all(clip.truth["trigger"] == clip.spans[-1][2] for clip in clips)
    assert "chatter" not in SCENARIOS and "chatter" in KNOWN


def test_chatter_is_right_when_nothing_is_said() -> None:
    clip = _clip("chatter", {"trigger": 2 * S}, [("my sister called me", S, 2 * S)])
    row = score(clip, {"out": _out(), "out_rate": 16000, "said": []})
    assert row["correct"] and row["extra"]["false_replies"] == 0
    got = {"out": _out((1.5, 2.5)), "out_rate": 16000,
           "said": [(1_400 * MS, "speak", "27 dollars is 24 euros 84.")]}
    row = score(clip, got)
    assert not row["correct"] and row["extra"]["false_replies"] == 1
    assert row["reaction_ms"] is None  # a false reply is not a reaction to anything


def _clip(scenario: str, truth: dict, spans: list) -> Clip:
    return Clip("x", scenario, "en-us", 160, False, np.zeros(16000 * 20, np.float32), "",
                truth, spans)


def _out(*replies: tuple[float, float]) -> np.ndarray:
    y = np.zeros(16000 * 20, np.float32)
    for a, b in replies:
        y[int(a * 16000):int(b * 16000)] = 0.2
    return y


def test_reaction_is_read_off_the_output_timeline() -> None:
    clip = _clip("currency", {"trigger": 2 * S, "amount": 20}, [("twenty dollars", S, 2 * S)])
    got = {"out": _out((0.5, 0.9), (2.3, 3.5)), "out_rate": 16000,
           "said": [(2_250 * MS, "speak", "20 dollars is 18 euros 40.")]}
    row = score(clip, got)
    assert row["correct"] and row["reaction_ms"] == 300.0
    got["said"].append((2_500 * MS, "speak", "Sorry, 25 dollars is 23 euros."))
    assert not score(clip, got)["correct"]  # a wrong amount said is wrong, even if fixed


def test_segments_join_short_gaps() -> None:
    y = _out((1.0, 1.5), (1.55, 2.0), (3.0, 3.2))
    assert segments(y, 16000) == [(S, 2 * S), (3 * S, 3_200 * MS)]


def test_bargein_stop_time() -> None:
    truth = {"trigger": 2 * S, "amount": 2000, "onset": 3_050 * MS}
    clip = _clip("bargein", truth, [("two thousand dollars", S, 2 * S)])
    got = {"out": _out((2.3, 3.3)), "out_rate": 16000, "interrupts": [3_250 * MS],
           "said": [(2_250 * MS, "speak", "2000 dollars is 1840 euros.")]}
    row = score(clip, got)
    assert row["extra"]["stop_ms"] == 250.0
    assert row["correct"]  # silent by 3.3 s: within a micro-turn of the end of 3.0-3.2
    got["out"] = _out((2.3, 3.5))
    assert not score(clip, got)["correct"]
    # An onset in the last few ms of a micro-turn: the next one is the first with voice.
    clip.truth["onset"] = 3_180 * MS
    got["out"] = _out((2.3, 3.55))
    assert score(clip, got)["correct"]
    assert PERIOD == 200 * MS
