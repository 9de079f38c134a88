"""Number words <-> integers, 1 to 9999, the way people say amounts. Sans-IO, no imports.

    >>> words_to_int("a hundred and five")
    105
    >>> int_to_words(2019)
    'two thousand nineteen'
    >>> find_numbers("it was twenty five dollars no wait thirty dollars".split())
    [NumberSpan(value=25, start=2, end=4), NumberSpan(value=30, start=7, end=8)]

Accepted forms are exactly those of the recogniser's number grammar (``grammar.NUMBER_RULES``):
``one`` .. ``ninety nine``; ``[a | one .. nine] hundred [and] <1-99>``; ``[a | one .. nine]
thousand [and] <1-999>``; and the "twelve hundred" form ``<11-99> hundred [and] <1-99>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

ONES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
         "seventeen", "eighteen", "nineteen")
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")

_SMALL = {w: i + 1 for i, w in enumerate(ONES)} | {w: i + 10 for i, w in enumerate(TEENS)}
_TENS = {w: 20 + 10 * i for i, w in enumerate(TENS)}
#: Every word that can appear inside a number expression.
NUMBER_WORDS = frozenset(_SMALL) | frozenset(_TENS) | {"a", "and", "hundred", "thousand"}


class NumberSpan(NamedTuple):
    """A number found in a word list: ``words[start:end]`` says ``value``."""

    value: int
    start: int
    end: int


def int_to_words(n: int, *, style: str = "plain") -> str:
    """Spell ``n`` (1..9999). ``style``: ``plain`` ("one hundred five"), ``and``
    ("one hundred and five"), ``a`` ("a hundred and five": "a" for a leading one), or
    ``pairs`` ("twelve hundred five" for 1100..9999 when the hundreds are not a multiple
    of ten, else like ``plain``)."""
    if not 1 <= n <= 9999:
        raise ValueError(f"int_to_words: {n} is outside 1..9999")
    if style not in ("plain", "and", "a", "pairs"):
        raise ValueError(f"int_to_words: unknown style {style!r}")
    conj = ["and"] if style in ("and", "a") else []

    def lead(k: int) -> list[str]:
        return ["a"] if (k == 1 and style == "a") else _below_100(k)

    words: list[str] = []
    thousands, rest = divmod(n, 1000)
    if style == "pairs" and n >= 1100 and (n // 100) % 10 != 0:
        words = [*_below_100(n // 100), "hundred"]
        if n % 100:
            words += _below_100(n % 100)
        return " ".join(words)
    if thousands:
        words += [*lead(thousands), "thousand"]
    hundreds, tail = divmod(rest, 100)
    if hundreds:
        words += [*(_below_100(hundreds) if thousands else lead(hundreds)), "hundred"]
    if tail:
        if words:
            words += conj
        words += _below_100(tail)
    return " ".join(words)


def _below_100(n: int) -> list[str]:
    if n < 20:
        return [ONES[n - 1] if n < 10 else TEENS[n - 10]]
    tens, ones = divmod(n, 10)
    return [TENS[tens - 2]] + ([ONES[ones - 1]] if ones else [])


def words_to_int(text: str | Sequence[str]) -> int:
    """The value of a whole number expression; ``ValueError`` if it is not exactly one."""
    words = text.split() if isinstance(text, str) else list(text)
    value, used = _parse(words, 0)
    if value is None or used != len(words):
        raise ValueError(f"not a number expression: {' '.join(words)!r}")
    return value


def find_numbers(words: Sequence[str]) -> list[NumberSpan]:
    """Every maximal number expression in ``words`` (lower-case tokens), left to right.
    A lone "a" or "and" is not a number."""
    spans: list[NumberSpan] = []
    i = 0
    while i < len(words):
        value, end = _parse(words, i)
        if value is None:
            i += 1
            continue
        spans.append(NumberSpan(value, i, end))
        i = end
    return spans


def _parse(w: Sequence[str], i: int) -> tuple[int | None, int]:
    """Longest number expression starting at ``w[i]``: (value, end index) or (None, i)."""
    best: tuple[int | None, int] = (None, i)
    # [a | 1..99] thousand [and] <1..999>
    k, j = _lead(w, i)
    if k is not None and k <= 9 and _at(w, j) == "thousand":
        j += 1
        rest, j2 = _below_1000(w, _skip_and(w, j))
        return (k * 1000 + rest, j2) if rest is not None else (k * 1000, j)
    # [a | 1..99] hundred [and] <1..99>   (11..99 hundred is the "twelve hundred" form)
    if k is not None and _at(w, j) == "hundred" and (k < 10 or k % 10):
        j += 1
        tail, j2 = _below_100_parse(w, _skip_and(w, j))
        return (k * 100 + tail, j2) if tail is not None else (k * 100, j)
    small, j = _below_100_parse(w, i)
    if small is not None:
        best = (small, j)
    return best


def _below_1000(w: Sequence[str], i: int) -> tuple[int | None, int]:
    k, j = _lead(w, i)
    if k is not None and k <= 9 and _at(w, j) == "hundred":
        j += 1
        tail, j2 = _below_100_parse(w, _skip_and(w, j))
        return (k * 100 + tail, j2) if tail is not None else (k * 100, j)
    return _below_100_parse(w, i)


def _lead(w: Sequence[str], i: int) -> tuple[int | None, int]:
    """A multiplier before hundred/thousand: "a" counts as one."""
    if _at(w, i) == "a":
        return 1, i + 1
    return _below_100_parse(w, i)


def _below_100_parse(w: Sequence[str], i: int) -> tuple[int | None, int]:
    word = _at(w, i)
    if word in _SMALL:
        return _SMALL[word], i + 1
    if word in _TENS:
        nxt = _at(w, i + 1)
        if nxt in _SMALL and _SMALL[nxt] < 10:
            return _TENS[word] + _SMALL[nxt], i + 2
        return _TENS[word], i + 1
    return None, i


def _skip_and(w: Sequence[str], i: int) -> int:
    """Skip an "and" only when a number follows it ("a hundred and" alone keeps "and")."""
    if _at(w, i) == "and" and _below_100_parse(w, i + 1)[0] is not None:
        return i + 1
    return i


def _at(w: Sequence[str], i: int) -> str | None:
    return w[i] if i < len(w) else None
