"""The built-in skills: currency, count, stopwatch, timer, and delegation of the rest."""

from __future__ import annotations

from collections import Counter

import msgspec

from ..asr.numbers import find_numbers, int_to_words
from .skill import Mentions, Reply, Skill, find_phrase
from .transcript import Transcript, Utterance, Word

S = 1_000_000_000


def say_amount(value: float, unit: str) -> str:
    """``18.4, "euros"`` -> ``"18 euros 40"``: how people say money."""
    cents = round(value * 100)
    whole, frac = divmod(cents, 100)
    if whole == 1:
        unit = unit.removesuffix("s")
    return f"{whole} {unit} {frac:02d}" if frac else f"{whole} {unit}"


class CurrencyParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: units of ``target`` per one unit of each source currency word
    rates: dict[str, float] = msgspec.field(default_factory=lambda: {"dollars": 0.92})
    target: str = "euros"


class Currency(Skill):
    """"... twenty dollars ..." -> "20 dollars is 18 euros 40", said at once, while the
    user keeps talking. A later hypothesis that changes the amount of the same mention
    (or "no wait it was ...") gets a correction, which cuts the wrong answer short if it
    is still being said."""

    name = "currency"
    Params = CurrencyParams
    phrases = ("no wait it was",)

    def __init__(self, params: CurrencyParams | None = None) -> None:
        super().__init__(params or CurrencyParams())
        self.rates = {}
        for word, rate in self.params.rates.items():
            self.rates[word] = rate
            self.rates[word.rstrip("s")] = rate  # "one dollar"
        self.number_contexts = tuple(self.rates)  # type: ignore[misc]
        self.said = Mentions()
        self._last: int | None = None  # the mention of the last amount answered

    def examples(self) -> tuple[str, ...]:
        """What a first-time user could say to it (shown by the browser, typed as is)."""
        source = next(iter(self.params.rates), "dollars")
        return (f"convert twenty {source} to {self.params.target}",)

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        words = utt.words
        texts = [w.text for w in words]
        replies: list[Reply] = []
        claimed = False
        for span in find_numbers(texts):
            if span.end >= len(words) or texts[span.end] not in self.rates:
                continue
            claimed = True
            unit = words[span.end]
            # A mention is keyed by where its number starts: a hypothesis that grows
            # ("two thousand dollars" -> "two thousand four hundred and fifty dollars")
            # is the same mention, corrected, not a second one.
            key = words[span.start].start
            before = self.said.get(key)  # (amount, the mention's first key) if answered
            if (before is not None and before[0] == span.value) \
                    or not self.confirm(key, span.value, utt.final):
                continue
            # corrected: a later hypothesis heard this mention's amount otherwise, or the
            # user said "no wait it was ..." (then the correction is of the last amount)
            redo = before is not None
            told = find_phrase(words[max(0, span.start - 4):span.start], "no wait it was")
            mention = before[1] if before is not None else key  # keys drift a little
            about = mention if redo or told is None else self._last
            self.said.add(key, (span.value, mention))
            self._last = mention
            euros = span.value * self.rates[unit.text]
            base = unit.text.rstrip("s")
            plural = base if span.value == 1 else base + "s"
            text = f"{span.value} {plural} is {say_amount(euros, self.params.target)}."
            correction = redo or told is not None
            replies.append(Reply(("Sorry, " if correction else "") + text, unit.end, self.name,
                                 data={"amount": span.value, "converted": round(euros, 2)},
                                 about=about, corrects=correction))
        return replies if claimed else None


class CountParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    category: str = "animals"
    words: list[str] = msgspec.field(default_factory=lambda: [
        "cat", "dog", "horse", "cow", "sheep", "pig", "goat", "duck", "rabbit", "mouse",
        "bird", "lion", "tiger", "bear", "fox", "wolf", "deer", "frog", "owl", "elephant",
        "monkey", "zebra", "giraffe", "snake", "chicken"])
    #: let the ears hear a number before the words ("two dogs": the phrase "{count}
    #: {plural}" in their grammar). Off by default: the ears then spend about 15 % more
    #: CPU, and the same in the default grammar took the assistant from 5 sessions at
    #: cadence to 0-2 on the 2-core machine (docs/ears.md, tenth round). Typed text is
    #: counted with its numbers either way.
    numbers: bool = False
    #: let the ears hear "how many dogs (so far)", a question about one kind. Off by
    #: default: with it, the stand-in accents' "how many animals" was often heard as "how
    #: many goats", and 21 of 192 stories lost their answer (docs/ears.md, thirteenth
    #: round). Typed questions about one kind are answered either way.
    by_kind: bool = False


_IRREGULAR = {"mouse": "mice", "wolf": "wolves", "fox": "foxes", "sheep": "sheep",
              "deer": "deer"}


class Count(Skill):
    """Keeps a live count of the category's words mentioned and says it when asked: "how
    many animals so far" (all of them) or "how many dogs" (one kind). A mention counts one
    ("a dog", "dogs") or the number said before it ("two dogs", "twenty sheep"; the ears
    hear those with ``numbers: true``); "the dog" after a dog was mentioned is that dog
    again and counts nothing ("we saw a dog, then the dog ran off" is one animal)."""

    name = "count"
    Params = CountParams

    def __init__(self, params: CountParams | None = None) -> None:
        super().__init__(params or CountParams())
        cat = self.params.category
        self.questions = (f"how many {cat} so far", f"how many {cat}", "what is the count")
        #: every form of a word -> the word ("dogs" -> "dog"), and word -> its plural
        self.plurals = {w: _IRREGULAR.get(w, w + "s") for w in self.params.words}
        self.forms = {f: w for w, pl in self.plurals.items() for f in (w, pl)}
        #: what the ears' grammar hears besides the questions: with ``by_kind`` "how many
        #: dogs (so far)", with ``numbers`` "two dogs", "twelve sheep"
        self.phrases = self.questions + (  # type: ignore[misc]
            ("how many {plural} so far", "how many {plural}") if self.params.by_kind
            else ()) + (("{count} {plural}",) if self.params.numbers else ())
        self.words = tuple(sorted(self.forms))  # type: ignore[misc]
        self.counted = Mentions(tolerance=150_000_000)
        self.answered = Mentions()
        self.tally: Counter[str] = Counter()  # word -> how many, from final hypotheses
        self.known: set[str] = set()  # the words mentioned so far, for "the dog"

    def examples(self) -> tuple[str, ...]:
        # One phrase that gets an answer: a mention alone is counted in silence, and a
        # user who clicks it would take that for a fault.
        question = f"how many {self.params.category} so far"
        words = [self.plurals[w] for w in self.params.words[:2]]
        if len(words) < 2:
            return (question,)
        return (f"I saw two {words[0]} and three {words[1]}, {question}",)

    @property
    def count(self) -> int:
        return sum(self.tally.values())

    def _count(self, utt: Utterance) -> Counter[str]:
        """The tally with an utterance's new mentions: kept if it is final, only
        previewed if it is partial."""
        texts = [w.text for w in utt.words]
        how_many = {span.end: span.value for span in find_numbers(texts)}
        known = set(self.known)
        tally = Counter(self.tally)
        new = []
        for i, w in enumerate(utt.words):
            word = self.forms.get(w.text)
            if word is None:
                continue
            again = i > 0 and texts[i - 1] == "the" and word in known
            known.add(word)
            if self.counted.find(w.start) is None:
                new.append(w)
                tally[word] += 0 if again else how_many.get(i, 1)
        if utt.final:
            for w in new:
                self.counted.add(w.start)
            self.tally, self.known = tally, known
        return tally

    def _question(self, words: tuple[Word, ...]) -> tuple[int, str | None] | None:
        """Where a question starts, and the kind it asks about (None: all of them)."""
        for phrase in self.questions:
            at = find_phrase(words, phrase)
            if at is not None:
                return at, None
        at = find_phrase(words, "how many")
        if at is None or at + 2 >= len(words) or words[at + 2].text not in self.forms:
            return None
        return at, self.forms[words[at + 2].text]

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        asked = self._question(utt.words)
        if asked is None:
            self._count(utt)
            return None
        at, kind = asked
        tally = self._count(Utterance(utt.words[:at], utt.start, utt.end, utt.final))
        q = utt.words[at]
        if self.answered.find(q.start) is not None or not self.confirm(q.start, "q", utt.final):
            return []
        self.answered.add(q.start)
        if kind is None:
            n = sum(tally.values())
            noun = self.params.category if n != 1 else self.params.category.rstrip("s")
        else:
            n = tally[kind]
            noun = kind if n == 1 else self.plurals[kind]
        data = {"count": n} if kind is None else {"count": n, "word": kind}
        last = utt.words[min(len(utt.words) - 1, at + 2)]
        return [Reply(f"{n} {noun} so far.", last.end, self.name, data=data)]


