"""The ears' parameters (``EarsParams``, the YAML ``with:`` of ``asr.pocketsphinx``) and
the vocabulary their grammar is built from, as a front end changes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from flow.params import Duration

from .grammar import DEFAULT_GARBAGE, build_grammar, vocabulary_words
from .pronunciations import DEFAULT_ACCENTS

if TYPE_CHECKING:
    from . import SetVocabulary


class EarsParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    grammar: Literal["scenario", "open"] = "scenario"
    words: tuple[str, ...] = ()  #: extra content words, added to the built-in ones
    keywords: tuple[str, ...] = ()  #: wake words / key phrases, recognised whole
    phrases: tuple[str, ...] | None = None  #: None: the built-in skills' phrases
    number_contexts: tuple[str, ...] | None = None  #: None: dollars
    fillers: tuple[str, ...] | None = None  #: None: the built-in glue words
    pause: Duration = "240ms"  #: non-speech that ends an utterance (a final)
    max_utterance: Duration = "20s"  #: an utterance longer than this is cut into finals
    sample_rate: int = 16000  #: the rate the input must have (the model's)
    beam: float = 1e-60  #: search beam; 1e-48 (pocketsphinx's): half the CPU, more errors
    #: a partial tells an amount ("<number> dollars") once two looks at the path agree
    confirm_units: bool = True
    #: decode in a worker process (off this interpreter's GIL); false: in a thread
    worker_process: bool = True
    #: ``default``: the English model the wheel ships (for microphones); ``espeak``: that
    #: model adapted to espeak-ng speech (built once per machine, nodes.asr.espeak_model);
    #: a model directory made by ``microturn adapt-ears``; ``phonenet``: a CTC phone
    #: network trained on espeak-ng speech that the wheel ships, decoded against the
    #: grammar instead of by pocketsphinx (nodes.asr.ctc_engine); or the path of a phone
    #: network's ``.npz`` (bench/phonenet_train.py) (docs/ears.md)
    acoustic_model: str = "default"
    #: adapt the acoustic model to the session's speaker on what the ears heard, in a
    #: process of its own, and swap it in between utterances (docs/ears.md)
    speaker_adaptation: bool = False
    adapt_every: Duration = "30s"  #: speech heard between two adaptations to the speaker
    #: words added to the pronunciation dictionary: a word -> its phones (ARPABET, as
    #: ``M AY K R OW T ER N``) or a list of them; for words it lacks (a product's name as a
    #: wake word) or says otherwise. A word it has keeps its own pronunciations as well.
    pronunciations: dict[str, str | tuple[str, ...]] = msgspec.field(default_factory=dict)
    #: accents whose variants of the grammar's words the ears also hear
    #: (``nodes.asr.pronunciations.ACCENTS``); [] for the dictionary's alone
    accents: tuple[str, ...] = DEFAULT_ACCENTS
    #: the weight of the grammar's garbage loop (single phones, against 1 for a phrase, an
    #: amount, a word or a filler): words the grammar lacks are heard as "…" instead of
    #: as the nearest words it has; 0: no loop (nodes.asr.grammar, docs/ears.md)
    garbage: float = DEFAULT_GARBAGE
    #: a second opinion on the amounts and the content words (the count skill's animals)
    #: of each hypothesis:
    #: ``espeak``, a word classifier trained on espeak-ng speech (built once per machine,
    #: nodes.asr.wordcheck_build); ``off``; ``auto``: ``espeak`` with ``acoustic_model:
    #: espeak``, else off; or the path of a classifier's ``.npz`` (docs/ears.md)
    word_check: str = "auto"


class Vocabulary(msgspec.Struct, frozen=True):
    phrases: tuple[str, ...]
    number_contexts: tuple[str, ...]
    words: tuple[str, ...]
    keywords: tuple[str, ...]
    fillers: tuple[str, ...]
    garbage: float = 0.0

    def jsgf(self) -> str:
        return build_grammar(self.phrases + self.keywords, self.number_contexts, self.words,
                             self.fillers, garbage=self.garbage)

    def updated(self, msg: SetVocabulary, own_words: tuple[str, ...] = ()) -> Vocabulary:
        """This vocabulary with the fields ``msg`` sets replaced. ``own_words`` (the node's
        ``words:`` from YAML) stay in whatever words a front end sends."""
        return Vocabulary(
            self.phrases if msg.phrases is None else msg.phrases,
            self.number_contexts if msg.number_contexts is None else msg.number_contexts,
            self.words if msg.words is None else tuple(msg.words) + own_words,
            self.keywords if msg.keywords is None else msg.keywords,
            self.fillers if msg.fillers is None else msg.fillers, self.garbage)

    def all_words(self) -> set[str]:
        return vocabulary_words(self.phrases + self.keywords, self.number_contexts,
                                self.words, self.fillers)


def without(v: Vocabulary, bad: set[str]) -> Vocabulary:
    def keep(items: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t for t in items if not (set(t.lower().split()) & bad))
    return Vocabulary(keep(v.phrases), keep(v.number_contexts), keep(v.words),
                      keep(v.keywords), keep(v.fillers), v.garbage)
