from __future__ import annotations

import pytest

from flow import TextDelta
from nodes.reflex.policy import ReflexPolicy, TurnInput
from nodes.reflex.skills import BUILTIN, Count, Currency, Stopwatch, Timer, say_amount
from nodes.reflex.transcript import Transcript
from nodes.types import BackendResult, Heard

S = 1_000_000_000
MS = 1_000_000


def heard(text: str, start: int, final: bool = True, step: int = 300 * MS) -> Heard:
    """A hypothesis with evenly spaced word times, like the recogniser's."""
    words = tuple((w, start + i * step, start + (i + 1) * step - 20 * MS)
                  for i, w in enumerate(text.split()))
    return Heard(pts=start, text=text, final=final, start=start, end=words[-1][2], words=words)


def policy(*names: str, confirm: bool = False) -> ReflexPolicy:
    """Skills acting on the first hypothesis (``confirm`` waits for two that agree)."""
    skills = [BUILTIN[n]() for n in names or tuple(BUILTIN)]
    for skill in skills:
        skill.confirm.enabled = confirm
    return ReflexPolicy(skills)


def step(p: ReflexPolicy, k: int, *msgs: object, results: list[BackendResult] | None = None,
         voice: bool = False) -> list:
    return p.step(TurnInput(k, k * 200 * MS, (k + 1) * 200 * MS, list(msgs),
                            results or [], voice))


def acts(decisions: list) -> list[tuple[str, str]]:
    """What the policy decided, as (kind, text): "speak" and what, "retract"."""
    return [(x.kind, x.text) for x in decisions]


def test_say_amount() -> None:
    assert say_amount(18.4, "euros") == "18 euros 40"
    assert say_amount(92.0, "euros") == "92 euros"


def test_currency_answers_on_a_partial_and_only_once() -> None:
    p = policy("currency")
    d1 = step(p, 5, heard("it cost twenty dollars", 0, final=False))
    assert [d.text for d in d1] == ["20 dollars is 18 euros 40."]
    assert d1[0].trigger == 4 * 300 * MS - 20 * MS  # end of "dollars"
    d2 = step(p, 6, heard("it cost twenty dollars and then", 0, final=False))
    d3 = step(p, 7, heard("it cost twenty dollars and then", 0, final=True))
    assert d2 == [] and d3 == []


def test_confirmation_waits_for_two_agreeing_partials_or_a_final() -> None:
    p = policy("currency", "stopwatch", confirm=True)
    story = "a duck two dollars and a rabbit"
    assert step(p, 3, heard(story, 0, final=False)) == []  # a one-off in a partial...
    assert step(p, 4, heard("a duck and a rabbit", 0, final=False)) == []  # ...then gone
    assert step(p, 9, heard("it cost twenty dollars", 2 * S, final=False)) == []
    d = step(p, 10, heard("it cost twenty dollars and", 2 * S, final=False))
    assert [x.text for x in d] == ["20 dollars is 18 euros 40."]  # one micro-turn later
    d = step(p, 20, heard("it was nine dollars", 5 * S))  # a final acts at once
    assert [x.text for x in d] == ["9 dollars is 8 euros 28."]
    assert step(p, 30, heard("start the stopwatch", 8 * S, final=False)) == []
    assert [x.text for x in step(p, 31, heard("start the stopwatch", 8 * S))] == [
        "Stopwatch started."]


def test_currency_says_units_right_whatever_was_heard() -> None:
    p = policy("currency")
    assert [d.text for d in step(p, 3, heard("two dollar", 0))] == ["2 dollars is 1 euro 84."]
    assert [d.text for d in step(p, 9, heard("one dollars", S))] == ["1 dollar is 0 euros 92."]


