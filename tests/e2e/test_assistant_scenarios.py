"""The assistant end to end on generated speech: espeak-ng says the scenario, the WAV goes
through graphs/assistant.yaml (source.file -> chunker -> pocketsphinx ears and tokenizer ->
reflex front end <-> back end -> espeak -> sink.wav) and the reply is read off the output
timeline, exactly as bench/interaction.py scores it. Nothing is injected past the ears.

Each clip runs on a FakeClock: what is heard and said is what the real clock gives when the
machine keeps up, deterministically; compute costs no media time (the real-time figures are
bench/interaction.py's). Clips are in dev voices (bench/scenarios.py's DEV_VOICES), which
the ears hear right; accuracy over many voices is the benchmark's business, not a test's.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bench.interaction import GRAPH, run_clip
from bench.interaction_score import PERIOD, score, segments
from bench.scenarios import Clip, Composed, Pause, Say, compose
from flow.clock import Clock, FakeClock
from nodes.backend.node import PROVIDERS, BackEndParams
from nodes.types import DelegateRequest

S = 1_000_000_000
MS = 1_000_000
APOLOGY = "Sorry, I could not get an answer to that."


def make(scenario: str, parts: list[Say | Pause], truth: Callable[[Composed], dict[str, Any]],
         voice: str = "en-us", rate: int = 160, tail: float = 3.0) -> Clip:
    c = compose(parts, voice=voice, rate=rate, noise_seed=7, tail=tail)
    return Clip(f"{scenario}-e2e", scenario, voice, rate, False, c.audio, c.text, truth(c),
                c.spans)


def story(*sentences: str, count: int, question: str = "how many animals") -> Clip:
    """A count clip: the sentences with a pause after each, then the question "... so far"."""
    parts: list[Say | Pause] = [x for text in sentences for x in (Say(text), Pause(0.6))]
    return make("count", [*parts, Say(question, mark="question"), Say("so far", gap=0.05)],
                lambda c: {"trigger": c.marks["question"][1], "count": count})


def run(clip: Clip, tmp_path: Path, graph: Path = GRAPH) -> tuple[dict[str, Any], list[str]]:
    """The clip through the assistant: (its score, what the assistant said, in order)."""
    clock = FakeClock(deadlock_after=None)
    got = clock.run(run_clip(clip, tmp_path, graph, clock))
    return score(clip, got), [text for _, kind, text in got["said"] if kind == "speak"]


def counting(tmp_path: Path, setting: str) -> Path:
    """The assistant's graph with one more setting of its count skill."""
    text = GRAPH.read_text().replace("count: {category: animals}",
                                     f"count: {{category: animals, {setting}}}")
    assert setting in text
    graph = tmp_path / "counting.yaml"
    graph.write_text(text)
    return graph


def test_amounts_are_converted_while_the_user_talks(tmp_path: Path) -> None:
    clip = make("currency", [Say("it cost"), Say("a hundred and five dollars", mark="amount"),
                             Say("for lunch"), Pause(1.0), Say("i paid"),
                             Say("twenty dollars", mark="second"), Say("for the ticket")],
                lambda c: {"trigger": c.marks["amount"][1], "amount": 105})
    result, said = run(clip, tmp_path)
    assert "105 dollars is 96 euros 60." in said
    assert "20 dollars is 18 euros 40." in said
    assert not any(s.startswith("Sorry") for s in said)
    assert result["reaction_ms"] is not None and result["reaction_ms"] < 400


def test_animals_are_counted_exactly(tmp_path: Path) -> None:
    clip = story("we saw a dog near the farm", "there were a horse and a cow in the park",
                 count=3)
    result, said = run(clip, tmp_path)
    assert said == ["3 animals so far."]
    assert result["correct"]


def test_how_many_of_one_kind_is_counted_exactly(tmp_path: Path) -> None:
    """With ``count: {by_kind: true}`` the ears hear "how many dogs" (off by default: it
    costs accuracy on "how many animals" in unknown accents)."""
    graph = counting(tmp_path, "by_kind: true")
    clip = story("we saw a dog and a cat near the farm", "there was a dog in the park",
                 count=2, question="how many dogs")
    _, said = run(clip, tmp_path, graph)
    assert said == ["2 dogs so far."]


