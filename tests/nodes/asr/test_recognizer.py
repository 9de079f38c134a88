"""The streaming recogniser on generated speech: words, amounts, partials, finals, grammar
changes. Synchronous: the recogniser is sans-IO apart from the decoder itself."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nodes.asr import espeak_model
from nodes.asr.grammar import build_grammar
from nodes.asr.numbers import find_numbers
from nodes.asr.recognizer import EnergyVad, Recognizer

from .conftest import CHUNK, PERIOD, RATE, timeline


def decode(rec: Recognizer, audio: np.ndarray) -> list:
    out = []
    for k in range(len(audio) // CHUNK):
        out += rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
    return out + rec.flush()


@pytest.fixture(scope="module")
def scenario() -> Recognizer:
    return Recognizer(jsgf=build_grammar())


@pytest.mark.parametrize(("text", "amount"), [
    ("no wait it was thirty dollars", 30),
    ("sixty two dollars", 62),
    ("a hundred and five dollars", 105),
])
def test_amounts_are_heard(scenario: Recognizer, text: str, amount: int) -> None:
    finals = [h for h in decode(scenario, timeline(0.4, text, 0.6)) if h.final]
    assert len(finals) == 1
    words = finals[0].text.split()
    assert [s.value for s in find_numbers(words) if words[s.end:s.end + 1] == ["dollars"]] \
        == [amount]


@pytest.mark.parametrize("text", ["we saw a sheep and a dog near the farm",
                                  "then i saw a deer"])
def test_an_article_is_heard_with_its_animal(text: str) -> None:
    """The glue has no lone "a" (docs/ears.md, twentieth round): "a" comes with an animal,
    a word that is its own singular ("a sheep") included, or with a number. With the model
    adapted to espeak, as the shipped graphs hear espeak speech."""
    rec = Recognizer(jsgf=build_grammar(), acoustic_model=str(espeak_model.ensure()),
                     beam=1e-80)
    (final,) = [h for h in decode(rec, timeline(0.4, text, 0.6)) if h.final]
    assert final.text == text


def test_command_phrase_words_and_times(scenario: Recognizer) -> None:
    audio = timeline(0.4, "start the stopwatch", 0.6)
    (final,) = [h for h in decode(scenario, audio) if h.final]
    assert final.text == "start the stopwatch"
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    t_first, t_last = loud[0] * 10**9 // RATE, loud[-1] * 10**9 // RATE
    assert [w.text for w in final.words] == ["start", "the", "stopwatch"]
    assert abs(final.words[0].start - t_first) < 100_000_000  # within 100 ms
    assert abs(final.words[-1].end - t_last) < 100_000_000
    assert final.start <= final.words[0].start and final.words[-1].end <= final.end


def test_partials_each_micro_turn_then_a_final_at_the_pause(scenario: Recognizer) -> None:
    audio = timeline(0.4, "start the stopwatch", 1.0, "stop", 0.6)
    per_turn = [scenario.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
                for k in range(len(audio) // CHUNK)]
    finals = [(k, h) for k, hs in enumerate(per_turn) for h in hs if h.final]
    assert [h.text for _, h in finals] == ["start the stopwatch", "stop"]
    first_final_turn = finals[0][0]
    opened = next(k for k, hs in enumerate(per_turn) if hs)
    # Every micro-turn between the utterance's start and its final has a partial.
    for k in range(opened, first_final_turn):
        assert [h.final for h in per_turn[k]] == [False], k
    # The final comes within two micro-turns of the end of the speech.
    end_of_speech = finals[0][1].words[-1].end
    assert (first_final_turn + 1) * PERIOD - end_of_speech <= 2 * PERIOD
    # Each hypothesis says when it was made (``at``): the end of the audio fed by then. A
    # partial's is the end of what it decoded; a final's is the end of the micro-turn
    # that completed the pause, past the little of the pause it keeps (``end``).
    for k, hs in enumerate(per_turn):
        for h in hs:
            assert h.at == (k + 1) * PERIOD, (k, h.text)
            assert h.at == h.end or (h.final and h.at > h.end), (k, h.text)


def test_grammar_change_takes_effect_at_the_next_utterance() -> None:
    rec = Recognizer(jsgf=build_grammar(phrases=["start the stopwatch"], number_contexts=[],
                                        words=[], fillers=["okay"]))
    before = [h.text for h in decode(rec, timeline(0.4, "hello computer", 0.6)) if h.final]
    assert "hello computer" not in before
    rec.set_grammar(build_grammar(phrases=["start the stopwatch", "hello computer"],
                                  number_contexts=[], words=[], fillers=["okay"]))
    after = [h.text for h in decode(rec, timeline(0.4, "hello computer", 0.6)) if h.final]
    assert after == ["hello computer"]


def test_switching_back_to_a_grammar_reuses_its_compiled_search() -> None:
    """A dialog goes back and forth between a few grammars (a stopwatch idle / running):
    compiling one takes most of a second, so a switch back is only an activation."""
    idle = build_grammar(phrases=["start the stopwatch"], number_contexts=[], words=[],
                         fillers=["okay"])
    running = build_grammar(phrases=["stop", "stop the stopwatch"], number_contexts=[],
                            words=[], fillers=["okay"])
    rec = Recognizer(jsgf=idle)
    for g in (running, idle, running, idle):
        rec.set_grammar(g)
    assert rec.grammars_compiled == 2  # each once
    heard = [h.text for h in decode(rec, timeline(0.4, "start the stopwatch", 0.6)) if h.final]
    assert heard == ["start the stopwatch"]


def test_digital_silence_and_a_faint_floor_are_not_speech() -> None:
    rec = Recognizer(jsgf=build_grammar())
    quiet = np.random.default_rng(1).normal(0, 0.001, RATE * 3).astype(np.float32)
    assert decode(rec, np.zeros(RATE * 2, np.float32)) == []
    assert decode(rec, quiet) == []


def test_energy_vad_follows_a_steady_background() -> None:
    vad = EnergyVad()
    hum = (0.02 * np.sin(np.arange(480) / 3) * 32767).astype(np.int16)
    first = vad.is_speech(hum)
    for _ in range(400):
        vad.is_speech(hum)
    assert first and not vad.is_speech(hum)
    assert vad.is_speech(hum * 8)


def test_only_16_khz() -> None:
    with pytest.raises(ValueError, match="16000 Hz"):
        Recognizer(jsgf=build_grammar(), sample_rate=8000)


def test_noise_bursts_that_match_nothing_end_quietly() -> None:
    """Regression: a burst of noise leaves the grammar search without any path to its end;
    the decoder then has no segmentation at all, which must not be an error."""
    rec = Recognizer(jsgf=build_grammar())
    rng = np.random.default_rng(2)
    for n in (1600, 3200, 1600, 3200):
        burst = rng.normal(0, 0.3, n).astype(np.float32)
        audio = np.concatenate((np.zeros(CHUNK, np.float32), burst, np.zeros(RATE, np.float32)))
        hyps = decode(rec, np.pad(audio, (0, -len(audio) % CHUNK)))
        assert all(isinstance(h.text, str) for h in hyps)
        assert not rec.in_utterance


def test_without_a_grammar_feeding_speech_says_what_is_missing() -> None:
    rec = Recognizer()
    with pytest.raises(RuntimeError, match="set_grammar"):
        decode(rec, timeline(0.4, "stop", 0.6))


def test_open_vocabulary_decodes_without_a_grammar() -> None:
    rec = Recognizer(open_vocabulary=True)
    finals = [h for h in decode(rec, timeline(0.4, "start the stopwatch", 0.6)) if h.final]
    assert len(finals) == 1 and finals[0].words  # words; which ones, the open model guesses


def test_a_partial_tells_an_amount_once_two_looks_agree(scenario: Recognizer) -> None:
    """The unit word ("dollars") and what follows it are held back until two looks at the
    best path (here: successive partials) have it at the same place; "dollar" and
    "dollars" count as the same; other words are not held back."""
    from nodes.asr.recognizer import Word

    scenario.reset()
    scenario._last_path = []

    def partial(*texts: str) -> list[str]:
        words = [Word(t, i * 10, i * 10 + 10) for i, t in enumerate(texts)]
        return [w.text for w in scenario._confirmed(words)]

    assert partial("it", "cost", "three") == ["it", "cost", "three"]
    assert partial("it", "cost", "three", "dollar") == ["it", "cost", "three"]
    assert partial("it", "cost", "three", "hundred", "dollars") == \
        ["it", "cost", "three", "hundred"]
    assert partial("it", "cost", "three", "hundred", "dollars", "for") == \
        ["it", "cost", "three", "hundred", "dollars", "for"]
    assert partial("it", "cost", "three", "hundred", "dollar", "for", "lunch") == \
        ["it", "cost", "three", "hundred", "dollar", "for", "lunch"]
    assert partial("it", "cost", "three", "hundred", "dollar", "four", "dollar") == \
        ["it", "cost", "three", "hundred", "dollar", "four"]


def test_partials_tell_only_the_amount_said(scenario: Recognizer) -> None:
    """On speech: every partial that has an amount has the right one, and the first comes
    no later than 400 ms after the end of the speech."""
    audio = timeline(0.4, "i paid three hundred and twenty six dollars for lunch", 0.8)
    per_turn = [scenario.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
                for k in range(len(audio) // CHUNK)] + [scenario.flush()]
    said = [(k, s.value) for k, hs in enumerate(per_turn) for h in hs
            for s in find_numbers(h.text.split())
            if h.text.split()[s.end:s.end + 1] == ["dollars"]]
    assert said and {v for _, v in said} == {326}
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    end_of_speech = loud[-1] / RATE
    assert (said[0][0] + 1) * 0.2 - end_of_speech <= 0.4


def test_amount_units_of_a_grammar() -> None:
    from nodes.asr.grammar import amount_units

    assert amount_units(build_grammar()) == {"dollar", "dollars"}
    assert amount_units(build_grammar(number_contexts=["euros"])) == {"euros"}
    assert amount_units(build_grammar(number_contexts=[], phrases=["stop"])) == frozenset()


def test_words_the_grammar_lacks_are_heard_as_unheard_with_the_garbage_loop() -> None:
    """With the model adapted to espeak speech (on these voices the loop costs nothing:
    docs/ears.md, thirteenth round)."""
    from nodes.asr import espeak_model
    from nodes.asr.grammar import GARBAGE, UNHEARD

    chatter = timeline(0.4, "my sister went to the shop this morning", 0.6)
    model = str(espeak_model.ensure())
    plain, loop = (Recognizer(jsgf=build_grammar(garbage=g), acoustic_model=model, beam=1e-80)
                   for g in (0, 0.01))
    (without,) = [h for h in decode(plain, chatter) if h.final]
    (with_loop,) = [h for h in decode(loop, chatter) if h.final]
    assert UNHEARD not in without.text.split()  # the nearest words the grammar has
    words = with_loop.text.split()
    assert UNHEARD in words and not set(words) & set(GARBAGE)
    assert (UNHEARD, UNHEARD) not in set(itertools.pairwise(words))  # one per run
    unheard = [w for w in with_loop.words if w.text == UNHEARD]
    assert all(w.end > w.start for w in unheard)
    # what the grammar has is heard as before
    said = timeline(0.4, "it cost twenty dollars for lunch", 0.6)
    assert [h.text for h in decode(loop, said) if h.final] == \
        [h.text for h in decode(plain, said) if h.final] == ["it cost twenty dollars for lunch"]
