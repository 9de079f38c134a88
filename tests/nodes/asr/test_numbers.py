"""Number words <-> integers: every spelling the grammar allows reads back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodes.asr.numbers import NumberSpan, find_numbers, int_to_words, words_to_int

STYLES = st.sampled_from(("plain", "and", "a", "pairs"))
FILLER = st.lists(st.sampled_from(("i", "paid", "dollars", "for", "the", "cat", "wait")),
                  max_size=3)


@given(st.integers(1, 9999), STYLES)
def test_every_spelling_reads_back(n: int, style: str) -> None:
    assert words_to_int(int_to_words(n, style=style)) == n


@given(st.lists(st.tuples(st.integers(1, 9999), STYLES, FILLER), min_size=1, max_size=4))
def test_numbers_are_found_between_other_words(items: list) -> None:
    words: list[str] = []
    want = []
    for n, style, glue in items:
        spelled = int_to_words(n, style=style).split()
        want.append(NumberSpan(n, len(words), len(words) + len(spelled)))
        words += [*spelled, "dollars", *glue]
    assert find_numbers(words) == want


@pytest.mark.parametrize(("text", "value"), [
    ("a hundred and five", 105), ("one hundred five", 105), ("twenty", 20),
    ("nine thousand nine hundred ninety nine", 9999), ("a thousand and one", 1001),
    ("twelve hundred", 1200), ("nineteen hundred and eighty four", 1984),
    ("two thousand", 2000), ("seventeen", 17),
])
def test_examples(text: str, value: int) -> None:
    assert words_to_int(text) == value


@pytest.mark.parametrize("text", ["", "a", "and", "hundred", "five and", "ten hundred",
                                  "twenty ten", "one two"])
def test_not_one_number(text: str) -> None:
    with pytest.raises(ValueError, match="not a number expression"):
        words_to_int(text)


def test_a_correction_yields_both_amounts_in_order() -> None:
    words = "it was twenty five dollars no wait it was thirty dollars".split()
    assert [s.value for s in find_numbers(words)] == [25, 30]


def test_out_of_range() -> None:
    for n in (0, 10000):
        with pytest.raises(ValueError, match="outside"):
            int_to_words(n)