def test_answers_go_on_across_a_swap_to_ears_adapted_to_the_speaker(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``speaker_adaptation``: the ears adapt to the speaker after 3 s of speech here and
    swap the new model in between utterances; the story goes on being counted and the
    amount said after the swap is converted. (It adapts pocketsphinx's model, so the ears
    hear with the one adapted to espeak speech, as the assistant did before the phone
    network.)"""
    clip = story("we saw a dog near the farm", "there were a horse and a cow in the park",
                 "it cost forty two dollars", "then i saw a goat in the garden", count=4)
    clock = FakeClock(deadlock_after=None)
    with caplog.at_level(logging.INFO, logger="microturn"):
        got = clock.run(run_clip(clip, tmp_path, GRAPH, clock,
                                 {"acoustic_model": "espeak", "beam": 1e-80,
                                  "confirm_units": True, "speaker_adaptation": True,
                                  "adapt_every": "3s"}))
    said = [text for _, kind, text in got["said"] if kind == "speak"]
    assert "adapted to the speaker on" in caplog.text
    assert said == ["42 dollars is 38 euros 64.", "4 animals so far."]
    assert score(clip, got)["correct"]


def test_a_number_before_the_animals_is_counted(tmp_path: Path) -> None:
    """With ``count: {numbers: true}`` the ears hear "two dogs" (off by default: it costs
    CPU), and the count adds the number said."""
    graph = counting(tmp_path, "numbers: true")
    clip = story("we saw two dogs and a cat near the farm", "there were twelve sheep in the park",
                 count=15)
    result, said = run(clip, tmp_path, graph)
    assert said == ["15 animals so far."]
    assert result["correct"]


def test_a_correction_cuts_the_wrong_answer_short(tmp_path: Path) -> None:
    from nodes.espeak import synthesize

    clip = make("currency", [Say("it cost"), Say("twenty dollars", mark="amount"),
                             Say("no wait it was thirty dollars", gap=0.1), Say("for lunch")],
                lambda c: {"trigger": c.marks["amount"][1], "amount": 30}, rate=170, tail=4.0)
    clock = FakeClock(deadlock_after=None)
    got = clock.run(run_clip(clip, tmp_path, GRAPH, clock))
    (t1, _, first), (t2, _, second) = [s for s in got["said"] if s[1] == "speak"]
    assert (first, second) == ("20 dollars is 18 euros 40.", "Sorry, 30 dollars is 27 euros 60.")
    # the first answer was still being said when the correction came (graphs/assistant.yaml
    # speaks en-us at 175 words a minute): it stopped there, and the correction followed
    lengths = [synthesize(t, voice="en-us", rate=175, sample_rate=16000).size * S // 16000
               for t in (first, second)]
    assert t2 < t1 + lengths[0]
    runs = segments(got["out"], got["out_rate"])
    assert runs[-1][1] < runs[0][0] + sum(lengths) - PERIOD, (runs, lengths)


def test_stopwatch_is_right_within_a_micro_turn(tmp_path: Path) -> None:
    def truth(c: Composed) -> dict[str, Any]:
        started, stopped = c.marks["start"][1], c.marks["stop"][0]
        return {"trigger": c.marks["stop"][1], "started": started, "stopped": stopped,
                "elapsed": stopped - started}
    clip = make("stopwatch", [Say("start the stopwatch", mark="start"), Pause(2.0),
                              Say("we saw a dog near the farm", gap=0), Pause(1.5),
                              Say("stop", mark="stop", gap=0)], truth)
    result, said = run(clip, tmp_path)
    assert said[0] == "Stopwatch started."
    assert result["correct"], result
    assert abs(result["extra"]["error_ms"]) <= PERIOD / MS


def test_a_timer_fires_within_a_micro_turn_mid_conversation(tmp_path: Path) -> None:
    clip = make("timer", [Say("remind me in six seconds", mark="request"), Pause(3.0),
                          Say("and then we saw a cat in the park", gap=0)],
                lambda c: {"trigger": c.marks["request"][1], "seconds": 6,
                           "due": c.marks["request"][1] + 6 * S}, tail=5.0)
    result, said = run(clip, tmp_path)
    assert said == ["Timer set for six seconds.", "Six seconds are up."]
    assert result["correct"], result
    assert abs(result["extra"]["fire_error_ms"]) <= PERIOD / MS


def test_a_delegated_question_is_acknowledged_then_answered(tmp_path: Path) -> None:
    clip = make("delegation", [Say("what is eleven plus two", mark="question")],
                lambda c: {"trigger": c.marks["question"][1], "answer": 13,
                           "query": "what is eleven plus two"}, tail=5.0)
    result, said = run(clip, tmp_path)
    assert said[0] == "Let me check."
    assert "11 plus 2 is 13." in said
    assert result["correct"], result


def test_barge_in_silences_the_reply_within_a_micro_turn(tmp_path: Path) -> None:
    clip = make("bargein", [Say("it cost"), Say("four thousand six hundred and fifty dollars",
                                                mark="amount"),
                            Pause(1.2), Say("okay and then we saw a dog in the park",
                                            mark="bargein", gap=0)],
                lambda c: {"trigger": c.marks["amount"][1], "amount": 4650,
                           "onset": c.marks["bargein"][0]})
    result, said = run(clip, tmp_path)
    assert said[0].startswith("4650 dollars is")
    extra = result["extra"]
    assert extra["speaking_at_onset"] and extra["interrupted"], extra
    assert result["correct"], result  # silent within one micro-turn of the user's voice


class Stall:
    """A back end that never answers (its answer would take an hour)."""

    def __init__(self, params: BackEndParams, clock: Clock) -> None:
        self.clock = clock

    async def answer(self, request: DelegateRequest) -> AsyncIterator[str]:
        await self.clock.sleep(3600 * S)
        yield "too late"


class Broken:
    """A back end whose service fails."""

    def __init__(self, params: BackEndParams, clock: Clock) -> None:
        pass

    async def answer(self, request: DelegateRequest) -> AsyncIterator[str]:
        raise ConnectionError("503 from the provider")
        yield ""


@pytest.mark.parametrize(("provider", "cls"), [("stall", Stall), ("broken", Broken)])
def test_a_back_end_timeout_or_error_is_a_spoken_apology(
        provider: str, cls: type, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(PROVIDERS, provider, cls)
    text = GRAPH.read_text()
    assert "{provider: tools, timeout: 10s}" in text
    graph = tmp_path / "assistant.yaml"
    graph.write_text(text.replace("{provider: tools, timeout: 10s}",
                                  f"{{provider: {provider}, timeout: 2s}}"))
    clip = make("delegation", [Say("what is eleven plus two", mark="question")],
                lambda c: {"trigger": c.marks["question"][1], "answer": 13,
                           "query": "what is eleven plus two"}, tail=5.0)
    result, said = run(clip, tmp_path, graph)
    assert said[0] == "Let me check."
    assert APOLOGY in said
    assert "error" not in result  # the session ended normally
