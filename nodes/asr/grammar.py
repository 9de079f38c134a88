"""JSGF grammars of the scenario language, for the embedded recogniser.

Why a grammar: pocketsphinx with its open-vocabulary language model gets most words of
synthetic (espeak) speech wrong, and a flat loop over the vocabulary is nearly as bad. A
grammar that knows the *structure* (numbers only where amounts go, commands as whole
phrases) fixes most of it (see docs/ears.md for the measurements).

The language is a free sequence of items::

    <item> = <phrase> | <number> <context> | <word> | /0.1/ <plural> | <filler>
             [| /g/ <garbage>]
    <word> = <determiner> <singular>

``phrases`` are whole command sentences ("start the stopwatch"); a phrase may contain
``{number}`` where a number expression goes ("remind me in {number} seconds"), ``{count}``
for a number from two to ninety-nine and ``{plural}`` for any plural of ``words`` ("{count}
{plural}": "two dogs", what the count skill adds with ``numbers: true``).
``number_contexts`` are the words a number may come right before ("dollars"): elsewhere a
number word is not expected. ``words`` are the content words the skills listen for (animal
names): a singular one is heard only after a determiner ("a dog", "the owl": English has no
bare singular count noun), a plural one (ending in "s", or a known irregular plural) also
alone ("dogs and cats"), and one that is its own singular (``OWN_SINGULAR``: "sheep")
both ways. Without that, any misheard syllable in a story could become an animal
(measured: docs/ears.md, fourth round). A bare plural is still what a stray syllable most
easily becomes ("okay sheep how many", "the a wolves"), so it weighs a tenth of the other
items (``BARE_PLURAL_WEIGHT``; ninth round). ``fillers`` are the glue around them, words or
short phrases; "a" is not one of them: it comes with its noun, and alone in the glue it
was where stray schwas went and lost animals hid (twentieth round). All text is
lower-case words that the pronunciation dictionary knows; ``vocabulary_words`` lists them
for that check.

People also say words that no grammar has ("my sister went to the shop this morning").
Without a way to hear them as something else, the decoder hears the nearest words it has,
and an everyday sentence becomes "twenty seven dollar" or "the pig deer". With ``garbage``
(a JSGF weight) the loop has one more item: any single phone (``GARBAGE``, pseudo-words
the recogniser adds to its dictionary), so that a word the grammar lacks can be heard as a
run of phones instead, which the recogniser reports as one word, ``UNHEARD``. The weight is
what keeps it from eating the words the grammar has (docs/ears.md, thirteenth round).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .numbers import ONES, TEENS, TENS
from .pronunciations import PHONES

#: The scenario language of the built-in skills (used when a graph gives none).
DEFAULT_PHRASES = (
    "start the stopwatch", "stop the stopwatch", "stop", "start", "stopwatch",
    "remind me in {number} seconds", "remind me in {number} minutes",
    "set a timer for {number} seconds", "set a timer for {number} minutes",
    "how many animals so far", "how many animals", "what is the count",
    "convert to euros", "convert {number} dollars to euros",
    "how much is {number} dollars in euros", "no wait it was",
)
DEFAULT_NUMBER_CONTEXTS = ("dollars", "dollar")
DEFAULT_WORDS = (
    "cat", "cats", "dog", "dogs", "horse", "horses", "cow", "cows", "sheep", "pig", "pigs",
    "goat", "goats", "duck", "ducks", "rabbit", "rabbits", "mouse", "mice", "bird", "birds",
    "lion", "lions", "tiger", "tigers", "bear", "bears", "fox", "foxes", "wolf", "wolves",
    "deer", "frog", "frogs", "owl", "owls", "elephant", "elephants", "monkey", "monkeys",
    "zebra", "zebras", "giraffe", "giraffes", "snake", "snakes", "chicken", "chickens",
)
#: Glue between the content: mostly whole phrases, since every single word a grammar loop
#: allows is one more thing a misheard syllable can become (measured: a loop over ~100
#: single glue words doubled the word error rate of phrases made of them). "no" is not
#: glue on its own: "an owl" was heard as "a no" (docs/ears.md, ninth round); it stays in
#: "no wait it was", and a skill that listens for a bare "no" brings it as a phrase.
#: Nor is "a": it comes with its noun ("a dog", "a hundred"); alone it was where stray
#: schwas went ("okay a how many") and lost animals hid ("a also" for "a horse"). Without
#: it the stand-ins' answers were the same and their word error rate fell (docs/ears.md,
#: twentieth round). A lone "the" stays: without it one stand-in lost what the other
#: gained (eighth round).
DEFAULT_FILLERS = (
    "i paid", "it cost", "it costs", "the ticket was", "the bill was", "my coffee cost",
    "we spent", "and then", "for lunch", "for dinner", "for the ticket", "we saw",
    "then i saw", "there was", "there were", "near the farm", "in the park", "in the garden",
    "on the farm", "it was", "that was", "what is", "how much", "and", "the", "i", "we",
    "it", "then", "so", "okay", "also", "well", "yes", "wait", "please", "thanks",
)

#: The prior of a bare plural against each other item of the loop (JSGF weight): measured
#: on the stand-ins, 0.1 and 0.01 both mended "okay sheep how many" and broke nothing;
#: 0.5 changed nothing (docs/ears.md, ninth round).
BARE_PLURAL_WEIGHT = 0.1
#: The garbage loop's pseudo-words: one per phone of the English model ("_aa" is AA).
GARBAGE: dict[str, str] = {f"_{p.lower()}": p for p in sorted(PHONES)}
#: What the recogniser reports for a run of them: words it did not know.
UNHEARD = "…"
#: The garbage loop's weight in the ears' grammar unless told otherwise (docs/ears.md,
#: thirteenth round).
DEFAULT_GARBAGE = 0.0
#: Words a singular content word may follow.
DETERMINERS = ("a", "an", "the", "my", "another")
#: Plurals that do not end in "s" (and words that are their own plural).
IRREGULAR_PLURALS = frozenset({"mice", "sheep", "deer", "geese", "fish", "children", "people",
                               "oxen", "teeth", "feet", "men", "women"})
#: Words that are their own singular as well ("a sheep", "two sheep").
OWN_SINGULAR = frozenset({"sheep", "deer", "fish"})

_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*")
_REFS = re.compile(r"<[^>]*>|/[^/]*/")  # rule references and weights in a rule's body
_AMOUNT_RULE = re.compile(r"^<amount> = <number> \((.*)\);$", re.M)

#: The number grammar, 1..9999: the forms ``numbers.words_to_int`` reads except "twelve
#: hundred" (measured: allowing it turns misheard "four hundred" into "twelve hundred").
NUMBER_RULES = f"""\
<n1_9> = {" | ".join(ONES)};
<n10_19> = {" | ".join(TEENS)};
<n20_99> = ({" | ".join(TENS)}) [<n1_9>];
<n1_99> = <n1_9> | <n10_19> | <n20_99>;
<n100_999> = (a | <n1_9>) hundred [[and] <n1_99>];
<n1000_9999> = (a | <n1_9>) thousand [[and] (<n1_99> | <n1_9> hundred [[and] <n1_99>])];
<number> = <n1_99> | <n100_999> | <n1000_9999>;
"""


#: ``{count}`` in a phrase: two to ninety-nine, how many of something there were.
COUNT_RULES = f"""\
<n2_9> = {" | ".join(ONES[1:])};
<n2_99> = <n2_9> | <n10_19> | <n20_99>;
"""
_SLOTS = {"number": "<number>", "count": "<n2_99>", "plural": "<plural>"}
_SLOT = re.compile(r"\{(number|count|plural)\}")


def normalize(text: str) -> list[str]:
    """Lower-case word tokens of ``text`` (punctuation dropped, apostrophes kept)."""
    return _TOKEN.findall(text.lower())


def build_grammar(phrases: Iterable[str] = DEFAULT_PHRASES,
                  number_contexts: Iterable[str] = DEFAULT_NUMBER_CONTEXTS,
                  words: Iterable[str] = DEFAULT_WORDS,
                  fillers: Iterable[str] = DEFAULT_FILLERS, *,
                  garbage: float = 0.0, name: str = "scenario") -> str:
    """A JSGF grammar (text) accepting any sequence of the items described above;
    ``garbage``: the weight of the garbage loop's item (0: none).

    Duplicates are merged and order does not matter; an empty vocabulary is an error
    (``ValueError``), since a grammar must accept something.
    """
    if not garbage >= 0:
        raise ValueError(f"build_grammar: garbage must be a weight >= 0, got {garbage}")
    phrase_alts = sorted({_phrase(p) for p in phrases} - {""})
    contexts = sorted({w for c in number_contexts for w in normalize(c)})
    content = sorted({w for t in words for w in normalize(t)})
    glue = sorted({" ".join(normalize(t)) for t in fillers} - set(content) - {""})
    items: list[str] = []
    rules: list[str] = []
    uses_number = bool(contexts) or any("<number>" in p for p in phrase_alts)
    uses_count = any("<n2_99>" in p for p in phrase_alts)
    if phrase_alts:
        rules.append(f"<phrase> = {' | '.join(phrase_alts)};")
        items.append("<phrase>")
    if contexts:
        rules.append(f"<amount> = <number> ({' | '.join(contexts)});")
        items.append("<amount>")
    if content:
        singular = [w for w in content if not _plural(w) or w in OWN_SINGULAR]
        plural = [w for w in content if _plural(w)]
        if singular:
            rules.append(f"<word> = ({' | '.join(DETERMINERS)}) ({' | '.join(singular)});")
            items.append("<word>")
        if plural:
            rules.append(f"<plural> = {' | '.join(plural)};")
            items.append("<plural>")
    if glue:
        rules.append(f"<filler> = {' | '.join(glue)};")
        items.append("<filler>")
    if not items:
        raise ValueError("build_grammar: the vocabulary is empty (no phrases, words or fillers)")
    if garbage:
        rules.append(f"<garbage> = {' | '.join(GARBAGE)};")
        items.append("<garbage>")
    if any("<plural>" in p for p in phrase_alts) and "<plural>" not in items:
        raise ValueError("build_grammar: a phrase has {plural} but no word is a plural")
    body = "\n".join(rules)
    numbers = NUMBER_RULES if uses_number or uses_count else ""
    if uses_count:
        numbers += COUNT_RULES
    return (f"#JSGF V1.0;\ngrammar {name};\n"
            f"public <utterance> = <item>+;\n"
            f"<item> = {' | '.join(_weighted(item, garbage) for item in items)};\n"
            f"{body}\n{numbers}")


def _weighted(item: str, garbage: float) -> str:
    """An alternative of ``<item>`` with its JSGF weight (all or none must have one)."""
    weight = {"<plural>": BARE_PLURAL_WEIGHT, "<garbage>": garbage}.get(item, 1)
    return f"/{weight:g}/ {item}"


def _plural(word: str) -> bool:
    return (word.endswith("s") and not word.endswith("ss")) or word in IRREGULAR_PLURALS


def amount_units(jsgf: str) -> frozenset[str]:
    """The words an amount may end with (``number_contexts``) in a grammar that
    ``build_grammar`` made; empty for any other grammar."""
    m = _AMOUNT_RULE.search(jsgf)
    return frozenset(w.strip() for w in m.group(1).split("|")) if m else frozenset()


def jsgf_words(jsgf: str) -> set[str]:
    """The words a JSGF grammar's rules contain (rule names, weights and the garbage
    loop's pseudo-words left out)."""
    out: set[str] = set()
    for line in jsgf.splitlines():
        head, eq, body = line.partition("=")
        if eq and head.strip().startswith(("<", "public <")) and head.strip() != "<garbage>":
            out.update(_TOKEN.findall(_REFS.sub(" ", body)))
    return out


