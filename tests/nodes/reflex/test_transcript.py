"""Typed text reaches the skills as the words a recogniser would hear."""

from __future__ import annotations

import pytest

from flow import TextDelta
from nodes.reflex.transcript import spell_numbers, words_of

from .test_skills import acts, heard, policy, step

S = 1_000_000_000


def typed(text: str, at: int) -> TextDelta:
    return TextDelta(pts=at, text=text, role="user", final=True)


@pytest.mark.parametrize(("text", "words"), [
    ("convert 20 dollars to euros", "convert twenty dollars to euros"),
    ("remind me in 5 seconds", "remind me in five seconds"),
    ("$20 in euros", "twenty dollars in euros"),
    ("1,500 dollars, 105 dollars", "one thousand five hundred dollars, one hundred five dollars"),
    # left as typed: outside what number words say here, decimals, words with digits
    ("0 cats, 10000 dogs, 2.5 dollars, the 12th, mp3", "0 cats, 10000 dogs, 2.5 dollars, "
     "the 12th, mp3"),
])
def test_typed_numbers_are_spelled_as_heard(text: str, words: str) -> None:
    assert spell_numbers(text) == words


def test_typed_digits_are_answered_as_number_words() -> None:
    p = policy("currency", "count", "timer")
    said = acts(step(p, 5, typed("convert 20 dollars to euros", 1 * S)))
    assert said == [("speak", "20 dollars is 18 euros 40.")]
    assert acts(step(p, 10, typed("2 dogs and 3 cats", 2 * S))) == []
    assert acts(step(p, 15, typed("how many animals so far", 3 * S))) == [
        ("speak", "5 animals so far.")]
    assert acts(step(p, 20, typed("remind me in 5 seconds", 4 * S))) == [
        ("speak", "Timer set for five seconds.")]



def test_a_typed_question_goes_to_the_back_end_as_typed() -> None:
    p = policy("delegate")
    (ack,) = step(p, 5, typed("What is 12 times 7?", 1 * S))
    assert ack.kind == "delegate" and ack.request.query == "what is 12 times 7"


def test_spoken_words_are_taken_as_heard() -> None:
    """A recogniser's words, with their times, are not rewritten (its own "twenty" is
    already a word; nothing is spelled twice)."""
    msg = heard("twenty dollars", 1 * S)
    assert [w.text for w in words_of(msg)] == ["twenty", "dollars"]
    assert [(w.start, w.end) for w in words_of(msg)] == [(w[1], w[2]) for w in msg.words]