def settled(utt: Utterance, i: int) -> bool:
    """Is word ``i``'s end time settled? In a partial hypothesis the last word still ends
    wherever decoding has got to (up to a micro-turn after the word really ended); once
    another word follows it, or the utterance is final, its end is the decoder's
    alignment."""
    return utt.final or i < len(utt.words) - 1


class Stopwatch(Skill):
    """"start the stopwatch" ... "stop" -> the elapsed media time, from the end of
    "stopwatch" to the start of "stop"."""

    name = "stopwatch"
    #: every phrase it may listen for; ``vocabulary`` says which ones now
    phrases = ("start the stopwatch", "stop the stopwatch", "stop", "start", "stopwatch")
    IDLE = ("start the stopwatch",)
    RUNNING = ("stop the stopwatch", "stop")

    def __init__(self, params: msgspec.Struct | None = None) -> None:
        super().__init__(params)
        self.started: int | None = None
        self.seen = Mentions()

    def examples(self) -> tuple[str, ...]:
        return ("start the stopwatch", "stop")

    def vocabulary(self) -> dict[str, tuple[str, ...]]:
        """Only what makes sense now: "start the stopwatch" while none runs, "stop" while
        one does. For this recogniser "start" and "stop" are a near pair (it heard "stop
        the stopwatch" for half the starts when both were in its grammar); the dialog state
        tells them apart, as a voice menu's active grammar does."""
        return {"phrases": self.IDLE if self.started is None else self.RUNNING,
                "number_contexts": (), "words": ()}

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        i = find_phrase(utt.words, "start the stopwatch")
        if i is not None:
            end = utt.words[i + 2]
            if self.seen.find(end.start) is not None:
                if self.started is not None and settled(utt, i + 2):
                    self.started = end.end  # a partial's last word ends where decoding is
                return []
            if self.confirm(end.start, "start", utt.final):
                self.seen.add(end.start)
                self.started = end.end
                return [Reply("Stopwatch started.", end.end, self.name)]
            return []
        j = find_phrase(utt.words, "stop")
        if j is None:
            return None
        stop = utt.words[j]
        if self.started is None or self.seen.find(stop.start) is not None:
            return []
        if not self.confirm(stop.start, "stop", utt.final):
            return []
        self.seen.add(stop.start)
        elapsed = max(0, stop.start - self.started)
        self.started = None
        return [Reply(f"{elapsed / S:.1f} seconds.", stop.end, self.name,
                      data={"elapsed": elapsed})]


