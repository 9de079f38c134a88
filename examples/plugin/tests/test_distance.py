"""Tests of the distance skill, on the reflex policy alone: no recogniser, no event loop."""

from microturn_miles import Distance

from nodes.asr.grammar import build_grammar
from nodes.reflex.model import skills_vocabulary
from nodes.reflex.policy import ReflexPolicy, TurnInput
from nodes.types import Heard

MS = 1_000_000


def heard(text: str, final: bool = True) -> Heard:
    """A hypothesis with a word every 300 ms, as the recogniser would send it."""
    words = tuple((w, i * 300 * MS, (i + 1) * 300 * MS) for i, w in enumerate(text.split()))
    return Heard(pts=0, text=text, final=final, start=0, end=words[-1][2], words=words)


def step(policy: ReflexPolicy, k: int, *msgs: Heard) -> list:
    return policy.step(TurnInput(k, k * 200 * MS, (k + 1) * 200 * MS, list(msgs)))


def test_miles_are_said_in_kilometres_once_two_hypotheses_agree():
    policy = ReflexPolicy([Distance()])
    assert step(policy, 5, heard("we drove forty miles", final=False)) == []
    (reply,) = step(policy, 6, heard("we drove forty miles to", final=False))
    assert (reply.kind, reply.text) == ("speak", "40 miles is 64.4 kilometres.")
    assert reply.trigger == 4 * 300 * MS  # the end of "miles": reaction time counts from it
    assert step(policy, 7, heard("we drove forty miles to the farm")) == []  # said once


def test_a_number_heard_otherwise_is_corrected_and_the_wrong_answer_retracted():
    policy = ReflexPolicy([Distance(Distance.Params(unit="km", decimals=0))])
    step(policy, 5, heard("fourteen miles", final=False))
    step(policy, 6, heard("fourteen miles", final=False))
    d = step(policy, 7, heard("forty miles"))
    assert [(x.kind, x.text) for x in d] == [("retract", ""),
                                             ("speak", "Sorry, 40 miles is 64 km.")]


def test_other_talk_is_left_to_other_skills():
    policy = ReflexPolicy([Distance()])
    assert Distance().hear(policy.transcript.update(heard("twenty dollars")),
                           policy.transcript) is None


def test_the_recogniser_expects_a_number_before_miles():
    vocabulary = skills_vocabulary([Distance()])
    assert {"mile", "miles"} <= set(vocabulary["number_contexts"])
    assert "<amount> = <number> (dollar | dollars | mile | miles);" in build_grammar(**vocabulary)


def test_its_example_phrase_gets_its_answer():
    """What the browser suggests trying (``examples``) is answered, in its unit."""
    skill = Distance(Distance.Params(unit="km", decimals=0))
    (phrase,) = skill.examples()
    (reply,) = step(ReflexPolicy([skill]), 3, heard(phrase))
    assert reply.text == "40 miles is 64 km."