def test_currency_corrects_a_changed_amount_and_no_wait() -> None:
    p = policy("currency")
    step(p, 5, heard("thirteen dollars", 0, final=False))
    d = step(p, 6, heard("thirty dollars", 0, final=True))
    # the wrong answer is still being said: it is retracted, then corrected
    assert acts(d) == [("retract", ""), ("speak", "Sorry, 30 dollars is 27 euros 60.")]
    d = step(p, 50, heard("no wait it was a hundred and five dollars", 9 * S))
    # long since said: nothing to retract
    assert acts(d) == [("speak", "Sorry, 105 dollars is 96 euros 60.")]


def test_a_growing_amount_is_the_same_mention_corrected() -> None:
    p = policy("currency")
    assert [x.text for x in step(p, 5, heard("two thousand dollars", 0, final=False))] == [
        "2000 dollars is 1840 euros."]
    # word times move a little between hypotheses: still the same mention
    d = step(p, 9, heard("two thousand four hundred and fifty dollars", 40 * MS))
    assert acts(d) == [("retract", ""), ("speak", "Sorry, 2450 dollars is 2254 euros.")]
    assert d[0].data == {"reason": "correction"}
    assert p.speaking_since == 10 * 200 * MS  # the correction is said from now


def test_no_wait_retracts_the_last_amount_while_it_is_said() -> None:
    p = policy("currency")
    step(p, 5, heard("twenty dollars", 0, final=False))
    d = step(p, 7, heard("twenty dollars no wait it was thirty dollars", 0, final=False))
    assert acts(d) == [("retract", ""), ("speak", "Sorry, 30 dollars is 27 euros 60.")]


def test_only_the_last_reply_queued_is_retracted() -> None:
    p = policy("currency", "count")
    step(p, 5, heard("thirteen dollars", 0, final=False))
    step(p, 6, heard("a dog how many animals", 2 * S, final=False))  # queued behind it
    d = step(p, 7, heard("thirty dollars", 0, final=True))
    # retracting would flush the count's answer with it: the correction waits its turn
    assert acts(d) == [("speak", "Sorry, 30 dollars is 27 euros 60.")]
    # another skill's reply, or another amount's, is never retracted by a correction
    q = policy("currency")
    step(q, 5, heard("thirteen dollars", 0, final=False))
    step(q, 6, heard("thirteen dollars and nine dollars", 0, final=False))
    d = step(q, 7, heard("thirty dollars and nine dollars", 0, final=True))
    assert [x.kind for x in d] == ["speak"]


def test_count_animals_and_answer_when_asked() -> None:
    p = policy("count", "currency")
    step(p, 3, heard("i saw a dog and two cats", 0))
    step(p, 9, heard("then a horse", 2 * S, final=False))
    d = step(p, 10, heard("then a horse", 2 * S))
    assert d == []
    d = step(p, 20, heard("how many animals so far", 4 * S, final=False))
    assert [x.text for x in d] == ["4 animals so far."]  # a dog, two cats, a horse
    assert step(p, 21, heard("how many animals so far", 4 * S)) == []
    assert isinstance(p.skills[0], Count) and p.skills[0].count == 4


def test_a_number_before_a_plural_is_how_many_it_counts() -> None:
    p = policy("count", "currency")
    step(p, 3, heard("we saw twenty two sheep and one cat", 0))
    step(p, 9, heard("then three horses and wolves", 3 * S, final=False))  # previewed only
    d = step(p, 10, heard("how many animals", 3 * S, final=False))
    assert [x.text for x in d] == ["23 animals so far."]
    step(p, 15, heard("then three horses and wolves", 4 * S))
    d = step(p, 20, heard("how many animals so far", 6 * S))
    assert [x.text for x in d] == ["27 animals so far."]
    # an amount is not a number of animals: "five dollars" before "dogs" in other words
    step(p, 25, heard("it cost five dollars okay dogs", 8 * S))
    d = step(p, 30, heard("what is the count", 10 * S))
    assert [x.text for x in d] == ["28 animals so far."]