def content_words(jsgf: str) -> frozenset[str]:
    """The content words of a grammar that ``build_grammar`` made: its ``<word>`` and
    ``<plural>`` rules' words (the count skill's animals), determiners left out."""
    out: set[str] = set()
    for line in jsgf.splitlines():
        head, eq, body = line.partition("=")
        if eq and head.strip() in ("<word>", "<plural>"):
            out.update(_TOKEN.findall(_REFS.sub(" ", body)))
    return frozenset(out - set(DETERMINERS))


def has_garbage(jsgf: str) -> bool:
    """Does a grammar that ``build_grammar`` made have the garbage loop?"""
    return "\n<garbage> = " in jsgf


def vocabulary_words(phrases: Iterable[str] = (), number_contexts: Iterable[str] = (),
                     words: Iterable[str] = (), fillers: Iterable[str] = ()) -> set[str]:
    """Every word the grammar built from these would contain (numbers included when used),
    for checking against the pronunciation dictionary."""
    out: set[str] = set()
    for group in (number_contexts, words, fillers):
        for t in group:
            out.update(normalize(t))
    if any(not _plural(w) for t in words for w in normalize(t)):
        out.update(DETERMINERS)
    numbered = bool(out & {w for c in number_contexts for w in normalize(c)})
    for p in phrases:
        numbered |= "{number}" in p or "{count}" in p
        out.update(normalize(_SLOT.sub(" ", p)))
    if numbered:
        out.update(ONES + TEENS + TENS + ("a", "and", "hundred", "thousand"))
    return out


def _phrase(text: str) -> str:
    pieces = _SLOT.split(text)  # text, slot name, text, ...
    out = [_SLOTS[piece] if k % 2 else " ".join(normalize(piece))
           for k, piece in enumerate(pieces)]
    return " ".join(p for p in out if p)