class Timer(Skill):
    """"remind me in ten seconds" -> "Ten seconds are up." ten seconds after the end of
    the request, however the conversation goes meanwhile. A later hypothesis that hears
    another duration in the same request ("four minutes", then "eight seconds") resets
    the timer and says so ("Sorry, timer set for eight seconds.")."""

    name = "timer"
    phrases = ("remind me in {number} seconds", "remind me in {number} minutes",
               "set a timer for {number} seconds", "set a timer for {number} minutes")

    def __init__(self, params: msgspec.Struct | None = None) -> None:
        super().__init__(params)
        self.pending: list[tuple[int, int, str, int]] = []  # (due, set at, what, mention)
        self.seen = Mentions()

    def examples(self) -> tuple[str, ...]:
        return ("remind me in ten seconds",)

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        texts = [w.text for w in utt.words]
        for lead in ("remind me in", "set a timer for"):
            i = find_phrase(utt.words, lead)
            if i is None:
                continue
            spans = [s for s in find_numbers(texts) if s.start == i + len(lead.split())]
            if not spans or spans[0].end >= len(texts):
                return []  # the number is still being said
            span = spans[0]
            unit = texts[span.end]
            scale = {"seconds": S, "second": S, "minutes": 60 * S, "minute": 60 * S}.get(unit)
            if scale is None:
                return []
            unit_word = utt.words[span.end]
            heard = (span.value, unit)
            before = self.seen.get(unit_word.start)  # (heard, the request's first key)
            if before is not None and before[0] == heard:
                if settled(utt, span.end):  # a truer end of the request: re-plan the timer
                    self._plan(unit_word.start, unit_word.end + span.value * scale)
                return []
            if not self.confirm(unit_word.start, heard, utt.final):
                return []
            mention = before[1] if before is not None else unit_word.start
            self.seen.add(unit_word.start, (heard, mention))
            what = f"{int_to_words(span.value)} {unit if span.value != 1 else unit.rstrip('s')}"
            due = unit_word.end + span.value * scale
            correction = before is not None  # the same request, heard otherwise
            if not (correction and self._plan(unit_word.start, due, what)):
                self.pending.append((due, unit_word.end, what, unit_word.start))
            text = f"Sorry, timer set for {what}." if correction else f"Timer set for {what}."
            return [Reply(text, unit_word.end, self.name, data={"due": due}, about=mention,
                          corrects=correction)]
        return None

    def _plan(self, mention: int, due: int, what: str | None = None) -> bool:
        """Move the pending timer of the request at ``mention`` to ``due`` (and rename
        it); False if there is none (it already fired)."""
        near, found = self.seen.tolerance, False
        planned = []
        for d, at, w, k in self.pending:
            if abs(k - mention) <= near:
                d, w, found = due, what or w, True
            planned.append((d, at, w, k))
        self.pending = planned
        return found

    def next_due(self) -> int | None:
        return min((p[0] for p in self.pending), default=None)

    def tick(self, now: int) -> list[Reply]:
        fired = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        return [Reply(f"{what[0].upper()}{what[1:]} {'are' if what.endswith('s') else 'is'} up.",
                      due, self.name, data={"due": due, "set": at})
                for due, at, what, _ in fired]


_QUESTION = ("what", "who", "how", "why", "when", "where", "which", "can", "could", "would",
             "is", "are", "do", "does", "tell")


class DelegateParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    acknowledgement: str = "Let me check."


class Delegate(Skill):
    """Everything else that sounds like a question goes to the back end with the
    conversation so far; the acknowledgement is said at once."""

    name = "delegate"
    Params = DelegateParams
    phrases = ("what is {number} times {number}", "what is {number} plus {number}",
               "what is {number} minus {number}", "what is {number} divided by {number}")

    def __init__(self, params: DelegateParams | None = None) -> None:
        super().__init__(params or DelegateParams())

    def examples(self) -> tuple[str, ...]:
        return ("what is 12 times 7",)

    def hear(self, utt: Utterance, transcript: Transcript) -> list[Reply] | None:
        if not utt.final or not utt.words:
            return None
        asks = utt.words[0].text in _QUESTION or utt.raw.rstrip().endswith("?")
        if not asks:
            return None
        return [Reply(self.params.acknowledgement, utt.words[-1].end, self.name,
                      kind="delegate", query=utt.verbatim)]


BUILTIN: dict[str, type[Skill]] = {
    "currency": Currency, "count": Count, "stopwatch": Stopwatch, "timer": Timer,
    "delegate": Delegate}