def test_how_many_of_one_kind() -> None:
    p = policy("count", "currency")
    step(p, 3, heard("we saw a dog and two cats and a mouse", 0))
    d = step(p, 9, heard("then the dog and a dog how many dogs so far", 3 * S, final=False))
    # the dog again is not another; the question's own "dogs" is not a mention
    assert [(x.text, x.data) for x in d] == [("2 dogs so far.", {"count": 2, "word": "dog"})]
    assert d[0].trigger == 3 * S + 9 * 300 * MS - 20 * MS  # the end of "dogs" (word 8)
    assert step(p, 10, heard("then the dog and a dog how many dogs so far", 3 * S)) == []
    for k, (question, answer) in enumerate([("how many mice", "1 mouse so far."),
                                            ("how many cats", "2 cats so far."),
                                            ("how many horses", "0 horses so far."),
                                            ("how many animals so far", "5 animals so far.")]):
        d = step(p, 20 + k, heard(question, (6 + k) * S))
        assert [x.text for x in d] == [answer]
    # "how many" with no kind after it is not a question for this skill
    assert step(p, 30, heard("how many people came", 12 * S)) == []
    assert p.skills[0].tally == {"dog": 2, "cat": 2, "mouse": 1}


def counting_grammar(**settings: bool) -> str:
    """The ears' grammar for the count skill (with these settings) and currency."""
    from nodes.asr.grammar import build_grammar
    from nodes.reflex.model import skills_vocabulary
    from nodes.reflex.skills import CountParams

    return build_grammar(**skills_vocabulary([Count(CountParams(**settings)), Currency()]))


def test_the_ears_hear_questions_about_one_kind_only_when_asked_to() -> None:
    assert "how many <plural>" not in counting_grammar()  # the grammar as it was
    by_kind = counting_grammar(by_kind=True)
    assert "how many <plural> so far" in by_kind and "how many <plural> |" in by_kind


def test_the_ears_hear_numbers_before_the_animals_only_when_asked_to() -> None:
    assert "<n2_99>" not in counting_grammar()  # the grammar as it was
    numbers = counting_grammar(numbers=True)
    assert "<phrase> = <n2_99> <plural> |" in numbers and "<n2_99> = <n2_9> | <n10_19>" in numbers
    assert "<amount> = <number> (dollar | dollars);" in numbers  # amounts as they were


def test_the_animal_mentioned_before_is_not_counted_again() -> None:
    p = policy("count")
    step(p, 3, heard("we saw a dog and two cats", 0))
    step(p, 9, heard("then the dog and the cats ran off", 2 * S))  # the same three
    d = step(p, 12, heard("the horse and a dog how many animals", 4 * S))
    # "the horse" is the first horse: counted; "a dog" is another dog
    assert [x.text for x in d] == ["5 animals so far."]
    # within one utterance, and in a partial hypothesis too
    q = policy("count")
    d = step(q, 3, heard("a fox and then the fox how many animals", 0, final=False))
    assert [x.text for x in d] == ["1 animal so far."]


def test_stopwatch_measures_media_time() -> None:
    p = policy("stopwatch")
    d = step(p, 5, heard("start the stopwatch", 0))
    assert [x.text for x in d] == ["Stopwatch started."]
    started = 880 * MS  # end of "stopwatch"
    d = step(p, 70, heard("stop", 13 * S))
    assert [x.text for x in d] == [f"{(13 * S - started) / S:.1f} seconds."]
    assert d[0].data["elapsed"] == 13 * S - started


def test_timer_fires_at_its_time_even_mid_conversation() -> None:
    p = policy("timer", "currency")
    d = step(p, 8, heard("remind me in ten seconds", 0))
    assert [x.text for x in d] == ["Timer set for ten seconds."]
    due = 5 * 300 * MS - 20 * MS + 10 * S  # end of "seconds" + 10 s
    fired = []
    for k in range(9, 80):
        msgs = [heard("it cost five dollars", 5 * S, final=False)] if k == 40 else []
        for dec in step(p, k, *msgs, voice=40 <= k < 60):
            fired.append((k, dec.text))
    timer = [(k, t) for k, t in fired if t == "Ten seconds are up."]
    assert len(timer) == 1
    k = timer[0][0]
    assert (k + 1) * 200 * MS >= due > k * 200 * MS  # within one micro-turn
    assert (40, "5 dollars is 4 euros 60.") in fired


