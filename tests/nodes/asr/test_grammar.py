"""JSGF generation: structure, merging, and the words it needs from the dictionary."""

from __future__ import annotations

import pytest

from nodes.asr.grammar import build_grammar, normalize, vocabulary_words


def test_numbers_only_before_their_contexts() -> None:
    g = build_grammar(phrases=["start the stopwatch", "remind me in {number} seconds"],
                      number_contexts=["dollars"], words=["Zebra", "zebra"],
                      fillers=["okay", "I paid"])
    assert "public <utterance> = <item>+;" in g
    assert "<amount> = <number> (dollars);" in g
    assert "remind me in <number> seconds" in g
    assert "<word> = (a | an | the | my | another) (zebra);" in g  # lower-cased, merged
    assert "<filler> = i paid | okay;" in g  # fillers may be phrases
    assert "<number> =" in g


def test_a_singular_word_needs_a_determiner_a_plural_does_not() -> None:
    g = build_grammar(phrases=[], number_contexts=[], words=["dog", "dogs", "mice", "glass"],
                      fillers=["okay"])
    assert "<word> = (a | an | the | my | another) (dog | glass);" in g
    assert "<plural> = dogs | mice;" in g
    # a bare plural is what a stray syllable most easily becomes: it weighs a tenth
    assert "<item> = /1/ <word> | /0.1/ <plural> | /1/ <filler>;" in g
    assert {"a", "an", "the"} <= vocabulary_words(words=["dog"])
    assert "the" not in vocabulary_words(words=["dogs"])


def test_no_number_rules_without_a_use_for_them() -> None:
    g = build_grammar(phrases=["hello computer"], number_contexts=[], words=[], fillers=[])
    assert "<number>" not in g


def test_empty_vocabulary_is_an_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        build_grammar(phrases=[], number_contexts=[], words=[], fillers=[])


def test_vocabulary_words_include_number_words_when_used() -> None:
    words = vocabulary_words(phrases=["wait {number} seconds"], words=["cat"])
    assert {"wait", "seconds", "cat", "hundred", "thousand", "ninety"} <= words
    assert "hundred" not in vocabulary_words(phrases=["hello"], words=["cat"])


def test_normalize_keeps_apostrophes_drops_punctuation() -> None:
    assert normalize("It's 'OK', isn't it?") == ["it's", "ok", "isn't", "it"]


def _alternatives(jsgf: str, rule: str) -> set[str]:
    line = next(x for x in jsgf.splitlines() if x.startswith(f"<{rule}> = "))
    return {a.strip() for a in line.split(" = ", 1)[1].rstrip(";").split("|")}


def test_no_is_not_glue_on_its_own_but_starts_a_correction() -> None:
    """"an owl" was heard as the glue "a no" (docs/ears.md, ninth round)."""
    g = build_grammar()
    glue = _alternatives(g, "filler")
    assert "no" not in glue and {"yes", "okay"} <= glue
    assert "no wait it was" in _alternatives(g, "phrase")
    with_skill = build_grammar(phrases=["no", "start the stopwatch"])  # a skill that asks
    assert "no" in _alternatives(with_skill, "phrase")


def test_a_is_heard_only_with_its_noun() -> None:
    """A lone "a" in the glue was where stray schwas went and lost animals hid
    (docs/ears.md, twentieth round): it comes with an animal or a number, never alone."""
    g = build_grammar()
    assert "a" not in _alternatives(g, "filler") and "the" in _alternatives(g, "filler")
    assert "<word> = (a | an | the | my | another) (bear |" in g
    assert "<n100_999> = (a | <n1_9>) hundred" in g


def test_a_word_that_is_its_own_singular_takes_a_determiner_and_stands_alone() -> None:
    g = build_grammar(phrases=[], number_contexts=[], words=["dog", "dogs", "sheep", "mice"],
                      fillers=["okay"])
    assert "<word> = (a | an | the | my | another) (dog | sheep);" in g  # "a sheep"
    assert "<plural> = dogs | mice | sheep;" in g  # "two sheep", "sheep and goats"


def test_count_and_plural_slots_in_a_phrase() -> None:
    g = build_grammar(phrases=["{count} {plural}", "remind me in {number} seconds"],
                      number_contexts=[], words=["dog", "dogs", "mice"], fillers=["okay"])
    assert "<phrase> = <n2_99> <plural> | remind me in <number> seconds;" in g
    assert "<n2_9> = two | three |" in g and "<number> =" in g
    assert {"two", "ninety", "dogs"} <= vocabulary_words(["{count} {plural}"], words=["dogs"])
    assert "{plural}" not in " ".join(vocabulary_words(["{count} {plural}"]))
    with pytest.raises(ValueError, match="no word is a plural"):
        build_grammar(phrases=["{count} {plural}"], number_contexts=[], words=["dog"],
                      fillers=[])


def test_the_garbage_loop_is_one_more_item_with_its_own_weight() -> None:
    from nodes.asr.grammar import GARBAGE, has_garbage, jsgf_words
    from nodes.asr.pronunciations import PHONES

    plain = build_grammar()
    assert not has_garbage(plain) and "_aa" not in plain
    assert build_grammar(garbage=0) == plain  # off: the grammar as it always was
    g = build_grammar(garbage=0.05)
    assert has_garbage(g)
    assert "| /0.05/ <garbage>;" in g and "/0.1/ <plural>" in g
    assert sorted(GARBAGE.values()) == sorted(PHONES)
    (rule,) = [line for line in g.splitlines() if line.startswith("<garbage> = ")]
    assert set(rule.removeprefix("<garbage> = ").rstrip(";").split(" | ")) == set(GARBAGE)
    assert jsgf_words(g) == jsgf_words(plain)  # the pseudo-words are no words of it
    with pytest.raises(ValueError, match="garbage must be a weight >= 0"):
        build_grammar(garbage=-1)
