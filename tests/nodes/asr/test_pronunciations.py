"""Pronunciations beyond the dictionary: accents' variants and a graph's own words, from
the rules to what the ears hear."""

from __future__ import annotations

import numpy as np
import pytest

from flow import FlowError
from flow.testing import run_node
from nodes import espeak
from nodes.asr import espeak_model
from nodes.asr.grammar import build_grammar
from nodes.asr.pronunciations import (
    check_accents,
    normalize_pronunciations,
    parse_phones,
    variants,
)
from nodes.asr.recognizer import Recognizer
from nodes.types import Chunk, Heard

from .conftest import CHUNK, PERIOD, RATE, chunks, fresh_speech, speech


def finals(rec: Recognizer, audio: np.ndarray) -> list[str]:
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), audio,
                            np.zeros(RATE, np.float32)])
    out = []
    for k in range(len(audio) // CHUNK):
        out += rec.feed(audio[k * CHUNK:(k + 1) * CHUNK], k * PERIOD)
    return [h.text for h in out + rec.flush() if h.final]


def test_h_dropping_drops_a_first_h_only() -> None:
    assert variants("how", ["HH AW"], ["h-dropping"]) == ["AW"]
    assert variants("horses", ["HH AO R S AH Z", "HH AO R S IH Z"], ["h-dropping"]) == \
        ["AO R S AH Z", "AO R S IH Z"]
    assert variants("behind", ["B IH HH AY N D"], ["h-dropping"]) == []
    assert variants("cat", ["K AE T"], ["h-dropping"]) == []
    assert variants("how", ["HH AW", "AW"], ["h-dropping"]) == []  # has it already
    assert variants("how", ["HH AW"], []) == []


def test_th_stopping_stops_every_th() -> None:
    assert variants("the", ["DH AH", "DH IY"], ["th-stopping"]) == ["D AH", "D IY"]
    assert variants("thirteen", ["TH ER T IY N"], ["th-stopping"]) == ["T ER T IY N"]
    assert variants("cat", ["K AE T"], ["th-stopping"]) == []


def test_whether_number_words_vary_is_the_accents_own() -> None:
    assert variants("hundred", ["HH AH N D R AH D"], ["h-dropping"]) == []
    assert variants("thousand", ["TH AW Z AH N D"], ["h-dropping", "th-stopping"]) == \
        ["T AW Z AH N D"]


def test_phones_are_checked_and_named() -> None:
    assert parse_phones("x", " m ay  K ") == "M AY K"
    with pytest.raises(ValueError, match=r"pronunciation of 'blorp' has 'XX', not a phone"):
        parse_phones("blorp", "B L XX")
    with pytest.raises(ValueError, match=r"pronunciation of 'blorp' is empty"):
        parse_phones("blorp", "  ")
    with pytest.raises(ValueError,
                       match=r"unknown accent 'cockney'; known: h-dropping, th-stopping"):
        check_accents(["h-dropping", "cockney"])


def test_a_graphs_pronunciations_in_one_shape() -> None:
    assert normalize_pronunciations({"Microturn": "m ay k r ow t er n",
                                     "tomato": ["T AH M EY T OW", "T AH M AA T OW"]}) == {
        "microturn": ("M AY K R OW T ER N",),
        "tomato": ("T AH M EY T OW", "T AH M AA T OW")}
    with pytest.raises(ValueError, match=r"one word, got 'two words'"):
        normalize_pronunciations({"two words": "T UW"})


def test_an_h_dropping_speaker_is_heard_with_the_accent_on() -> None:
    """espeak's West Midlands English drops the /h/ of "how": the dictionary's "how" needs
    one, so without the variant the grammar's nearest path is glue words."""
    model = str(espeak_model.ensure())
    audio = speech("how many animals so far", "en-gb-x-gbcwmd", 150)
    plain = Recognizer(jsgf=build_grammar(), acoustic_model=model, beam=1e-80, accents=())
    accent = Recognizer(jsgf=build_grammar(), acoustic_model=model, beam=1e-80,
                        accents=("h-dropping",))
    assert finals(plain, audio) != ["how many animals so far"]
    assert finals(accent, audio) == ["how many animals so far"]


def test_variants_follow_a_new_grammar() -> None:
    """"'ow are you" with the h dropped: the dictionary's nearest phrase is "are you"."""
    ph = espeak.phonemes("how are you", voice="en-us").replace("h", "")
    audio = fresh_speech(f"[[{ph}]]", phoneme_input=True)
    heard = []
    for accents in ((), ("h-dropping",)):
        rec = Recognizer(jsgf=build_grammar(phrases=("stop",), words=(), fillers=()),
                         accents=accents)
        rec.set_grammar(build_grammar(phrases=("how are you", "are you", "now are you"),
                                      words=(), fillers=()))
        heard.append(finals(rec, audio))
    assert heard == [["are you"], ["how are you"]]


def test_a_word_the_dictionary_lacks_is_heard_with_its_phones() -> None:
    audio = np.concatenate([np.zeros(RATE // 2, np.float32), speech("hello microturn"),
                            np.zeros(RATE, np.float32)])
    audio = np.pad(audio, (0, -len(audio) % CHUNK))
    result = run_node("asr.pocketsphinx",
                      {"keywords": ["hello microturn"],
                       "pronunciations": {"microturn": "M AY K R OW T ER N"}},
                      inputs={"chunks": chunks(audio)}, pace="pts")
    assert [h.text for h in result.of("heard", Heard) if h.final] == ["hello microturn"]


@pytest.mark.parametrize(("params", "message"), [
    ({"pronunciations": {"blorp": "B L XX"}},
     r"pronunciation of 'blorp' has 'XX'.* - at with.pronunciations"),
    ({"accents": ["cockney"]}, r"unknown accent 'cockney'.* - at with.accents"),
    ({"words": ["blorptastic"]}, r"blorptastic - at .*give the word's phones in "
                                 r"with.pronunciations"),
])
def test_bad_pronunciations_and_accents_are_named(params: dict, message: str) -> None:
    silence = [Chunk(pts=0, index=0, period=PERIOD, audio=np.zeros(CHUNK, np.float32),
                     sample_rate=RATE)]
    with pytest.raises(FlowError, match=message):
        run_node("asr.pocketsphinx", params, inputs={"chunks": silence})