def test_a_timer_heard_otherwise_later_is_corrected_not_kept_under_its_old_name() -> None:
    """Two partials agree on "four minutes", the final says "eight seconds": the timer
    is reset to eight seconds, the user is told, and it fires under the right name."""
    p = policy("timer", confirm=True)
    early = heard("set a timer for four minutes", 0, final=False)
    assert step(p, 8, early) == []
    d = step(p, 9, early)
    assert [x.text for x in d] == ["Timer set for four minutes."]
    d = step(p, 10, heard("set a timer for eight seconds", 0))
    # "Timer set for four minutes." is still being said: retracted, then corrected
    assert acts(d) == [("retract", ""), ("speak", "Sorry, timer set for eight seconds.")]
    end = 6 * 300 * MS - 20 * MS  # end of "seconds"
    assert p.next_due() == end + 8 * S
    assert [x.text for x in p.fire(end + 8 * S)] == ["Eight seconds are up."]
    assert p.next_due() is None  # one timer, not two


def test_delegation_acknowledges_and_speaks_the_answer_when_user_is_quiet() -> None:
    p = policy()
    d = step(p, 10, heard("what is twelve times seven", 0))
    assert acts(d) == [("delegate", "Let me check.")]
    req = d[0].request
    assert req is not None and req.query == "what is twelve times seven"
    ans = BackendResult(pts=3 * S, id=req.id, text="84.", final=True)
    # the user is talking: the answer waits
    assert step(p, 20, results=[ans], voice=True) == []
    d = step(p, 21)
    assert acts(d) == [("speak", "84.")]


def test_backend_failure_is_an_apology() -> None:
    p = policy()
    req = step(p, 10, TextDelta(pts=2 * S, text="Who wrote Hamlet?"))[0].request
    assert req is not None and req.query == "who wrote hamlet"
    d = step(p, 30, results=[BackendResult(id=req.id, text="", error="timed out")])
    assert [x.text for x in d] == ["Sorry, I could not get an answer to that."]


def test_barge_in_is_an_onset_while_speaking_not_talking_on() -> None:
    p = policy("currency")
    step(p, 0, voice=True)
    d = step(p, 1, heard("twenty dollars", 0, final=False), voice=True)
    assert d[0].kind == "speak"
    # talking on through the reply is not a barge-in
    assert all(x.kind != "interrupt" for x in step(p, 2, voice=True))
    step(p, 3)
    step(p, 4)
    d = step(p, 5, voice=True)  # a new onset after two quiet micro-turns
    assert [x.kind for x in d] == ["interrupt"]


def test_skill_vocabulary_feeds_the_grammar() -> None:
    from nodes.asr.grammar import build_grammar

    skills = [Currency(), Count(), Stopwatch(), Timer()]
    g = build_grammar(phrases=[p for s in skills for p in s.phrases],
                      number_contexts=[c for s in skills for c in s.number_contexts],
                      words=[w for s in skills for w in s.words])
    assert "stopwatch" in g and "dollars" in g and "giraffes" in g


def test_timer_due_and_stopwatch_start_come_from_the_settled_word_end() -> None:
    """A partial's last word ends where decoding has got to, not where the word ended:
    once a later hypothesis settles that end, the timer and the stopwatch use it."""
    p = policy("timer", "stopwatch")
    partial = heard("remind me in ten seconds", 0, final=False)
    late = partial.words[-1][2] + 150 * MS  # decoding ran on past the word
    words = (*partial.words[:-1], (partial.words[-1][0], partial.words[-1][1], late))
    step(p, 8, Heard(pts=0, text=partial.text, final=False, start=0, end=late, words=words))
    assert p.next_due() == late + 10 * S
    step(p, 9, heard("remind me in ten seconds", 0))  # the final: the true end
    assert p.next_due() == 5 * 300 * MS - 20 * MS + 10 * S
    assert [d.text for d in p.fire(p.next_due())] == ["Ten seconds are up."]
    assert p.next_due() is None

    sw = policy("stopwatch")
    start = heard("start the stopwatch", 20 * S, final=False)
    words = (*start.words[:-1], (start.words[-1][0], start.words[-1][1], 21 * S))
    step(sw, 105, Heard(pts=20 * S, text=start.text, final=False, start=20 * S, end=21 * S,
                        words=words))
    step(sw, 106, heard("start the stopwatch", 20 * S))  # "stopwatch" ends at 20.88 s
    d = step(sw, 150, heard("stop", 30 * S))
    assert d[0].data["elapsed"] == 30 * S - (20 * S + 880 * MS)


