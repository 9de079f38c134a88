"""What the user said, as one timeline of words with media times.

A recogniser sends hypotheses per utterance: partial ones that may still change, then a
final one. Typed text arrives whole. ``Transcript`` keeps the final words of past
utterances and the latest hypothesis of the current one, so that skills can read "the
words so far" and react to a partial hypothesis without waiting for the final.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import NamedTuple

from flow.messages import TextDelta

from ..asr.numbers import int_to_words

_TOKEN = re.compile(r"[a-z0-9][a-z0-9']*")
#: A whole number written in digits ("20", "1,500", "$20"), not part of a decimal ("2.5")
#: or a word ("12th", "mp3")
_DIGITS = re.compile(r"(?<![\w.,])([$€£]?)(\d{1,3}(?:,\d{3})+|\d+)(?![\w]|[.,]\d)")
_CURRENCY = {"$": "dollars", "€": "euros", "£": "pounds"}


def spell_numbers(text: str) -> str:
    """Typed numbers as the words a recogniser hears, which the skills read: "convert 20
    dollars" -> "convert twenty dollars", "$20" -> "twenty dollars", "1,500" -> "one
    thousand five hundred". Numbers outside 1..9999 (what the skills' number words say)
    and decimals stay as typed."""

    def spell(m: re.Match[str]) -> str:
        n = int(m.group(2).replace(",", ""))
        if not 1 <= n <= 9999:
            return m.group(0)
        unit = _CURRENCY.get(m.group(1))
        return int_to_words(n) + (f" {unit}" if unit else "")

    return _DIGITS.sub(spell, text)


class Word(NamedTuple):
    text: str
    start: int  #: media time, ns
    end: int


def words_of(msg: TextDelta) -> tuple[Word, ...]:
    """The words of a heard (with word times) or typed (at its pts) message; typed
    numbers are spelled out, as they would be heard."""
    timed = getattr(msg, "words", ())
    if timed:
        return tuple(Word(w.lower(), s, e) for w, s, e in timed)
    text = spell_numbers(msg.text.lower())
    return tuple(Word(w, msg.pts, msg.pts) for w in _TOKEN.findall(text))


@dataclass
class Utterance:
    """One utterance: its words so far and whether the recogniser has finished it."""

    words: tuple[Word, ...]
    start: int
    end: int
    final: bool
    typed: bool = False
    raw: str = ""  #: the text as received (typed text keeps its punctuation)

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def verbatim(self) -> str:
        """The words as the user gave them: typed digits stay digits ("what is 12 times
        7"), which a back end reads better than the skills' number words."""
        if self.typed:
            return " ".join(_TOKEN.findall(self.raw.lower()))
        return self.text


@dataclass
class Transcript:
    history: list[Utterance] = field(default_factory=list)
    current: Utterance | None = None
    max_history: int = 64

    def update(self, msg: TextDelta) -> Utterance:
        """Take a hypothesis (heard) or a line (typed); returns the utterance it updates."""
        words = words_of(msg)
        start = getattr(msg, "start", 0) or (words[0].start if words else msg.pts)
        end = getattr(msg, "end", 0) or (words[-1].end if words else msg.pts)
        typed = not getattr(msg, "words", ())
        utt = Utterance(words, start, end, msg.final or typed, typed, msg.text)
        if utt.final:
            self.current = None
            self.history.append(utt)
            del self.history[:-self.max_history]
        else:
            self.current = utt
        return utt

    def recent(self, n: int = 8) -> list[tuple[str, str]]:
        """The last ``n`` final utterances as ("user", text) pairs, oldest first."""
        return [("user", u.text) for u in self.history[-n:] if u.words]
