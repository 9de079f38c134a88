"""Pronunciations the ears' dictionary lacks: a graph's own words, and accents' variants.

pocketsphinx's English dictionary (CMUdict) gives each word one or a few pronunciations,
mostly General American ones. A word it lacks cannot be in a grammar at all, so a graph
may give its own (``pronunciations: {microturn: M AY K R OW T ER N}``). A speaker whose
accent drops the /h/ ("'ow many animals", "six 'undred") says what no pronunciation of the
word has, and with a grammar the decoder can only hear the nearest legal path instead ("and
we the i owls so foxes"). ``ACCENTS`` names rules that derive a variant from each
pronunciation of a grammar's words; the decoder then takes either (pocketsphinx's
alternative pronunciations, ``word(2)``). Whether number words get an accent's variants
too is measured per accent: an h-less "'undred" runs into the number before it ("eight
'undred" heard as "two hundred"; on the stand-ins it broke three amounts and mended none),
while a stopped "th" is what makes "thirteen" and "thousand" heard. docs/ears.md, twelfth
round.

Phones are ARPABET, as the English model's: upper case, no stress digits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from .numbers import NUMBER_WORDS

#: The English model's phones (pocketsphinx's ``en-us`` model and the models adapted from it).
PHONES = frozenset(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH "
    "UW V W Y Z ZH".split())


def _h_dropping(phones: list[str]) -> list[str] | None:
    """Without a word's first /h/: "how" HH AW -> AW (Cockney, the West Midlands,
    Yorkshire and most other accents of England's towns)."""
    return phones[1:] if len(phones) > 1 and phones[0] == "HH" else None


def _th_stopping(phones: list[str]) -> list[str] | None:
    """"th" as a stop: "thousand" TH AW ... -> T AW ..., "the" DH AH -> D AH (Caribbean,
    West African and Irish English, among others)."""
    stopped = [{"TH": "T", "DH": "D"}.get(p, p) for p in phones]
    return stopped if stopped != phones else None


class Accent(NamedTuple):
    #: a pronunciation (its phones) -> the accent's variant of it, or None where the
    #: accent says it the same
    rule: Callable[[list[str]], list[str] | None]
    numbers: bool  #: whether number words get the variant too


ACCENTS: dict[str, Accent] = {
    "h-dropping": Accent(_h_dropping, numbers=False),
    "th-stopping": Accent(_th_stopping, numbers=True),
}


#: What the ears hear unless told otherwise (measured: docs/ears.md, twelfth round).
DEFAULT_ACCENTS = ("h-dropping", "th-stopping")


def check_accents(names: Iterable[str]) -> None:
    """``ValueError`` naming the first accent that ``ACCENTS`` does not know."""
    for name in names:
        if name not in ACCENTS:
            raise ValueError(f"unknown accent {name!r}; known: {', '.join(sorted(ACCENTS))}")


def parse_phones(word: str, phones: str) -> str:
    """``phones`` as the dictionary wants them (single spaces, upper case);
    ``ValueError`` naming ``word`` and the phone that the model does not have."""
    out = phones.upper().split()
    if not out:
        raise ValueError(f"the pronunciation of {word!r} is empty")
    bad = [p for p in out if p not in PHONES]
    if bad:
        raise ValueError(f"the pronunciation of {word!r} has {bad[0]!r}, not a phone of the "
                         f"English model (ARPABET, no stress digits: {' '.join(sorted(PHONES))})")
    return " ".join(out)


def normalize_pronunciations(
        given: Mapping[str, str | Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """A graph's ``pronunciations`` (a word -> its phones, or a list of them) checked and
    in one shape; ``ValueError`` naming the word for a bad one."""
    out: dict[str, tuple[str, ...]] = {}
    for word, phones in given.items():
        w = word.strip().lower()
        if not w or len(w.split()) != 1:
            raise ValueError(f"a pronunciation is for one word, got {word!r}")
        listed = [phones] if isinstance(phones, str) else list(phones)
        out[w] = tuple(dict.fromkeys(parse_phones(w, p) for p in listed))
    return out


def variants(word: str, pronunciations: Iterable[str], accents: Iterable[str]) -> list[str]:
    """The accents' variants of ``word`` (its ``pronunciations``) that it does not have
    yet, in order, each once."""
    have = list(pronunciations)
    new: list[str] = []
    for name in accents:
        accent = ACCENTS[name]
        if word in NUMBER_WORDS and not accent.numbers:
            continue
        for pron in have:
            v = accent.rule(pron.split())
            text = " ".join(v) if v else None
            if text and text not in have and text not in new:
                new.append(text)
    return new


class Dictionary(Protocol):
    """What of a ``pocketsphinx.Decoder`` these functions use."""

    def lookup_word(self, word: str) -> str | None: ...
    def add_word(self, word: str, phones: str, update: bool = True) -> Any: ...


def known(dictionary: Dictionary, word: str) -> list[str]:
    """The pronunciations ``dictionary`` has for ``word``: ``word``, ``word(2)``, ..."""
    out: list[str] = []
    while (phones := dictionary.lookup_word(
            word if not out else f"{word}({len(out) + 1})")) is not None:
        out.append(phones)
    return out


def add(dictionary: Dictionary, pronunciations: Mapping[str, Sequence[str]]) -> None:
    """Add ``pronunciations`` (a word -> its phones) beside what ``dictionary`` has;
    ``ValueError`` if pocketsphinx refuses one."""
    for word, listed in pronunciations.items():
        for phones in listed:
            have = known(dictionary, word)
            if phones in have:
                continue
            try:
                dictionary.add_word(word if not have else f"{word}({len(have) + 1})", phones,
                                    True)
            except RuntimeError as exc:  # pocketsphinx says no more than this
                raise ValueError(f"the ears' dictionary refused the pronunciation {phones!r} of "
                                 f"{word!r}") from exc


def add_variants(dictionary: Dictionary, words: Iterable[str], accents: Sequence[str]) -> None:
    """Add the ``accents``' variants of ``words`` to ``dictionary``."""
    for word in sorted(set(words)):
        new = variants(word, known(dictionary, word), accents)
        if new:
            add(dictionary, {word: new})


class AccentVariants:
    """The ``accents``' variants added to one decoder's dictionary as words come up (a
    grammar's, a transcript's), each word once. ``ValueError`` for an unknown accent."""

    def __init__(self, accents: Sequence[str]) -> None:
        check_accents(accents)
        self.accents = tuple(accents)
        self._done: set[str] = set()

    def cover(self, dictionary: Dictionary, words: Iterable[str]) -> None:
        """Add the variants of those of ``words`` not covered yet."""
        if not self.accents:
            return
        new = set(words) - self._done
        add_variants(dictionary, new, self.accents)
        self._done |= new

    def forget(self, words: Iterable[str]) -> None:
        """Cover ``words`` again next time (they have new pronunciations)."""
        self._done -= set(words)