def test_the_stopwatch_listens_for_start_or_stop_as_its_state_says() -> None:
    from nodes.reflex.model import skills_vocabulary

    sw, timer = Stopwatch(), Timer()
    sw.confirm.enabled = False
    idle = skills_vocabulary([sw, timer])["phrases"]
    assert "start the stopwatch" in idle
    assert "stop" not in idle and "stop the stopwatch" not in idle
    assert "remind me in {number} seconds" in idle
    sw.hear(Transcript().update(heard("start the stopwatch", 0)), Transcript())
    running = skills_vocabulary([sw, timer])["phrases"]
    assert "stop" in running and "stop the stopwatch" in running
    assert "start the stopwatch" not in running
    sw.hear(Transcript().update(heard("stop", 5 * S)), Transcript())
    assert skills_vocabulary([sw, timer])["phrases"] == idle


class Broken(Count):
    """A plugin's skill with a bug: it raises on "zebra"."""

    name = "broken"

    def hear(self, utt, transcript):  # type: ignore[no-untyped-def]
        if "zebra" in utt.text.split():
            raise ZeroDivisionError("a bug in the plugin")
        return super().hear(utt, transcript)


def test_a_skill_that_raises_is_switched_off_and_the_session_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    broken = Broken()
    broken.confirm.enabled = False
    p = ReflexPolicy([broken, Currency(), *[BUILTIN["delegate"]()]])
    p.skills[1].confirm.enabled = False
    with caplog.at_level("WARNING", logger="microturn.reflex"):
        d = step(p, 3, heard("a zebra and twenty dollars", 0))
    assert [x.text for x in d] == ["20 dollars is 18 euros 40."]  # the others still answer
    assert p.failed == {"broken": "hear(): ZeroDivisionError('a bug in the plugin')"}
    assert [s.name for s in p.skills] == ["currency"]
    (record,) = caplog.records
    assert "skill 'broken' failed in hear()" in record.getMessage() and record.exc_info
    # off for good: its questions now go to the back end like anything nobody claims
    d = step(p, 10, heard("how many animals so far", 3 * S))
    assert [x.kind for x in d] == ["delegate"]


def test_a_failed_skill_leaves_the_grammar_and_the_statistics_say_so() -> None:
    import asyncio

    from nodes.reflex.model import ReflexModel, ReflexOptions
    from nodes.reflex.skill import Skill

    class Joker(Skill):
        name = "joker"
        phrases = ("tell me a joke",)
        words = ("joke",)
        fail = False

        def vocabulary(self) -> dict[str, tuple[str, ...]]:
            if self.fail:
                raise RuntimeError("a bug in the plugin")
            return super().vocabulary()

    session = asyncio.run(ReflexModel.open(ReflexOptions(skills=["stopwatch"]), None))
    joker = Joker()
    session.policy.skills.append(joker)
    assert "tell me a joke" in session.vocabulary()["phrases"]
    joker.fail = True
    vocabulary = session.vocabulary()
    assert "tell me a joke" not in vocabulary["phrases"] and "joke" not in vocabulary["words"]
    assert "start the stopwatch" in vocabulary["phrases"]
    assert session.statistics()["skills_failed"] == {
        "joker": "vocabulary(): RuntimeError('a bug in the plugin')"}
